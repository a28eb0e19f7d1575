"""The teleop bridge as its own process for the teleop attack benches (not a bench itself).

`restock up --only teleop_bridge` on a DDS domain of its own, TLS on with the self-signed
development certificate, an operators file with real scrypt hashes; yields where it listens.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class BridgeProcess:
    graph: object  # restock.testing.graph.RosGraph
    base: str  # https://127.0.0.1:PORT
    cafile: Path  # the bridge's self-signed certificate
    tmp: Path

    def pid(self) -> int:
        return self.graph.pids()["teleop_bridge"]  # type: ignore[attr-defined]


@contextmanager
def bridge_process(passwords: dict[str, str], **params: object) -> Iterator[BridgeProcess]:
    from restock.rosenv import claim_domain_id, ros_environment

    domain, _lock = claim_domain_id()
    os.environ.update(ros_environment(domain))
    os.environ["PYTHONPATH"] = str(ROOT)  # the nodes run this checkout
    from restock.teleop.auth import hash_password
    from restock.testing.graph import RosGraph

    tmp = Path(tempfile.mkdtemp(prefix="teleop-bench-"))
    ops = tmp / "operators.yaml"
    ops.write_text(
        "operators:\n" + "".join(f"  {n}:\n    password_scrypt: '{hash_password(p)}'\n" for n, p in passwords.items())
    )
    bridge = {"port": 0, "operators_file": str(ops), "state_dir": str(tmp / "teleop"), **params}
    graph = RosGraph(tmp / "graph", only=["teleop_bridge"], params={"teleop_bridge": bridge}, profile="robot")
    graph.start()
    try:
        deadline, m = time.monotonic() + 90, None
        while m is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the bridge did not report its URL:\n{graph.output()}")
            m = re.search(r"operator app at (https?://[0-9.]+:\d+)/", graph.log("teleop_bridge"))
            time.sleep(0.2)
        yield BridgeProcess(graph, m.group(1), tmp / "teleop" / "tls" / "teleop-selfsigned.crt", tmp)
    finally:
        graph.stop()
