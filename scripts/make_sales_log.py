"""Write a sales log (the documented CSV, restock.demand.saleslog) sampled from the demand model.

    .venv/bin/python scripts/make_sales_log.py --store station_kiosk --start 2026-07-06T00:00:00 \
        --days 1 --seed 11 --out config/sales_logs/station_kiosk_2026-07-06.csv

The customers of `restock sim --sales-log FILE` then replay it (and `restock eval-planner
--sales-log FILE` reads the same format). ``--containers-per-day`` scales the model's year-average
daily total (0: the store's default demand). No lane is written: the simulator's customer takes
from one of the SKU's stocked lanes.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from restock.demand.generator import DemandGenerator
from restock.demand.saleslog import write_sales_log
from restock.paths import store_file
from restock.sim.world import parse_time
from restock.store.description import load_store


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", default="station_kiosk")
    ap.add_argument("--start", default="2026-07-06T00:00:00", help="first sale no earlier than this (ISO 8601 UTC)")
    ap.add_argument("--days", type=float, default=1.0)
    ap.add_argument("--containers-per-day", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    store = load_store(store_file(args.store))
    gen = (
        DemandGenerator.for_daily_total(store, args.containers_per_day, seed=args.seed)
        if args.containers_per_day > 0
        else DemandGenerator(store, seed=args.seed)
    )
    t0 = parse_time(args.start)
    sales = sorted(gen.sample(t0, t0 + args.days * 86400.0, np.random.default_rng(args.seed)), key=lambda s: s.t)
    n = write_sales_log(args.out, sales)
    print(f"wrote {n} sales ({sum(s.quantity for s in sales)} containers) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
