"""The teleop bridge as its own process for the teleop benches (not a bench itself).

`restock up --only teleop_bridge` (and any nodes asked for beside it) on a DDS domain of its own,
TLS on with the self-signed development certificate, an operators file with real scrypt hashes;
yields where it listens. Also the operator's side the benches share: log in, take control, and
the poses they stream.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import aiohttp

    from restock.testing.graph import RosGraph

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class BridgeProcess:
    graph: RosGraph
    base: str  # https://127.0.0.1:PORT
    cafile: Path  # the bridge's self-signed certificate
    tmp: Path

    def pid(self) -> int:
        return self.graph.pids()["teleop_bridge"]


@contextmanager
def bridge_process(
    passwords: dict[str, str],
    also: tuple[str, ...] = (),
    store: str = "corner_store.yaml",
    profile: str = "robot",
    **params: object,
) -> Iterator[BridgeProcess]:
    """The bridge with ``params``; ``also``: more nodes of the ``profile`` graph to run beside it."""
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
    graph = RosGraph(
        tmp / "graph", only=["teleop_bridge", *also], store=store, params={"teleop_bridge": bridge}, profile=profile
    )
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


def percentiles(ms: list[float]) -> str:
    if not ms:
        return "n=0"
    a = np.array(ms)
    p = {q: np.percentile(a, q) for q in (50, 90, 99)}
    return f"n={len(a)} p50={p[50]:.2f} p90={p[90]:.2f} p99={p[99]:.2f} max={a.max():.2f} ms"


async def take_control(
    http: aiohttp.ClientSession, base: str, name: str, password: str
) -> aiohttp.ClientWebSocketResponse:
    """Log in as ``name``, open the WebSocket and claim the robot; the open socket (aiohttp)."""
    async with http.post(f"{base}/api/login", json={"operator": name, "password": password}) as r:
        token = (await r.json())["token"]
    async with http.post(f"{base}/api/ticket", headers={"Authorization": f"Bearer {token}"}) as r:
        ticket = (await r.json())["ticket"]
    ws = await http.ws_connect(f"{base.replace('https', 'wss')}/ws?ticket={ticket}")
    await ws.send_json({"type": "claim"})
    return ws


def circle_pose(i: int, rate: float) -> dict:
    """The i-th pose of a slow 5 cm circle (one turn in 4 s at ``rate`` poses/s), grip held: every
    target is a new one and stays inside the workspace."""
    a = 2 * math.pi * i / (rate * 4)
    return {
        "type": "pose",
        "position": [0.05 * math.cos(a), 1.2 + 0.05 * math.sin(a), -0.3],
        "orientation": [0, 0, 0, 1],
        "grip": True,
    }
