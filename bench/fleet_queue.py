"""The real fleet service as a queue, beside the sizing simulation's prediction for the same load.

    .venv/bin/python bench/fleet_queue.py [--operators 2] [--offered 1.3] [--service-mean-s 1.0]
        [--service-cv 1.0] [--robots 30] [--seconds 150] [--seed 1]

Two `restock fleet serve` processes on a throwaway PostgreSQL cluster; --robots robot links (split
over both instances) raise handoffs as one Poisson stream (rate = offered / service mean), each
with an exponential blocked-sales rate (mean 1/h, what the queue orders by); --operators scripted
operators (split over both instances) claim the next handoff over HTTPS, hold it for a lognormal
service time (time compressed: a second here stands for a minute and a half of a person's), resolve
it, and claim again. A wait is from the robot's send to the operator's claim, on one clock. Beside
it, restock.fleet.sizing.simulate for the same operators, rate and service times (50,000 handoffs)
and Erlang C. The simulation runs the same ordering and claim rules in memory; this runs them in
PostgreSQL, with the network, TLS, LISTEN/NOTIFY and polling operators in the way.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import aiohttp
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from fleet_bench import PASSWORD, Fleet, fleet_processes  # noqa: E402

from restock import records  # noqa: E402
from restock.fleet.link import RobotLink  # noqa: E402
from restock.fleet.sizing import ServiceTimes, erlang_c, erlang_c_wait_quantile, simulate  # noqa: E402

POLL_S = 0.02  # an idle operator asks for the next handoff this often


def draw_path(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Arrival times within --seconds, each handoff's service time and blocked-sales rate: given to the
    real service, and replayed by the simulation (the same sample path)."""
    rng = np.random.default_rng(args.seed)
    rate = args.offered / args.service_mean_s
    arrivals = np.cumsum(rng.exponential(1.0 / rate, int(rate * args.seconds * 2) + 50))
    arrivals = arrivals[arrivals <= args.seconds]
    durations = ServiceTimes(args.service_mean_s, args.service_cv).draw(rng, len(arrivals))
    return arrivals, durations, rng.exponential(1.0, len(arrivals))


async def run(fleet: Fleet, args: argparse.Namespace, path: tuple) -> dict[int, float]:
    arrivals, durations, rates = path
    raised: dict[str, float] = {}
    waits: dict[int, float] = {}  # handoff index -> measured wait
    robots = [RobotLink(f"wss://127.0.0.1:{fleet.ports[i % 2]}/robot/ws", fleet.credentials[r], fleet.ssl)
              for i, r in enumerate(sorted(fleet.credentials))]  # fmt: skip
    tasks = [asyncio.create_task(r.run()) for r in robots]
    for r in robots:
        await r.connected.wait()
    stop = asyncio.Event()

    async def operator(name: str, port: int) -> None:
        base = f"https://127.0.0.1:{port}"
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=fleet.ssl)) as http:
            r = await http.post(f"{base}/api/login", json={"operator": name, "password": PASSWORD})
            auth = {"Authorization": f"Bearer {(await r.json())['token']}"}
            while not stop.is_set():
                r = await http.post(f"{base}/api/claim", json={}, headers=auth)
                body = await r.json()
                if r.status != 200:
                    await asyncio.sleep(POLL_S)
                    continue
                i = int(body["request_id"][1:])
                waits[i] = time.perf_counter() - raised[body["request_id"]]
                await asyncio.sleep(float(durations[i]))  # this handoff's own service time
                await http.post(f"{base}/api/resolve", json={"id": body["id"], "action": "cleared"}, headers=auth)

    ops = [asyncio.create_task(operator(f"op{k}", fleet.ports[k % 2])) for k in range(args.operators)]
    start = time.perf_counter()
    for n, at in enumerate(arrivals):  # on an absolute schedule: the loop's own delays must not thin them
        await asyncio.sleep(max(0.0, start + at - time.perf_counter()))
        request_id = f"h{n}"
        raised[request_id] = time.perf_counter()
        request = records.HandoffRequest(request_id=request_id, source="bench", kind="other", stamp=time.time())
        robots[n % len(robots)].send_handoff(request, float(rates[n]))
    while len(waits) < len(arrivals) and time.perf_counter() < start + args.seconds + 60:
        await asyncio.sleep(0.1)  # the queue drains
    stop.set()
    await asyncio.gather(*ops)
    for r in robots:
        await r.stop()
    for t in tasks:
        t.cancel()
    return waits


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--operators", type=int, default=2)
    ap.add_argument("--offered", type=float, default=1.3, help="Erlangs: arrival rate x service mean")
    ap.add_argument("--service-mean-s", type=float, default=1.0)
    ap.add_argument("--service-cv", type=float, default=1.0)
    ap.add_argument("--robots", type=int, default=30)
    ap.add_argument("--seconds", type=float, default=150.0)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    print("command: .venv/bin/python bench/fleet_queue.py " + " ".join(sys.argv[1:]))
    robots = [f"r{i:02d}" for i in range(args.robots)]
    path = draw_path(args)
    with fleet_processes(robots, [f"op{k}" for k in range(args.operators)]) as fleet:
        measured = asyncio.run(run(fleet, args, path))
    rate = args.offered / args.service_mean_s
    service = ServiceTimes(args.service_mean_s, args.service_cv)
    replay = simulate(args.operators, rate, service, stores=args.robots, seed=args.seed, warmup=0.0, path=path)
    steady = simulate(args.operators, rate, service, handoffs=50_000, stores=args.robots, seed=args.seed)
    w = np.array([measured[i] for i in sorted(measured)])
    print(f"{len(path[0])} handoffs raised in {args.seconds:g} s ({rate:.2f}/s), {len(w)} claimed; {args.operators}"
          f" operators, service lognormal mean {args.service_mean_s:g} s cv {args.service_cv:g} (this run's mean"
          f" {path[1].mean():.2f} s), offered {args.offered:g} Erlang")  # fmt: skip
    print(f"{'':>34} {'P(wait>0.1 s)':>13} {'mean':>8} {'p50':>8} {'p95':>8}")
    for label, x in (("fleet service (measured)", w), ("simulation, same sample path", replay.waits),
                     ("simulation, 50,000 handoffs", steady.waits)):  # fmt: skip
        print(f"{label:>34} {(x > 0.1).mean():>13.3f} {x.mean():>7.2f}s {np.median(x):>7.2f}s"
              f" {np.quantile(x, 0.95):>7.2f}s")  # fmt: skip
    c = args.operators
    print(f"{'Erlang C':>34} {erlang_c(c, args.offered):>13.3f} {erlang_c(c, args.offered) / (c / args.service_mean_s - rate):>7.2f}s"
          f" {'':>8} {erlang_c_wait_quantile(c, rate, args.service_mean_s, 0.95, args.service_cv):>7.2f}s")  # fmt: skip
    assert len(replay.waits) == len(path[0])  # warm-up 0: every handoff, in index order
    same = sorted(measured)
    diff = (np.array([measured[i] for i in same]) - replay.waits[same]) * 1000
    print(f"per handoff, measured minus simulated wait (the service's own overhead: HTTPS, PostgreSQL, polling every"
          f" {POLL_S * 1000:.0f} ms): median {np.median(diff):.0f} ms, p95 {np.percentile(diff, 95):.0f} ms")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
