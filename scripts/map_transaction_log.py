"""Map a public shop transaction log onto a store's SKUs and write our sales log (timestamp,sku,quantity).

    .venv/bin/python scripts/map_transaction_log.py --in /work/data/bakery.csv \
        --store corner_store --containers-per-day 1000 --seed 0 --out /work/data/bakery_sales.csv

The input is a transaction log with the columns ``Date,Time,Transaction,Item`` (one line per
item sold, as the bakery transaction logs published for basket analysis are: ``2016-10-30,
09:58:11,1,Bread``), or in another shape the user names: one column with date and time
(``--time-column``, ``--time-format`` if it is not ISO), one column per item holding quantities
(``--item-columns FIRST:LAST``, as order exports are), a quantity per line (``--quantity-column``;
returns and voids, zero or negative, are skipped and counted). Lines with no time at all are
skipped and lines out of order sorted, and both are said; ``--drop-duplicate-lines`` drops a line
repeating the one before exactly (an export written twice; two of one item in a basket look the
same, so it is asked for). A missing column stops the run naming what the header has and the
option that reads it. Each item becomes one container of one of the store's SKUs: the items named
in :data:`ITEM_SKU` go where it says (the drinks to the drink they are nearest, the most sold
foods spread over the rest), any other item to a SKU chosen by a stable hash of its name, and
placeholder items (``NONE``) are dropped; with ``--spread``, the items not named go one by one,
most sold first, to the SKU that has sold least (a few dozen items hashed onto 8 SKUs can leave
some SKUs with almost nothing). A log of several stores of one chain (a column naming
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
import math
import sys
from dataclasses import dataclass, field
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


def spread(counts: dict[str, int], skus: list[str]) -> dict[str, str]:
    """Items (by :func:`item_key`) onto SKUs so that every SKU sells: those in :data:`ITEM_SKU` where
    it says, the rest one by one, most sold first, to the SKU that has sold least so far. A log of a
    few dozen items hashed onto 8 SKUs leaves some with almost nothing (``--spread``)."""
    load = dict.fromkeys(skus, 0)
    table: dict[str, str] = {}
    for key, n in counts.items():
        if key in ITEM_SKU and ITEM_SKU[key] in load:
            table[key] = ITEM_SKU[key]
            load[table[key]] += n
    for key, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if key not in table and key not in DROPPED:
            table[key] = min(sorted(load), key=lambda s: load[s])
            load[table[key]] += n
    return table


@dataclass
class Shape:
    """How a log's lines hold their time and items (the user names what the file has).

    ``time_column``: one column with date and time (``2019-07-11 15:35``, ``2009-12-01T07:45:00``;
    ``time_format``: a strptime format for any other spelling), else ``Date`` and ``Time``.
    ``item_columns``: one column per item, its cell the quantity sold (blank: none), else one
    ``Item`` column per line, ``quantity_column`` its count (else one).
    """

    time_column: str = ""
    time_format: str = ""
    item_columns: tuple[str, ...] = ()
    quantity_column: str = ""
    drop_duplicates: bool = False


@dataclass
class ReadNotes:
    """What reading did to a real log's lines, said to the user (none of it is an error)."""

    no_time: list[int] = field(default_factory=list)  # lines with no time at all: skipped
    returns: int = 0  # lines of zero or negative quantity (returns, voids): skipped
    out_of_order: int = 0  # lines earlier than a line before them: sorted
    duplicates: int = 0  # lines repeating the one before exactly: dropped (``drop_duplicates``)

    def lines(self) -> list[str]:
        out = []
        if self.no_time:
            first = ", ".join(str(n) for n in self.no_time[:5]) + (" ..." if len(self.no_time) > 5 else "")
            out.append(f"skipped {len(self.no_time)} lines with no time (line {first})")
        if self.returns:
            out.append(f"skipped {self.returns} lines of zero or negative quantity (returns, voids)")
        if self.out_of_order:
            out.append(f"{self.out_of_order} lines were earlier than a line before them: sorted")
        if self.duplicates:
            out.append(f"dropped {self.duplicates} lines repeating the line before them exactly")
        return out


def _need_columns(path: Path, header: list[str], shape: Shape, location: tuple[str, str] | None) -> None:
    """Stop with what the file has and the option that reads it, when a column the shape needs is missing."""
    have = set(header)
    shown = ", ".join(header[:12]) + (" ..." if len(header) > 12 else "")
    if shape.time_column:
        if shape.time_column not in have:
            raise SystemExit(f"{path}: no column {shape.time_column!r} (--time-column); the header has: {shown}")
    elif not {"Date", "Time"} <= have:
        guess = [h for h in header if "date" in h.lower() or "time" in h.lower()]
        hint = f" ({', '.join(guess)}?)" if guess else ""
        raise SystemExit(
            f"{path}: no Date and Time columns; the header has: {shown}. A column holding both: "
            f"--time-column COLUMN{hint}, with --time-format if it is not ISO (e.g. '%m/%d/%Y %H:%M')"
        )
    missing = [c for c in shape.item_columns if c not in have]
    if missing:
        raise SystemExit(f"{path}: item columns {missing} not in the header: {shown}")
    if not shape.item_columns and "Item" not in have:
        raise SystemExit(
            f"{path}: no Item column; the header has: {shown}. One column per item, each cell a quantity: "
            "--item-columns FIRST:LAST (or a comma list); an item column of another name: rename it Item"
        )
    if shape.quantity_column and shape.quantity_column not in have:
        raise SystemExit(f"{path}: no column {shape.quantity_column!r} (--quantity-column); the header has: {shown}")
    if location is not None and location[0] not in have:
        raise SystemExit(f"{path}: no column {location[0]!r} (--location-column); the header has: {shown}")


def _row_time(path: Path, n: int, row: dict[str, str], shape: Shape) -> float | None:
    """Epoch seconds of a line (its time as the store's local time, UTC here); None: the line has no time."""
    text = (
        row[shape.time_column].strip() if shape.time_column else f"{row['Date'].strip()} {row['Time'].strip()}".strip()
    )
    if not text:
        return None
    try:
        if shape.time_format:
            dt = datetime.strptime(text, shape.time_format)
        else:
            dt = datetime.fromisoformat(text if shape.time_column else f"{row['Date'].strip()}T{row['Time'].strip()}")
    except ValueError:
        how = f"format {shape.time_format!r}" if shape.time_format else "ISO date and time; --time-format for others"
        raise SystemExit(f"{path}: line {n}: time {text!r} does not read ({how})") from None
    return dt.replace(tzinfo=timezone.utc).timestamp()


def _count(path: Path, n: int, column: str, text: str) -> int:
    """A cell's quantity: a whole number (``3``, ``3.0``); blank is 0."""
    text = text.strip()
    if not text:
        return 0
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value != round(value) or abs(value) > 100_000:
        raise SystemExit(f"{path}: line {n}: column {column!r}: {text!r} is not a whole number of items")
    return int(value)


def _row_items(path: Path, n: int, row: dict[str, str], shape: Shape) -> list[tuple[str, int]]:
    """(item, quantity) sold on one line, as the file names them."""
    if shape.item_columns:
        return [(c, _count(path, n, c, row[c] or "")) for c in shape.item_columns]
    q = _count(path, n, shape.quantity_column, row[shape.quantity_column] or "") if shape.quantity_column else 1
    return [(row["Item"] or "", q)]


def read_transactions(
    path: Path,
    skus: list[str],
    names: dict[str, dict[str, int]] | None = None,
    location: tuple[str, str] | None = None,
    shape: Shape | None = None,
    notes: ReadNotes | None = None,
    table: dict[str, str] | None = None,
) -> list[tuple[float, str]]:
    """(epoch seconds, sku) per item sold, in time order; ``names``: per SKU, the items (as the
    file spells them) mapped to it and how often; ``location``: (column, value): only the lines of
    that store; ``shape``: how the lines hold time and items; ``notes``: what was skipped or sorted;
    ``table``: item keys to SKUs (:func:`spread`), else :func:`sku_for`; with ``skus`` empty, the
    item keys themselves (to count them)."""
    shape = shape or Shape()
    notes = notes if notes is not None else ReadNotes()
    out: list[tuple[float, str]] = []
    last_t, last_row = -math.inf, None
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        _need_columns(path, list(reader.fieldnames or []), shape, location)
        for n, row in enumerate(reader, start=2):
            if location is not None and (row[location[0]] or "").strip() != location[1]:
                continue
            if shape.drop_duplicates and row == last_row:
                notes.duplicates += 1
                continue
            last_row = row
            t = _row_time(path, n, row, shape)
            if t is None:
                notes.no_time.append(n)
                continue
            if t < last_t:
                notes.out_of_order += 1
            last_t = max(last_t, t)
            for item, q in _row_items(path, n, row, shape):
                key = item_key(item)
                if not skus:
                    sku = None if key in DROPPED else key
                else:
                    sku = table.get(key) if table is not None else sku_for(item, skus)
                if q < 0 or (q == 0 and not shape.item_columns):
                    notes.returns += 1
                if sku is None or q <= 0:
                    continue
                out.extend([(t, sku)] * q)
                if names is not None:
                    spelled = names.setdefault(sku, {})
                    spelled[item.strip()] = spelled.get(item.strip(), 0) + q
    out.sort(key=lambda x: x[0])
    return out


def item_columns(header: list[str], spec: str) -> tuple[str, ...]:
    """``FIRST:LAST`` (a run of the header, both included) or a comma list of column names."""
    if ":" in spec:
        first, last = (x.strip() for x in spec.split(":", 1))
        if first not in header or last not in header or header.index(first) > header.index(last):
            raise SystemExit(f"--item-columns {spec!r}: need FIRST:LAST in header order; the header has: {header}")
        return tuple(header[header.index(first) : header.index(last) + 1])
    return tuple(c.strip() for c in spec.split(",") if c.strip())


def header_of(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return next(csv.reader(handle), [])


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
    ap.add_argument("--in", dest="source", type=Path, required=True, help="a transaction log (CSV with a header)")
    ap.add_argument("--store", default="corner_store")
    ap.add_argument("--containers-per-day", type=float, default=1000.0, help="target over the open days")
    ap.add_argument("--replicas", type=int, default=0, help="copies of each sale (0: from --containers-per-day)")
    ap.add_argument("--jitter-min", type=float, default=20.0, help="each copy moves by up to this many minutes")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--location-column", default="", help="a chain's log: the column naming each line's store")
    ap.add_argument("--location", default="", help="with --location-column: map only this store's lines")
    ap.add_argument("--time-column", default="", help="one column with date and time (else Date and Time)")
    ap.add_argument(
        "--time-format", default="", help="strptime format of the times, if not ISO ('%%m/%%d/%%Y %%H:%%M')"
    )
    ap.add_argument("--item-columns", default="", help="one column per item, cells quantities: FIRST:LAST or A,B,C")
    ap.add_argument("--quantity-column", default="", help="a line's count of its Item (else 1)")
    ap.add_argument("--spread", action="store_true", help="items onto SKUs by volume, so every SKU sells")
    ap.add_argument("--drop-duplicate-lines", action="store_true", help="drop a line repeating the one before exactly")
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
    columns = item_columns(header_of(args.source), args.item_columns) if args.item_columns else ()
    shape = Shape(args.time_column, args.time_format, columns, args.quantity_column, args.drop_duplicate_lines)
    notes = ReadNotes()
    table = None
    if args.spread:
        counts: dict[str, int] = {}
        for _, key in read_transactions(args.source, [], None, where, shape, ReadNotes()):
            counts[key] = counts.get(key, 0) + 1
        table = spread(counts, skus)
    items = read_transactions(args.source, skus, names, where, shape, notes, table)
    for line in notes.lines():
        print(f"{args.source}: {line}")
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
