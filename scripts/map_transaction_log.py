"""Map a public shop transaction log onto a store's SKUs and write our sales log (timestamp,sku,quantity).

    .venv/bin/python scripts/map_transaction_log.py --in /work/data/bakery.csv \
        --store corner_store --containers-per-day 1000 --seed 0 --out /work/data/bakery_sales.csv

The input is a transaction log with the columns ``Date,Time,Transaction,Item`` (one line per
item sold, as the bakery transaction logs published for basket analysis are: ``2016-10-30,
09:58:11,1,Bread``). Each item becomes one container of one of the store's SKUs: the items named
in :data:`ITEM_SKU` go where it says (the drinks to the drink they are nearest, the most sold
foods spread over the rest), any other item to a SKU chosen by a stable hash of its name, and
placeholder items (``NONE``) are dropped. A log of several stores of one chain (a column naming
the store on each line) is mapped one store at a time with ``--location-column COL --location
NAME``: every store's items map to the same SKUs, so each store's log can be a new store whose
fleet prior comes from the others (``--location-column COL`` alone lists the stores and their
lines). To reach a robot's load, each sale is replayed ``k`` times (``k`` from
``--containers-per-day`` over the log's open days, or ``--replicas``), each copy moved by a
uniform jitter of up to ``--jitter-min`` minutes, so the log's hour-of-day, weekday and seasonal
shape and its peaks stay while the volume grows. Closed days stay closed (the jitter never moves a
sale across midnight). The log's own times are taken as the store's local time (UTC
in this project). Nothing is downloaded: bring the file; keep it out of the repository.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from restock.demand.generator import Sale
from restock.demand.saleslog import write_sales_log
from restock.paths import store_file
from restock.store.description import load_store

# Items of the bakery logs (and their like) by the corner store's SKU they stand for. Drinks go to
# the nearest drink; the most sold foods are spread so that every SKU has a real demand curve.
ITEM_SKU = {
    "coffee": "coffee_can",
    "tea": "green_tea_500",
    "hot chocolate": "energy_can",
    "juice": "orange_juice",
    "smoothies": "orange_juice",
    "coke": "cola_500",
    "mineral water": "water_500",
    "bread": "water_500",
    "cake": "cola_500",
    "pastry": "lemon_soda_500",
    "sandwich": "sports_500",
    "medialuna": "lemon_soda_500",
    "cookies": "energy_can",
    "brownie": "sports_500",
    "muffin": "orange_juice",
}
DROPPED = {"none", "adjustment", ""}


def item_key(item: str) -> str:
    return " ".join(item.split()).casefold()


def sku_for(item: str, skus: list[str]) -> str | None:
    """The SKU an item maps to (None: not an item), the same on every run and for every spelling
    that differs only in case or spacing ("Americano with Milk", "americano  with milk")."""
    key = item_key(item)
    if key in DROPPED:
        return None
    if key in ITEM_SKU and ITEM_SKU[key] in skus:
        return ITEM_SKU[key]
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return sorted(skus)[int.from_bytes(digest[:4], "big") % len(skus)]


def read_transactions(
    path: Path,
    skus: list[str],
    names: dict[str, dict[str, int]] | None = None,
    location: tuple[str, str] | None = None,
) -> list[tuple[float, str]]:
    """(epoch seconds, sku) per item sold, in file order; ``names``: per SKU, the items (as the
    file spells them) mapped to it and how often; ``location``: (column, value): only the lines of
    that store."""
    out = []
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"Date", "Time", "Item"} - set(reader.fieldnames or [])
        if location is not None and location[0] not in (reader.fieldnames or []):
            missing.add(location[0])
        if missing:
            raise SystemExit(f"{path}: columns {sorted(missing)} missing (need Date,Time,Transaction,Item)")
        for n, row in enumerate(reader, start=2):
            if location is not None and row[location[0]].strip() != location[1]:
                continue
            sku = sku_for(row["Item"], skus)
            if sku is None:
                continue
            try:
                dt = datetime.fromisoformat(f"{row['Date'].strip()}T{row['Time'].strip()}")
            except ValueError:
                raise SystemExit(f"{path}: line {n}: bad Date/Time {row['Date']!r} {row['Time']!r}") from None
            out.append((dt.replace(tzinfo=timezone.utc).timestamp(), sku))
            if names is not None:
                spelled = names.setdefault(sku, {})
                spelled[row["Item"].strip()] = spelled.get(row["Item"].strip(), 0) + 1
    return out


def locations(path: Path, column: str) -> dict[str, int]:
    """Lines per store in a chain's log, busiest first."""
    counts: dict[str, int] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if column not in (reader.fieldnames or []):
            raise SystemExit(f"{path}: column {column!r} missing")
        for row in reader:
            counts[row[column].strip()] = counts.get(row[column].strip(), 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def replay(items: list[tuple[float, str]], k: int, jitter_s: float, rng: np.random.Generator) -> list[Sale]:
    """Each item k times, jittered uniformly within +-jitter_s but kept on its own day; time order."""
    if not items:
        return []
    t = np.repeat(np.array([x[0] for x in items]), k)
    sku = np.repeat(np.array([x[1] for x in items]), k)
    day0 = np.floor(t / 86400.0) * 86400.0
    moved = np.clip(t + rng.uniform(-jitter_s, jitter_s, t.size), day0, day0 + 86399.999)
    order = np.argsort(moved, kind="stable")
    return [Sale(float(moved[i]), str(sku[i]), 1) for i in order]


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--in", dest="source", type=Path, required=True, help="Date,Time,Transaction,Item CSV")
    ap.add_argument("--store", default="corner_store")
    ap.add_argument("--containers-per-day", type=float, default=1000.0, help="target over the open days")
    ap.add_argument("--replicas", type=int, default=0, help="copies of each sale (0: from --containers-per-day)")
    ap.add_argument("--jitter-min", type=float, default=20.0, help="each copy moves by up to this many minutes")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--location-column", default="", help="a chain's log: the column naming each line's store")
    ap.add_argument("--location", default="", help="with --location-column: map only this store's lines")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    if args.location_column and not args.location:
        for name, n in locations(args.source, args.location_column).items():
            print(f"{name}\t{n}")
        return 0
    if args.out is None:
        ap.error("--out is needed")
    store = load_store(store_file(args.store))
    skus = sorted(store.skus)
    names: dict[str, dict[str, int]] = {}
    where = (args.location_column, args.location) if args.location_column else None
    items = read_transactions(args.source, skus, names, where)
    if not items:
        print(f"{args.source}: no items", file=sys.stderr)
        return 2
    open_days = len({int(t // 86400) for t, _ in items})
    k = args.replicas or max(1, round(args.containers_per_day * open_days / len(items)))
    sales = replay(items, k, args.jitter_min * 60.0, np.random.default_rng(args.seed))
    n = write_sales_log(args.out, sales)
    shares = {s: sum(1 for x in items if x[1] == s) / len(items) for s in skus}
    print(f"{args.source}: {len(items)} items on {open_days} open days; {k} replicas each")
    print(f"wrote {n} sales to {args.out}: {n / open_days:.0f} containers per open day")
    print("share by SKU: " + ", ".join(f"{s} {100 * v:.1f}%" for s, v in shares.items()))
    for s in skus:  # what each SKU stands for: check the shares make sense
        top = sorted(names.get(s, {}).items(), key=lambda kv: -kv[1])
        print(f"  {s}: " + ", ".join(f"{name} ({n})" for name, n in top[:6]) + (" ..." if len(top) > 6 else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
