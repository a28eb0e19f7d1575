"""Password guessing against the teleop bridge on loopback: how many guesses reach scrypt, whether
the owner still gets in, and what the flood does to the operator's control path.

    .venv/bin/python bench/teleop_bruteforce.py [--burst 100] [--flood 1000] [--addresses 10] [--seconds 60]

The bridge runs as its own process (`restock up --only teleop_bridge`, TLS on, real scrypt cost),
the attacker as another (this script with --attack), its connections bound to other loopback
source addresses (127.0.0.x all reach lo on Linux). Phases:

1. quiet: an operator (bob) holds the robot and streams poses at 60/s; each teleop/ee_target
   PoseStamped is timed from its pose's WebSocket send (same clock), and the bridge's asyncio loop
   lag comes from how late its 20 ms ticker runs (not measured: the pose latency carries it).
2. burst: --burst logins for alice sent at once from one address (the right password last).
3. flood: --flood logins for alice spread over --seconds from --addresses addresses, while the
   operator streams and the owner (alice, from 127.0.0.2) logs in every 10 s.

scrypt runs are the bridge's own count (its diagnostics value password_checks).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import aiohttp
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from teleop_bridge_process import BridgeProcess, bridge_process, circle_pose, percentiles, take_control  # noqa: E402

PASSWORDS = {"alice": "alice-owner-password", "bob": "bob-operator-password"}
OWNER_ADDRESS = "127.0.0.2"


def client(ctx: ssl.SSLContext, address: str | None = None, fresh: bool = False) -> aiohttp.ClientSession:
    """fresh: a new connection per request (a person logging in now and then, not a kept-alive one)."""
    local = (address, 0) if address else None
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx, local_addr=local, limit=0, force_close=fresh))


async def try_login(http: aiohttp.ClientSession, base: str, name: str, password: str) -> int:
    try:
        async with http.post(f"{base}/api/login", json={"operator": name, "password": password}) as r:
            await r.read()
            return r.status
    except (OSError, aiohttp.ClientError):
        return 0  # the connection was refused (a cap) or reset


async def attack(base: str, cafile: str, addresses: list[str], per_address: int, seconds: float) -> dict:
    """--per-address guesses for alice from each address, all at once (seconds 0) or spread evenly."""
    ctx = ssl.create_default_context(cafile=cafile)
    statuses: list[int] = []

    async def from_address(address: str) -> None:
        async with client(ctx, address) as http:
            if seconds <= 0:
                guesses = [f"guess-{i}" for i in range(per_address - 1)] + [PASSWORDS["alice"]]
                statuses.extend(await asyncio.gather(*(try_login(http, base, "alice", g) for g in guesses)))
                return
            start = time.monotonic()
            for i in range(per_address):
                await asyncio.sleep(max(0.0, start + i * seconds / per_address - time.monotonic()))
                statuses.append(await try_login(http, base, "alice", f"guess-{address}-{i}"))

    await asyncio.gather(*(from_address(a) for a in addresses))
    return {str(s): statuses.count(s) for s in sorted(set(statuses))}


def run_attacker(base: str, cafile: Path, addresses: list[str], per_address: int, seconds: float) -> dict:
    cmd = [sys.executable, __file__, "--attack", json.dumps([base, str(cafile), addresses, per_address, seconds])]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


class Operator:
    """bob: holds the robot and streams poses at --rate on the caller's loop; sends are timed."""

    def __init__(self, base: str, ctx: ssl.SSLContext, rate: float) -> None:
        self.base, self.ctx, self.rate = base, ctx, rate
        self.sent: list[float] = []
        self.stop = asyncio.Event()

    async def run(self) -> None:
        async with client(self.ctx) as http:
            ws = await take_control(http, self.base, "bob", PASSWORDS["bob"])
            await asyncio.sleep(0.5)
            i, start = 0, time.perf_counter()
            while not self.stop.is_set():
                self.sent.append(time.perf_counter())
                await ws.send_json(circle_pose(i, self.rate))
                i += 1
                await asyncio.sleep(max(0.0, start + i / self.rate - time.perf_counter()))
            await ws.close()


def latencies(sent: list[float], targets: list[float], t0: float, t1: float) -> list[float]:
    """Pose send -> PoseStamped, for poses sent in [t0, t1) (matched in order: one target per pose)."""
    k = min(len(sent), len(targets))
    return [(targets[i] - sent[i]) * 1000 for i in range(k) if t0 <= sent[i] < t1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--burst", type=int, default=100, help="logins sent at once from one address")
    ap.add_argument("--flood", type=int, default=1000, help="logins over --seconds from --addresses addresses")
    ap.add_argument("--addresses", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--quiet", type=float, default=10.0, help="seconds of operator streaming before any attack")
    ap.add_argument("--rate", type=float, default=60.0, help="operator poses per second")
    ap.add_argument("--attack", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.attack:
        print(json.dumps(asyncio.run(attack(*json.loads(args.attack)))))
        return 0
    print("command:", " ".join([Path(sys.executable).name, *sys.argv]))

    with bridge_process(PASSWORDS) as bridge:
        return measure(args, bridge)


def measure(args: argparse.Namespace, bridge: BridgeProcess) -> int:
    import rclpy  # after bridge_process set this run's DDS domain
    from diagnostic_msgs.msg import DiagnosticArray
    from geometry_msgs.msg import PoseStamped
    from rclpy.executors import SingleThreadedExecutor

    from restock import topics

    rclpy.init()
    node = rclpy.create_node("teleop_bruteforce_bench")
    targets: list[float] = []
    health: dict[str, str] = {}
    node.create_subscription(PoseStamped, topics.TELEOP_TARGET, lambda _m: targets.append(time.perf_counter()), 100)

    def on_diag(msg: DiagnosticArray) -> None:
        for status in msg.status:
            if "teleop_bridge" in status.name:
                health.update({kv.key: kv.value for kv in status.values}, stamp=str(time.monotonic()))

    node.create_subscription(DiagnosticArray, topics.DIAGNOSTICS, on_diag, 10)

    def checks() -> int:
        """The bridge's scrypt runs, as of a diagnostics message newer than now."""
        asked = time.monotonic()
        while float(health.get("stamp", 0)) < asked + 2.1:  # counted and published once a second each
            time.sleep(0.1)
        return int(health["password_checks"])

    executor = SingleThreadedExecutor()
    executor.add_node(node)
    threading.Thread(target=executor.spin, daemon=True).start()
    base, cafile = bridge.base, bridge.cafile
    ctx = ssl.create_default_context(cafile=str(cafile))
    try:
        checks()  # DDS discovery: the bridge's diagnostics reach this node
        marks: dict[str, float] = {}
        report: dict[str, object] = {}

        async def owner_logs_in(times: int, every: float) -> list[tuple[int, float]]:
            out = []
            async with client(ctx, OWNER_ADDRESS, fresh=True) as http:
                for _ in range(times):
                    t = time.perf_counter()
                    status = await try_login(http, base, "alice", PASSWORDS["alice"])
                    out.append((status, (time.perf_counter() - t) * 1000))
                    await asyncio.sleep(every)
            return out

        async def phases() -> None:
            operator = Operator(base, ctx, args.rate)
            driving = asyncio.create_task(operator.run())
            await asyncio.sleep(0.5 + args.quiet)
            marks["quiet"] = time.perf_counter()
            report["checks0"] = await asyncio.to_thread(checks)
            burst_addr = ["127.0.0.9"]
            report["burst"] = await asyncio.to_thread(run_attacker, base, cafile, burst_addr, args.burst, 0.0)
            marks["burst"] = time.perf_counter()
            report["checks1"] = await asyncio.to_thread(checks)
            report["owner_after_burst"] = await owner_logs_in(1, 0.0)
            report["checks2"] = await asyncio.to_thread(checks)
            addresses = [f"127.0.0.{20 + i}" for i in range(args.addresses)]
            per = args.flood // args.addresses
            marks["flood0"] = time.perf_counter()
            flood = asyncio.create_task(asyncio.to_thread(run_attacker, base, cafile, addresses, per, args.seconds))
            report["owner_during_flood"] = await owner_logs_in(int(args.seconds // 10), 10.0)
            report["flood"] = await flood
            marks["flood1"] = time.perf_counter()
            report["checks3"] = await asyncio.to_thread(checks)
            operator.stop.set()
            await driving
            report["sent"], report["first"] = operator.sent, operator.sent[0] if operator.sent else 0.0

        asyncio.run(phases())
        time.sleep(0.5)
        sent = report["sent"]
        quiet = latencies(sent, targets, report["first"] + 0.5, marks["quiet"])
        during = latencies(sent, targets, marks["flood0"], marks["flood1"])
        if len(targets) != len(sent):
            print(f"warning: {len(sent)} poses sent, {len(targets)} targets received (matched in order)")
        c0, c1, c2, c3 = (int(report[f"checks{i}"]) for i in range(4))
        owners = report["owner_during_flood"]
        print(f"burst: {args.burst} logins for alice at once from 127.0.0.9 -> HTTP {report['burst']}")
        print("  (HTTP 0: the connection was closed unanswered, over the per-address connection cap)")
        print(f"  scrypt runs: {c1 - c0} (limit: 5 per name per address per minute)")
        status, ms = report["owner_after_burst"][0]
        print(f"  the owner from {OWNER_ADDRESS} right after: HTTP {status} in {ms:.0f} ms")
        print(
            f"flood: {args.flood // args.addresses * args.addresses} logins for alice over {args.seconds:.0f} s from {args.addresses} addresses"
        )
        print(f"  -> HTTP {report['flood']}")
        owner_ok = sum(s == 200 for s, _ in owners)
        print(
            f"  scrypt runs: {c3 - c2 - owner_ok} by the attacker (limit: {args.addresses} x 5), {owner_ok} by the owner"
        )
        print(
            f"  the owner's logins during the flood: {owner_ok} of {len(owners)} in (HTTP {[s for s, _ in owners]}), "
            f"{percentiles([m for _, m in owners])}"
        )
        print(f"operator pose (WSS) -> PoseStamped, quiet: {percentiles(quiet)}")
        print(f"operator pose (WSS) -> PoseStamped, during the flood: {percentiles(during)}")
        if quiet and during:
            ratio = np.percentile(during, 99) / np.percentile(quiet, 99)
            print(f"  p99 during / quiet: {ratio:.2f}x (goal <= 2x)")
    finally:
        executor.shutdown(timeout_sec=2)
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
