"""Re-plan time of the restock planner for 100, 1,000 and 10,000 lanes (goal: <= 50 ms at 1,000).

A synthetic store: lanes 0.1 m apart along a rail, four lanes per SKU, capacities 8-10, every
lane at a random fill, back-room stock for each SKU; the demand forecast is the learned model
(DemandModel with the prior, as at first start) evaluated over the 3 h horizon on each re-plan.
Prints the median and 95th percentile of the whole re-plan (forecast + plan + order), with fewer,
fuller trips (batching) on as the planner node runs it, and the back-room forecast and staff alerts
(restock.planning.backroom) that the node computes on each re-plan, and the burst nowcast on
(restock.demand.burst: the coffee log's fit, with a burst's age read on a second window, a
quarter of the SKUs selling in a burst just now; the back room forecast and the idle fill for
sales 75x as variable as Poisson), the model started from a fleet prior (restock.demand.prior).

    .venv/bin/python bench/planner_replan.py [--repeats 30]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout, not an installed copy

from restock.demand.burst import BurstFit
from restock.demand.model import DemandModel
from restock.demand.prior import FleetPrior, Shape
from restock.planning.backroom import BackroomWatch, forecast
from restock.planning.planner import LaneTable, Planner, PlannerConfig
from restock.planning.timing import RobotTiming


def synthetic(n_lanes: int, seed: int = 0) -> tuple[LaneTable, DemandModel, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_skus = max(1, n_lanes // 4)
    lane_sku = [f"sku_{i % n_skus:05d}" for i in range(n_lanes)]
    x = np.arange(n_lanes) * 0.1
    capacity = rng.integers(8, 11, size=n_lanes)
    skus = sorted(set(lane_sku))
    stock = {s: (f"s_{s}", float(rng.uniform(0, x[-1] if n_lanes > 1 else 1.0))) for s in skus}
    table = LaneTable([f"lane_{i:05d}" for i in range(n_lanes)], x, capacity, lane_sku, stock)
    model = DemandModel({s: 4 for s in skus})
    day = np.r_[np.full(7, 0.2), np.full(14, 1.4), np.full(3, 0.5)]
    model.set_fleet(FleetPrior({}, {}, Shape(30.0, np.tile(day / day.mean(), 7))))
    # The nowcast as the coffee log teaches it; a quarter of the SKUs sold 10 in the last 5 minutes.
    model.burst.fit = BurstFit(0.53, 300.0, 3600.0, 0, 75.0, age_gain=-0.65, long_window_s=1800.0)
    now = 1_784_505_600.0 + 7.5 * 3600
    model.add_exposure_all(now - 300.0, now)
    for s in skus[::4]:
        model.add_sale(now - 150.0, s, 10)
    count = rng.uniform(0, 1, size=n_lanes) * capacity
    back = np.full(len(skus), 40)
    return table, model, count, back


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--sizes", default="100,1000,10000")
    args = parser.parse_args(argv)
    print(f"command: .venv/bin/python bench/planner_replan.py --repeats {args.repeats} --sizes {args.sizes}")
    # CPU time too: on a machine shared with other jobs the wall time waits for a core, the CPU time does not.
    print(f"{'lanes':>7} {'skus':>6} {'tasks':>6} {'median ms':>10} {'p95 ms':>8} {'cpu median':>10} {'cpu p95':>8}")
    now = 1_784_505_600.0 + 7.5 * 3600
    for n in (int(s) for s in args.sizes.split(",")):
        table, model, count, back = synthetic(n)
        # A robot fast enough for the store size, so the plan has work in it.
        timing = RobotTiming(rail_v=1.2, rail_a=3.0, handling_s=12.0)
        planner = Planner(table, timing, PlannerConfig())
        watch = BackroomWatch(len(table.skus))
        skus = table.skus
        shelf = np.bincount(table.pool, weights=count, minlength=len(skus))
        delivery = now + 3.5 * 3600
        times, cpu = [], []
        tasks = 0
        for _ in range(args.repeats):
            started, started_cpu = time.perf_counter(), time.process_time()
            rates = lambda t, m=model, s=skus: m.rates_matrix(t, s)  # noqa: E731
            dispersion = model.burst.fit.dispersion
            plan = planner.plan(now, count, rates, back, dispersion=dispersion)
            watch.update(forecast(now, rates, back, shelf, table.pool_capacity, delivery, dispersion=dispersion))
            times.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
            tasks = len(plan)
        ms, cpu_ms = np.array(times) * 1e3, np.array(cpu) * 1e3
        print(
            f"{n:>7} {len(skus):>6} {tasks:>6} {np.median(ms):>10.2f} {np.percentile(ms, 95):>8.2f} "
            f"{np.median(cpu_ms):>10.2f} {np.percentile(cpu_ms, 95):>8.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
