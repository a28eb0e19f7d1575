"""What the fleet benches share: a throwaway PostgreSQL cluster with one chain's stores, robots and
operators, and `restock fleet serve` processes (HTTPS/WSS on 127.0.0.1) on it. Not a bench itself."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from restock.fleet.accounts import Accounts  # noqa: E402
from restock.fleet.db import Pool, create_schema  # noqa: E402
from restock.fleet.pgcluster import PgCluster, _free_port  # noqa: E402
from restock.teleop.tls import self_signed  # noqa: E402

PASSWORD = "bench-password"


@dataclass
class Fleet:
    ports: list[int]
    ssl: ssl.SSLContext
    credentials: dict[str, str]  # robot -> robot:secret
    conninfo: str
    cafile: Path | None = None  # the instances' self-signed certificate (a robot's graph checks it)


async def _populate(conninfo: str, robots: list[str], operators: list[str]) -> dict[str, str]:
    await create_schema(conninfo)
    pool = Pool(conninfo, 1)
    acc = Accounts(pool, "bench")
    await acc.add_tenant("chain_a")
    creds = {}
    for robot in robots:
        await acc.add_store(f"store_{robot}", "chain_a")
        creds[robot] = await acc.add_robot(robot, f"store_{robot}")
    for name in operators:
        await acc.add_operator(name, "chain_a", PASSWORD)
    await pool.close()
    return creds


def _wait_port(port: int, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def _serve(conninfo: str, port: int, name: str, cert: Path, key: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "restock.cli", "fleet", "serve", "--db", conninfo, "--port", str(port),
         "--instance", name, "--tls-cert", str(cert), "--tls-key", str(key)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip


@contextlib.contextmanager
def fleet_processes(robots: list[str], operators: list[str], instances: int = 2) -> Iterator[Fleet]:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a timeout's SIGTERM still stops it all
    with PgCluster() as pg, tempfile.TemporaryDirectory() as tmp:
        creds = asyncio.run(_populate(pg.conninfo, robots, operators))
        cert, key = self_signed(Path(tmp))  # made once: two processes making it at once would race
        ports = [_free_port() for _ in range(instances)]
        procs = [_serve(pg.conninfo, port, f"i{i}", cert, key) for i, port in enumerate(ports)]
        try:
            for port in ports:
                _wait_port(port)
            yield Fleet(ports, ssl.create_default_context(cafile=str(cert)), creds, pg.conninfo, Path(cert))
        finally:
            for proc in procs:
                proc.terminate()
                proc.wait(30)
