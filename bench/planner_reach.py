"""How far any restock policy could get on a sales log: reactive, foresight and the lost-sales bound.

Issue 17 asks for learned <= 0.5x the reactive policy's lost sales. Before asking that of the
learned planner, this says, per log and handling time, what the same robot reaches:

- ``reactive``: the threshold baseline;
- ``foresight``: the planner knowing the log's own future sales (eval-planner's oracle row, with
  the learned model's dispersion, as there);
- ``bound``: no policy, the fewest lost sales any policy could reach with the whole demand known
  in advance (restock.planning.bound, an LP over ``--bound-slot-s`` slots, staff on call).

Each split into robot-limited (the back room had stock) and supply-limited. Where the bound is
above half the reactive policy's lost sales, no policy reaches 0.5x with this robot; where
foresight is above it, not this planner even with perfect information. The learned planner is not
run (``restock eval-planner`` does that); this is the quick part, a few minutes for five logs.

    .venv/bin/python bench/planner_reach.py --sales-log A.csv --sales-log B.csv [--handling-s 12,60]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout, not an installed copy

from restock.demand.model import DAY_S, DemandModel
from restock.paths import store_file
from restock.planning.backroom import AlertConfig
from restock.planning.bound import store_bound
from restock.planning.evaluate import lanes_per_sku, read_log
from restock.planning.policies import PlannerPolicy, ReactivePolicy, SalesForesight, oracle_config
from restock.planning.storemodel import StoreModel
from restock.planning.timing import RobotTiming
from restock.store.description import load_store


def reach(log: Path, store_name: str, handling: list[float], days: int, slot_s: float) -> list[str]:
    """Table rows for one log, one per handling time."""
    store = load_store(store_file(store_name))
    sales, _ = read_log(log, store)
    t1 = (np.floor(sales[-1].t / DAY_S) + 1) * DAY_S
    t0 = max(t1 - days * DAY_S, np.floor(sales[0].t / DAY_S) * DAY_S)
    history = [s for s in sales if s.t < t0]
    evaluated = [s for s in sales if s.t >= t0]
    # The oracle takes the learned model's dispersion (its rules for bursty demand), as eval-planner's.
    model = DemandModel(lanes_per_sku(store))
    model.learn_log(((s.t, s.sku, s.quantity) for s in history), t0)
    model.fit()
    dispersion = model.burst.fit.dispersion
    truth = SalesForesight(sales)
    rows = []
    for h in handling:
        timing = RobotTiming.for_store(store, handling_s=h)
        model_store = StoreModel(store, timing)
        reactive = model_store.run(ReactivePolicy(), evaluated, t0, t1)
        oracle = PlannerPolicy(
            "foresight",
            timing,
            model_store.lanes,
            truth=truth,
            config=oracle_config(),
            alerts=AlertConfig(),
            dispersion=dispersion,
        )
        fore = model_store.run(oracle, evaluated, t0, t1)
        bound = store_bound(model_store, evaluated, t0, t1, slot_s, staff_on_call=True).lost_at_least
        half = reactive.lost / 2
        if bound > half:
            verdict = "no policy (bound above)"
        elif fore.lost > half:
            verdict = "not even foresight"
        else:
            verdict = "foresight does"
        rows.append(
            f"{log.stem:<24} {h:>4g} {reactive.demanded:>8} {reactive.lost:>6} ({reactive.lost_robot:>5} /"
            f" {reactive.lost_rack_empty:>5}) {fore.lost:>6} ({fore.lost_robot:>5} / {fore.lost_rack_empty:>4})"
            f" {bound:>6} {half:>7.0f} {fore.lost / max(reactive.lost, 1):>6.2f} {bound / max(reactive.lost, 1):>6.2f}"
            f"  {verdict}"
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sales-log", type=Path, action="append", required=True)
    parser.add_argument("--store", default="corner_store.yaml")
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--handling-s", default="12,60", help="comma list of seconds per container")
    parser.add_argument("--bound-slot-s", type=float, default=300.0)
    args = parser.parse_args(argv)
    handling = [float(x) for x in args.handling_s.split(",")]
    logs = " ".join(f"--sales-log {p}" for p in args.sales_log)
    print(
        f"command: .venv/bin/python bench/planner_reach.py {logs} --store {args.store} --days {args.days} "
        f"--handling-s {args.handling_s} --bound-slot-s {args.bound_slot_s:g}"
    )
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(
        f"{'log':<24} {'h s':>4} {'demanded':>8} {'reactive (robot / supply)':>26} "
        f"{'foresight (robot / supply)':>25} {'bound':>6} {'0.5x r':>7} {'f/r':>6} {'b/r':>6}  0.5x reactive reached by"
    )
    started = time.perf_counter()
    for log in args.sales_log:
        for row in reach(log, args.store, handling, args.days, args.bound_slot_s):
            print(row, flush=True)
    print(f"({time.perf_counter() - started:.0f} s; load average {' '.join(f'{x:.1f}' for x in os.getloadavg())})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
