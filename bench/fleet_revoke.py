"""How long a revoked robot stays connected to the fleet service, and how long a claim takes.

    .venv/bin/python bench/fleet_revoke.py [--robots 20] [--claims 200]

A throwaway PostgreSQL cluster (restock.fleet.pgcluster), two fleet service instances (HTTPS/WSS on
127.0.0.1) on it. Revocation: --robots robots connect to instance a; each is revoked in turn through
a third connection (an admin's); the time from the revoking transaction's commit to the robot seeing
the close frame is taken on one clock. The issue's bar is 1 s. Claims: an operator on instance b
claims and resolves --claims handoffs raised by a robot on instance a over HTTPS; each claim's round
trip is timed.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import ssl
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from restock import records  # noqa: E402
from restock.fleet.accounts import Accounts  # noqa: E402
from restock.fleet.db import Pool, create_schema  # noqa: E402
from restock.fleet.link import RobotLink  # noqa: E402
from restock.fleet.pgcluster import PgCluster  # noqa: E402
from restock.fleet.service import FleetConfig, FleetService  # noqa: E402
from restock.teleop.tls import self_signed, server_context  # noqa: E402


def pct(values: list[float]) -> str:
    a = np.array(values) * 1000
    return f"median {np.median(a):.1f} ms, p95 {np.percentile(a, 95):.1f} ms, max {a.max():.1f} ms (n={len(a)})"


async def setup(conninfo: str, robots: int) -> dict[str, str]:
    await create_schema(conninfo)
    pool = Pool(conninfo, 2)
    acc = Accounts(pool, "bench")
    await acc.add_tenant("chain_a")
    await acc.add_store("sa1", "chain_a")
    creds = {f"r{i}": await acc.add_robot(f"r{i}", "sa1") for i in range(robots + 1)}
    await acc.add_operator("alice", "chain_a", "bench-password")
    await pool.close()
    return creds


async def revocations(conninfo: str, url: str, ctx: ssl.SSLContext, creds: dict[str, str], robots: int) -> list[float]:
    pool = Pool(conninfo, 1)
    acc = Accounts(pool, "admin")
    times = []
    for i in range(robots):
        link = RobotLink(url, creds[f"r{i}"], ctx, retry_s=60.0)
        task = asyncio.create_task(link.run())
        await link.connected.wait()
        t0 = time.perf_counter()
        await acc.revoke_robot(f"r{i}")  # returns once committed
        while link.last_close is None:
            await asyncio.sleep(0.001)
        times.append(time.perf_counter() - t0)
        assert link.last_close[0] == 4403, link.last_close
        await link.stop()
        task.cancel()
    await pool.close()
    return times


async def claims(hosts: list[str], ctx: ssl.SSLContext, cred: str, n: int) -> list[float]:
    link = RobotLink(f"wss://{hosts[0]}/robot/ws", cred, ctx)
    task = asyncio.create_task(link.run())
    for i in range(n):
        link.send_handoff(records.HandoffRequest(request_id=f"h{i}", source="bench", kind="other", stamp=time.time()))
    while link.connects == 0 or link.outbox:
        await asyncio.sleep(0.01)
    times = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as http:
        base = f"https://{hosts[1]}"
        r = await http.post(f"{base}/api/login", json={"operator": "alice", "password": "bench-password"})
        auth = {"Authorization": f"Bearer {(await r.json())['token']}"}
        for _ in range(n):
            t0 = time.perf_counter()
            r = await http.post(f"{base}/api/claim", json={}, headers=auth)
            body = await r.json()
            times.append(time.perf_counter() - t0)
            await http.post(f"{base}/api/resolve", json={"id": body["id"], "action": "cleared"}, headers=auth)
    while len(link.resolved) < n:
        await asyncio.sleep(0.01)
    await link.stop()
    task.cancel()
    return times


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--robots", type=int, default=20)
    ap.add_argument("--claims", type=int, default=200)
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a timeout's SIGTERM still stops the cluster
    print(f"command: .venv/bin/python bench/fleet_revoke.py --robots {args.robots} --claims {args.claims}")
    with PgCluster() as pg, tempfile.TemporaryDirectory() as tls:
        creds = asyncio.run(setup(pg.conninfo, args.robots))
        cert, key = self_signed(Path(tls))
        services = [FleetService(FleetConfig(port=0, ssl_context=server_context(cert, key), instance=n, recheck_s=3600.0),
                                 pg.conninfo) for n in ("a", "b")]  # fmt: skip
        hosts = [f"127.0.0.1:{s.start()}" for s in services]
        ctx = ssl.create_default_context(cafile=str(cert))
        try:
            revoke = asyncio.run(revocations(pg.conninfo, f"wss://{hosts[0]}/robot/ws", ctx, creds, args.robots))
            claim = asyncio.run(claims(hosts, ctx, creds[f"r{args.robots}"], args.claims))
        finally:
            for s in services:
                s.stop()
    print(f"revoked robot -> link closed (NOTIFY, recheck off): {pct(revoke)}; over 1 s: {sum(t > 1 for t in revoke)}")
    print(f"claim over HTTPS on instance b (handoffs from instance a): {pct(claim)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
