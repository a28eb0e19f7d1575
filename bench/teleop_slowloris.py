"""Slow connections against the teleop bridge on loopback: every one closed within the read timeout,
and the bridge's memory back where it was.

    .venv/bin/python bench/teleop_slowloris.py [--connections 1000] [--silent 100] [--addresses 40]

The bridge runs as its own process (`restock up --only teleop_bridge`, TLS on, its defaults:
read_timeout_s 10, max_connections 256, 32 per address). This process opens --connections TLS
connections from --addresses loopback source addresses (127.0.0.x all reach lo on Linux), each
sending half a request line and then nothing, and --silent TCP connections that never start the
TLS handshake; it times each from its last byte until the bridge closes it. The bridge's RSS: after
a warm-up (a login, a state request, 50 connections opened and closed), its peak during the flood,
and the read timeout + 3 s after the last connection closed.
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import sys
import time
from pathlib import Path

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from teleop_bridge_process import bridge_process

PASSWORD = "alice-owner-password"
HALF_REQUEST = b"GET /api/state HT"


async def slow_connection(port: int, ctx: ssl.SSLContext | None, address: str, gate: asyncio.Semaphore) -> tuple:
    """(admitted: the bridge read our bytes rather than closing at once, seconds until closed)."""
    async with gate:  # at most so many handshakes under way at once (the listen backlog is 128)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx, local_addr=(address, 0))
        except (OSError, ssl.SSLError):
            return ("refused", 0.0)
    start = time.monotonic()
    try:
        if ctx is not None:
            writer.write(HALF_REQUEST)
            await writer.drain()
        await asyncio.wait_for(reader.read(), 120)
    except (OSError, ssl.SSLError):
        pass  # reset: closed all the same
    except asyncio.TimeoutError:
        return ("open", 120.0)
    finally:
        writer.close()
    return ("closed", time.monotonic() - start)


async def sample_rss(proc: psutil.Process, peak: list[int], stop: asyncio.Event) -> None:
    while not stop.is_set():
        peak[0] = max(peak[0], proc.memory_info().rss)
        await asyncio.sleep(0.25)


async def warm_up(base: str, ctx: ssl.SSLContext, port: int) -> None:
    import aiohttp

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as http:
        async with http.post(f"{base}/api/login", json={"operator": "alice", "password": PASSWORD}) as r:
            token = (await r.json())["token"]
        async with http.get(f"{base}/api/state", headers={"Authorization": f"Bearer {token}"}) as r:
            await r.read()
    for _ in range(50):
        _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx)
        writer.close()
        await writer.wait_closed()


async def flood(args: argparse.Namespace, base: str, ctx: ssl.SSLContext, pid: int) -> None:
    port = int(base.rsplit(":", 1)[1])
    proc = psutil.Process(pid)
    await warm_up(base, ctx, port)
    await asyncio.sleep(3.0)
    before = proc.memory_info().rss
    peak, stop = [before], asyncio.Event()
    sampler = asyncio.create_task(sample_rss(proc, peak, stop))
    gate = asyncio.Semaphore(100)
    addresses = [f"127.0.0.{100 + i % args.addresses}" for i in range(args.connections)]
    started = time.monotonic()
    tls = [slow_connection(port, ctx, a, gate) for a in addresses]
    silent = [slow_connection(port, None, f"127.0.0.{99 - i % 10}", gate) for i in range(args.silent)]
    results = await asyncio.gather(*tls, *silent)
    took = time.monotonic() - started
    await asyncio.sleep(args.read_timeout + 3.0)  # the bridge trims the read timeout + 1 s after a flood
    stop.set()
    await sampler
    after = proc.memory_info().rss
    mib = 2**20

    def summary(rows: list[tuple]) -> str:
        closed = np.array([t for state, t in rows if state == "closed"])
        kinds = {s: sum(r[0] == s for r in rows) for s in ("closed", "refused", "open")}
        quick = int((closed < 1.0).sum()) if len(closed) else 0
        late = closed[closed >= 1.0] if len(closed) else closed
        held = f"{len(late)} held until cut off: {late.min():.2f}-{late.max():.2f} s" if len(late) else "none held"
        return f"{kinds}; {quick} closed within 1 s (over a cap), {held}"

    print(f"{args.connections} TLS connections sending {HALF_REQUEST!r}: {summary(results[: len(tls)])}")
    print(f"{args.silent} TCP connections that never start TLS: {summary(results[len(tls) :])}")
    print(f"all done in {took:.1f} s; read timeout {args.read_timeout:.0f} s")
    print(
        f"bridge RSS: before {before / mib:.1f} MiB, peak {peak[0] / mib:.1f} MiB (+{(peak[0] - before) / mib:.1f}), "
        f"{args.read_timeout + 3:.0f} s after {after / mib:.1f} MiB ({(after - before) / mib:+.1f} MiB; goal within 10 MB)"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--connections", type=int, default=1000)
    ap.add_argument("--silent", type=int, default=100, help="TCP connections that never start TLS")
    ap.add_argument("--addresses", type=int, default=40, help="loopback source addresses for the TLS ones")
    ap.add_argument("--read-timeout", type=float, default=10.0, help="the bridge's read_timeout_s")
    args = ap.parse_args(argv)
    print("command:", " ".join([Path(sys.executable).name, *sys.argv]))
    with bridge_process({"alice": PASSWORD}, read_timeout_s=args.read_timeout) as bridge:
        ctx = ssl.create_default_context(cafile=str(bridge.cafile))
        asyncio.run(flood(args, bridge.base, ctx, bridge.pid()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
