"""A new store's first week with the fleet prior against without it, for every store of a chain.

Issue 19's cold start: a new store's learned planner starts from a prior pooled from the chain's
other stores (restock.demand.prior) instead of the generic one. Each ``--log NAME=FILE`` is one
store's sales log, mapped onto the same store description (scripts/map_transaction_log.py
``--location-column``: one log per store of a chain's log). Each store in turn is the new store:
its last ``--days`` days are replayed with no history, by the learned planner without a prior and
with a prior built from the other stores' logs up to the first replayed day (no store's future is
in the prior). ``--pair NEW=SRC[+SRC...]`` adds a pair of other logs (``gen:STORE:PER_DAY:SEED`` a
generated store as a source). Prints lost sales per row and the ratio with/without (goal <= 0.7).

    .venv/bin/python bench/fleet_prior_coldstart.py --log a=/work/data/cj_367.csv \\
        --log b=/work/data/cj_406.csv --log c=/work/data/cj_356.csv --handling-s 12 [--handling-s 60]

Replays are CPU-bound (about a minute each for a 7-day week of ~1,000 containers a day).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

from restock.demand.generator import DemandGenerator
from restock.demand.model import DAY_S, DemandModel
from restock.demand.prior import FleetPrior, SourceModel, build_prior, source_from_sales
from restock.paths import store_file
from restock.planning.backroom import AlertConfig
from restock.planning.evaluate import lanes_per_sku, read_log
from restock.planning.policies import PlannerPolicy
from restock.planning.storemodel import Outcome, SaleIn, StoreModel
from restock.planning.timing import RobotTiming
from restock.store.description import Store, load_store

GEN_END = 1_784_505_600.0  # where generated sources end (as restock fleet-prior's --generated)


def source(name: str, spec: str, store: Store, until: float) -> SourceModel:
    """A source store's model from its log before ``until``, or from the generator (gen:STORE:PER_DAY:SEED)."""
    lanes = lanes_per_sku(store)
    kinds = {sku: spec.kind for sku, spec in store.skus.items()}
    if spec.startswith("gen:"):
        _, gen_store, per_day, seed = spec.split(":")
        gen = DemandGenerator.for_daily_total(load_store(store_file(gen_store)), float(per_day), seed=int(seed))
        sales = gen.sample(GEN_END - 56 * DAY_S, GEN_END, np.random.default_rng(int(seed) + 1))
        return source_from_sales(name, sales, GEN_END, lanes, kinds)
    events, _ = read_log(Path(spec), store)
    before = [(s.t, s.sku, s.quantity) for s in events if s.t < until]
    return source_from_sales(name, before, until, lanes, kinds)


def first_week(
    store: Store, timing: RobotTiming, sales: list[SaleIn], days: int, prior: FleetPrior | None
) -> tuple[Outcome, DemandModel]:
    """The learned planner on a store's last ``days`` days with no history (``prior``: the fleet's)."""
    t1 = (math.floor(sales[-1].t / DAY_S) + 1) * DAY_S
    t0 = t1 - days * DAY_S
    model = DemandModel(lanes_per_sku(store))
    if prior is not None:
        model.set_fleet(prior, {sku: spec.kind for sku, spec in store.skus.items()})
    store_model = StoreModel(store, timing)
    policy = PlannerPolicy("learned", timing, store_model.lanes, model=model, alerts=AlertConfig())
    return store_model.run(policy, [s for s in sales if s.t >= t0], t0, t1), model


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--log", action="append", default=[], metavar="NAME=FILE", help="one store of a chain")
    ap.add_argument("--pair", action="append", default=[], metavar="NEW=SRC[+SRC]", help="NEW and SRC: NAME=FILE")
    ap.add_argument("--store", default="corner_store.yaml")
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--handling-s", type=float, action="append", default=[])
    args = ap.parse_args(argv)
    store = load_store(store_file(args.store))
    logs = dict(x.split("=", 1) for x in args.log)
    cases: list[tuple[str, list[tuple[str, str]]]] = []
    for new in logs:
        cases.append((new, [(n, p) for n, p in logs.items() if n != new]))
    for spec in args.pair:
        new, srcs = spec.split("=", 1)
        logs.setdefault(new.split(":")[0], new.split(":", 1)[1] if ":" in new else new)
        cases.append((new.split(":")[0], [(s, logs.get(s, s)) for s in srcs.split("+")]))
    print(f"load {os.getloadavg()[0]:.1f}; {' '.join(sys.argv)}")
    print(f"{'handling':>8} {'new store':<12} {'prior from':<24} {'without':>8} {'with':>8} {'ratio':>6}")
    for handling in args.handling_s or [12.0]:
        timing = RobotTiming.for_store(store, handling_s=handling)
        for new, srcs in cases:
            sales, _ = read_log(Path(logs[new]), store)
            t0 = (math.floor(sales[-1].t / DAY_S) + 1 - args.days) * DAY_S
            started = time.perf_counter()
            prior = build_prior(source(n, p, store, t0) for n, p in srcs)
            without, _ = first_week(store, timing, sales, args.days, None)
            with_, model = first_week(store, timing, sales, args.days, prior)
            ratio = with_.lost / without.lost if without.lost else float("nan")
            names = "+".join(n for n, _ in srcs)
            print(
                f"{handling:>8g} {new:<12} {names:<24} {without.lost:>8} {with_.lost:>8} {ratio:>6.2f}"
                f"  (demanded {without.demanded}; scale {model.fleet_scale:.2f}; {time.perf_counter() - started:.0f} s)",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
