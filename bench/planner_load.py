"""Lost sales of the restock policies as demand grows, on the fast store model (no ROS, no MuJoCo).

One summer day of the corner store per demand level (the simulator's demand generator, the
learned model trained on four weeks of history before it), for a robot as fast as the simulated
arm (12 s handling per container besides rail travel, ~14 s a container) and for a slow one
(60 s). Prints, per level, the lost sales of the reactive policy, the learned planner and the
oracle (the planner with the true rates), the learned/reactive ratio, how many of the lost sales
came while the SKU's back room was empty too (supply: no policy could help), containers moved
and on-shelf availability per lane.
Draws the same as var/bench/planner_load.png.

    .venv/bin/python bench/planner_load.py [--levels 1000,1600,2000,2400,3000] [--handling 12,60]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout, not an installed copy

from restock.demand.generator import DemandGenerator
from restock.demand.model import DAY_S
from restock.paths import SOURCE_ROOT, store_file
from restock.planning.evaluate import DEFAULT_START, run_policies
from restock.planning.storemodel import SaleIn
from restock.planning.timing import RobotTiming
from restock.store.description import load_store

POLICIES = ("reactive", "learned", "oracle")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", default="corner_store.yaml")
    parser.add_argument("--levels", default="1000,1400,1600,1800,2000,2400,3000", help="containers a day")
    parser.add_argument("--handling", default="12,60", help="robot handling seconds per container")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--history-days", type=int, default=28)
    parser.add_argument("--out", type=Path, default=SOURCE_ROOT / "var" / "bench" / "planner_load.png")
    args = parser.parse_args(argv)
    levels = [float(v) for v in args.levels.split(",")]
    handlings = [float(v) for v in args.handling.split(",")]
    store = load_store(store_file(args.store))
    t0 = np.floor(DEFAULT_START / DAY_S) * DAY_S
    t1 = t0 + DAY_S
    print(f"bench/planner_load.py --store {args.store} --levels {args.levels} --handling {args.handling}")
    print(
        f"{'handling s':>10} {'per day':>8} {'demanded':>9} {'reactive':>9} {'learned':>8} {'oracle':>7} "
        f"{'ratio':>6} {'rack empty r/l':>15} {'moved r/l':>11} {'OSA lane r/l':>13}"
    )
    results: dict[float, list[dict[str, int]]] = {}
    started = time.perf_counter()
    for handling in handlings:
        timing = RobotTiming.for_store(store, handling_s=handling)
        for level in levels:
            truth = DemandGenerator.for_daily_total(store, level, seed=args.seed)
            rng = np.random.default_rng(args.seed + 1)
            history = [SaleIn(*s) for s in truth.sample(t0 - args.history_days * DAY_S, t0, rng)]
            day = [SaleIn(*s) for s in truth.sample(t0, t1, rng)]
            outcomes, _ = run_policies(store, timing, history, day, t0, t1, truth, seed=args.seed)
            by = {o.policy: o for o in outcomes}
            r, learned, o = by["reactive"], by["learned"], by["oracle"]
            ratio = f"{learned.lost / r.lost:.2f}" if r.lost else ("0/0" if not learned.lost else "inf")
            print(
                f"{handling:>10g} {level:>8g} {r.demanded:>9} {r.lost:>9} {learned.lost:>8} {o.lost:>7} {ratio:>6} "
                f"{r.lost_rack_empty:>7}/{learned.lost_rack_empty:<7} {r.moved:>5}/{learned.moved:<5} {r.osa:>6.3f}/{learned.osa:<6.3f}",
                flush=True,
            )
            results.setdefault(handling, []).append({p: by[p].lost for p in POLICIES} | {"demanded": r.demanded})
    print(f"({time.perf_counter() - started:.0f} s)")
    _plot(levels, results, args.out)
    print(f"plot: {args.out}")
    return 0


def _plot(levels: list[float], results: dict[float, list[dict[str, int]]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(5.5 * len(results), 4), squeeze=False)
    for ax, (handling, rows) in zip(axes[0], results.items(), strict=True):
        for policy in POLICIES:
            ax.plot(levels, [100 * r[policy] / max(r["demanded"], 1) for r in rows], marker="o", label=policy)
        ax.set_title(f"robot handling {handling:g} s per container")
        ax.set_xlabel("demand, containers a day (year average)")
        ax.set_ylabel("lost sales, % of demand")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
