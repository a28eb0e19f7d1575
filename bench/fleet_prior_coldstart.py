"""A new store's first week with the fleet prior against without it, for every store of a chain.

Issue 19's cold start: a new store's learned planner starts from a prior pooled from the chain's
other stores (restock.demand.prior) instead of the generic one. Each ``--log NAME=FILE`` is one
store's sales log, mapped onto the same store description (scripts/map_transaction_log.py
``--location-column``: one log per store of a chain's log). Each store in turn is the new store:
its last ``--days`` days are replayed with no history, by the learned planner without a prior and
with a prior built from the other stores' logs up to the first replayed day (no store's future is
in the prior; a log wholly after that day, another period's shop, is taken whole). ``--pair
NEW=SRC[+SRC...]`` adds a case by the logs' names (``gen:STORE:PER_DAY:SEED``: a generated store
as a source; ``--pairs-only``: only those). Prints lost sales without and with the prior, their
ratio (goal <= 0.7) and, with ``--own-history``, the store's own whole log as its history instead.

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
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout, not an installed copy

from restock.demand.generator import DemandGenerator
from restock.demand.model import DAY_S, DemandModel, DemandPrior
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
    if not before:  # a log of a later period (another year's shop): taken whole
        before, until = [(s.t, s.sku, s.quantity) for s in events], math.inf
    # The source's history ends where its log does, if that is earlier (another period's shop).
    until = min(until, (math.floor(before[-1][0] / DAY_S) + 1) * DAY_S)
    return source_from_sales(name, before, until, lanes, kinds)


def first_week(
    store: Store,
    timing: RobotTiming,
    sales: list[SaleIn],
    t0: float,
    t1: float,
    prior: FleetPrior | None,
    own_history: bool = False,
    guard: bool = True,
    seed: int = 0,
) -> tuple[Outcome, DemandModel]:
    """The learned planner on a store's days from t0 to t1 with no history (``prior``: the fleet's;
    ``own_history``: the store's whole log before them instead, what a prior can hope to reach;
    ``guard`` False: the prior trusted whatever the store's sales say, as before the guard)."""
    model = DemandModel(lanes_per_sku(store), None if guard else DemandPrior(fleet_prior_odds=math.inf))
    if prior is not None:
        model.set_fleet(prior, {sku: spec.kind for sku, spec in store.skus.items()})
    if own_history:
        model.learn_log(((s.t, s.sku, s.quantity) for s in sales if s.t < t0), t0)
        model.fit()
    store_model = StoreModel(store, timing)
    policy = PlannerPolicy("learned", timing, store_model.lanes, model=model, alerts=AlertConfig())
    return store_model.run(policy, [s for s in sales if t0 <= s.t < t1], t0, t1, seed=seed), model


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--log", action="append", default=[], metavar="NAME=FILE", help="one store of a chain")
    ap.add_argument(
        "--pair", action="append", default=[], metavar="NEW=SRC[+SRC]", help="names of --log, or gen:STORE:PER_DAY:SEED"
    )
    ap.add_argument("--pairs-only", action="store_true", help="only the --pair cases, not each --log in turn")
    ap.add_argument("--store", default="corner_store.yaml")
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--seed", type=int, default=0, help="which stocked lane each customer takes")
    ap.add_argument("--end", default="", help="YYYY-MM-DD: the new store's days end here (default: its log's end)")
    ap.add_argument("--handling-s", type=float, action="append", default=[])
    ap.add_argument("--own-history", action="store_true", help="also the store with its whole log as history")
    ap.add_argument("--unguarded", action="store_true", help="also the prior trusted regardless (no guard)")
    args = ap.parse_args(argv)
    store = load_store(store_file(args.store))
    logs = dict(x.split("=", 1) for x in args.log)
    cases: list[tuple[str, list[tuple[str, str]]]] = []
    for new in logs:
        cases.append((new, [(n, p) for n, p in logs.items() if n != new]))
    for spec in args.pair:
        new, srcs = spec.split("=", 1)
        cases.append((new, [(s, logs.get(s, s)) for s in srcs.split("+")]))
    if args.pairs_only:
        cases = cases[len(logs) :]
    print(f"load {os.getloadavg()[0]:.1f}; {' '.join(sys.argv)}")
    print(
        f"{'handling':>8} {'new store':<12} {'prior from':<24} {'without':>8} {'with':>8} {'ratio':>6}"
        + (f" {'unguarded':>9}" if args.unguarded else "")
        + (f" {'own year':>8}" if args.own_history else "")
    )
    for handling in args.handling_s or [12.0]:
        timing = RobotTiming.for_store(store, handling_s=handling)
        for new, srcs in cases:
            sales, _ = read_log(Path(logs[new]), store)
            t1 = (math.floor(sales[-1].t / DAY_S) + 1) * DAY_S
            if args.end:
                t1 = datetime.fromisoformat(args.end).replace(tzinfo=timezone.utc).timestamp()
            t0 = t1 - args.days * DAY_S
            started = time.perf_counter()
            prior = build_prior(source(n, p, store, t0) for n, p in srcs)
            without, _ = first_week(store, timing, sales, t0, t1, None, seed=args.seed)
            with_, model = first_week(store, timing, sales, t0, t1, prior, seed=args.seed)
            ratio = with_.lost / without.lost if without.lost else float("nan")
            names = "+".join(n for n, _ in srcs)
            own = ""
            if args.unguarded:
                own += f" {first_week(store, timing, sales, t0, t1, prior, guard=False, seed=args.seed)[0].lost:>9}"
            if args.own_history:
                own += f" {first_week(store, timing, sales, t0, t1, None, True, seed=args.seed)[0].lost:>8}"
            print(
                f"{handling:>8g} {new:<12} {names:<24} {without.lost:>8} {with_.lost:>8} {ratio:>6.2f}{own}"
                f"  (demanded {without.demanded}; scale {model.fleet_scale:.2f}, weight {model.fleet_weight:.2f}; "
                f"{time.perf_counter() - started:.0f} s)",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
