"""Where the learned planner loses against foresight on a sales log: by hour, SKU, burst or steady.

Replays a log's last ``--days`` days (as ``restock eval-planner --sales-log`` does) through the
learned planner and the foresight planner (the same planner knowing the log's own future sales),
reactive too with ``--reactive``, and splits each policy's lost sales:

- robot-limited (the back room had stock) and supply-limited (it had none);
- by hour of the day;
- by SKU;
- in a burst or not: a lost sale is "in a burst" when its SKU sold at least ``--burst-x`` times
  its mean rate of open hours in that clock hour (the log's demand, not the policy's sales).

    .venv/bin/python bench/planner_gap.py --sales-log FILE [--days 7] [--handling-s 12] [--reactive]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout, not an installed copy

from restock.demand.model import DAY_S, DemandModel
from restock.paths import store_file
from restock.planning.backroom import AlertConfig
from restock.planning.evaluate import lanes_per_sku, read_log
from restock.planning.policies import PlannerPolicy, ReactivePolicy, SalesForesight, oracle_config
from restock.planning.storemodel import Outcome, SaleIn, StoreModel
from restock.planning.timing import RobotTiming
from restock.store.description import load_store


def burst_hours(sales: list[SaleIn], skus: list[str], t0: float, t1: float, factor: float) -> np.ndarray:
    """Per [pool, hour since t0]: whether that SKU-hour sold at least ``factor`` times the SKU's
    mean over hours in which anything sold."""
    n_h = int(np.ceil((t1 - t0) / 3600.0))
    sold = np.zeros((len(skus), n_h))
    index = {s: i for i, s in enumerate(skus)}
    for s in sales:
        if t0 <= s.t < t1 and s.sku in index:
            sold[index[s.sku], int((s.t - t0) // 3600)] += s.quantity
    open_h = sold.sum(axis=0) > 0
    mean = sold[:, open_h].mean(axis=1, keepdims=True) if open_h.any() else np.ones((len(skus), 1))
    return sold >= factor * np.maximum(mean, 1e-9)


def breakdown(outcomes: list[Outcome], skus: list[str], bursty: np.ndarray, t0: float) -> str:
    lines = []
    head = f"{'':<22}" + "".join(f"{o.policy:>12}" for o in outcomes)
    lines.append(head)

    def row(label: str, values: list[int]) -> None:
        lines.append(f"{label:<22}" + "".join(f"{v:>12}" for v in values))

    row("lost", [o.lost for o in outcomes])
    row("  robot-limited", [o.lost_robot for o in outcomes])
    row("  supply-limited", [o.lost_rack_empty for o in outcomes])

    def split(o: Outcome) -> tuple[int, int]:
        b = sum(1 for t, p, _ in o.lost_log if bursty[p, int((t - t0) // 3600)])
        return b, o.lost - b

    row("  in a burst hour", [split(o)[0] for o in outcomes])
    row("  steady", [split(o)[1] for o in outcomes])
    for sup, name in ((False, "robot"), (True, "supply")):
        row(
            f"  {name}, burst hour",
            [sum(1 for t, p, s in o.lost_log if s == sup and bursty[p, int((t - t0) // 3600)]) for o in outcomes],
        )
    row("moved", [o.moved for o in outcomes])
    row("tasks", [o.tasks for o in outcomes])
    lines.append(f"{'tasks/ctr':<22}" + "".join(f"{o.tasks_per_container:>12.3f}" for o in outcomes))
    row("alerts", [o.alerts for o in outcomes])
    lines.append("\nby hour of day (lost)")
    for h in range(24):
        vals = [sum(1 for t, _, _ in o.lost_log if int(t % DAY_S // 3600) == h) for o in outcomes]
        if any(vals):
            row(f"  {h:02d}h", vals)
    lines.append("\nby SKU (lost; supply-limited in brackets)")
    for p, sku in enumerate(skus):
        vals = [sum(1 for _, q, _ in o.lost_log if q == p) for o in outcomes]
        sup = [sum(1 for _, q, s in o.lost_log if q == p and s) for o in outcomes]
        if any(vals):
            lines.append(f"  {sku:<20}" + "".join(f"{f'{v} ({s})':>12}" for v, s in zip(vals, sup, strict=True)))
    lines.append("\nby day (lost)")
    n_days = int(np.ceil(max((o.duration_s for o in outcomes), default=DAY_S) / DAY_S))
    for d in range(n_days):
        row(f"  day {d}", [sum(1 for t, _, _ in o.lost_log if int((t - t0) // DAY_S) == d) for o in outcomes])
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sales-log", type=Path, required=True)
    parser.add_argument("--store", default="corner_store.yaml")
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--handling-s", type=float, default=12.0)
    parser.add_argument("--staff-response-s", type=float, default=1800.0)
    parser.add_argument("--burst-x", type=float, default=3.0, help="a burst hour sells this many times the mean")
    parser.add_argument("--reactive", action="store_true", help="also the reactive policy")
    parser.add_argument("--no-foresight", action="store_true")
    args = parser.parse_args(argv)
    print(
        f"command: .venv/bin/python bench/planner_gap.py --sales-log {args.sales_log} --store {args.store} "
        f"--days {args.days} --handling-s {args.handling_s:g} --staff-response-s {args.staff_response_s:g} "
        f"--burst-x {args.burst_x:g}{' --reactive' if args.reactive else ''}"
        f"{' --no-foresight' if args.no_foresight else ''}"
    )
    store = load_store(store_file(args.store))
    sales, _ = read_log(args.sales_log, store)
    t1 = (np.floor(sales[-1].t / DAY_S) + 1) * DAY_S
    t0 = max(t1 - args.days * DAY_S, np.floor(sales[0].t / DAY_S) * DAY_S)
    history = [s for s in sales if s.t < t0]
    evaluated = [s for s in sales if s.t >= t0]
    timing = RobotTiming.for_store(store, handling_s=args.handling_s)
    model_store = StoreModel(store, timing, staff_response_s=args.staff_response_s)
    started = time.perf_counter()
    model = DemandModel(lanes_per_sku(store))
    model.learn_log(((s.t, s.sku, s.quantity) for s in history), t0)
    model.fit()
    fit = model.burst.fit
    print(
        f"burst fit: gain {fit.gain:.2f}, window {fit.window_s:g} s, decay {fit.decay_s:g} s, dispersion {fit.dispersion:.1f}"
    )
    policies: list = []
    if args.reactive:
        policies.append(ReactivePolicy())
    policies.append(PlannerPolicy("learned", timing, model_store.lanes, model=model, alerts=AlertConfig()))
    if not args.no_foresight:
        policies.append(
            PlannerPolicy(
                "foresight",
                timing,
                model_store.lanes,
                truth=SalesForesight(sales),
                config=oracle_config(),
                alerts=AlertConfig(),
                dispersion=fit.dispersion,  # the learned planner's rules for bursty demand, as eval-planner's
            )
        )
    outcomes = [model_store.run(p, evaluated, t0, t1) for p in policies]
    bursty = burst_hours(evaluated, model_store.lanes.skus, t0, t1, args.burst_x)
    print(breakdown(outcomes, model_store.lanes.skus, bursty, t0))
    print(f"({time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
