"""Sales logs: the CSV format the simulator replays and the planner imports as history.

Format (UTF-8 text, comma-separated, RFC 4180 quoting)::

    # lines starting with '#' are comments (before or between records)
    timestamp,sku,quantity,lane_id
    2026-07-20T08:01:12.250Z,cola_500,1,r1_l01
    2026-07-20T08:01:40Z,water_500,2,
    1784534500.0,coffee_can,1

- The header is required and names the columns in this order; ``lane_id`` is optional (the
  column may be left out entirely, or left empty on a line).
- ``timestamp``: either ISO-8601 with date and time (``2026-07-20T08:01:12Z``; a ``+hh:mm``
  offset is converted to UTC; a time without an offset is taken as UTC, the store's local time
  in this project) or a number, seconds since the Unix epoch (UTC). Lines must be in
  non-decreasing time order.
- ``sku``: a SKU id; checked against the store's SKUs when a store is given.
- ``quantity``: a positive whole number of containers (1 to 1000).
- ``lane_id``: the lane the containers were taken from, if known; checked against the store.

:func:`write_sales_log` writes ISO-8601 UTC timestamps with milliseconds and a ``Z``.
Every problem in a file raises :class:`SalesLogError` naming the file, the line and the column.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

from restock.records import SaleEvent
from restock.store.description import Store

COLUMNS = ("timestamp", "sku", "quantity", "lane_id")
REQUIRED = COLUMNS[:3]
MAX_QUANTITY = 1000


class SalesLogError(ValueError):
    """A sales log that cannot be read; the message names the file, line and column."""


class SaleLike(Protocol):
    """A sale with a time, a SKU and a quantity: restock.records.SaleEvent or demand.generator.Sale."""

    @property
    def sku(self) -> str: ...

    @property
    def quantity(self) -> int: ...


def parse_timestamp(text: str) -> float:
    """Seconds since the epoch from ISO-8601 (UTC if no offset) or a number; ValueError if neither."""
    text = text.strip()
    if not text:
        raise ValueError("empty timestamp")
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is not None:
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{text!r} is not a time since the epoch (finite, >= 0)")
        return value
    iso = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    try:
        dt = datetime.fromisoformat(iso)
    except ValueError:
        raise ValueError(f"{text!r} is neither ISO-8601 (2026-07-20T08:01:12Z) nor epoch seconds") from None
    if "T" not in iso and " " not in iso:
        raise ValueError(f"{text!r} has a date but no time of day")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    value = dt.timestamp()
    if value < 0:
        raise ValueError(f"{text!r} is before the epoch")
    return value


def format_timestamp(t: float) -> str:
    """ISO-8601 UTC with milliseconds and a Z."""
    dt = datetime.fromtimestamp(t, tz=timezone.utc)
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def read_sales_log(path: str | Path, store: Store | None = None) -> list[SaleEvent]:
    """Read a sales log into SaleEvent records (source "log"), checking every line."""
    path = Path(path)
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as err:
        raise SalesLogError(f"{path}: cannot read the sales log ({err.strerror})") from None
    lanes = store.lane_by_id if store is not None else None
    events: list[SaleEvent] = []
    with handle:
        header: list[str] | None = None
        last_t = -math.inf
        for line_no, row in _without_comments(handle, path):
            if not row or all(not cell.strip() for cell in row):
                continue
            if header is None:
                header = [c.strip() for c in row]
                if tuple(header) not in (REQUIRED, COLUMNS):
                    raise SalesLogError(
                        f"{path}: line {line_no}: header must be {','.join(REQUIRED)} (optionally ,lane_id), got {','.join(header)}"
                    )
                continue
            if len(row) != len(header):
                raise SalesLogError(f"{path}: line {line_no}: expected {len(header)} columns, got {len(row)}")
            cells = dict(zip(header, (c.strip() for c in row), strict=True))

            def fail(column: str, why: str, _line: int = line_no) -> SalesLogError:
                return SalesLogError(f"{path}: line {_line}: column {column!r}: {why}")

            try:
                t = parse_timestamp(cells["timestamp"])
            except ValueError as err:
                raise fail("timestamp", str(err)) from None
            if t < last_t:
                raise fail(
                    "timestamp", f"{cells['timestamp']} is earlier than the line before (lines must be in time order)"
                )
            last_t = t
            sku = cells["sku"]
            if not sku:
                raise fail("sku", "empty SKU")
            if store is not None and sku not in store.skus:
                raise fail("sku", f"unknown SKU {sku!r}; the store sells {sorted(store.skus)}")
            try:
                quantity = int(cells["quantity"])
            except ValueError:
                raise fail("quantity", f"{cells['quantity']!r} is not a whole number") from None
            if quantity < 0:
                raise fail("quantity", f"negative quantity {quantity}")
            if not 1 <= quantity <= MAX_QUANTITY:
                raise fail("quantity", f"{quantity} is outside 1..{MAX_QUANTITY}")
            lane_id = cells.get("lane_id") or None
            if lane_id is not None and lanes is not None:
                if lane_id not in lanes:
                    raise fail("lane_id", f"unknown lane {lane_id!r}")
                if lanes[lane_id].lane.sku != sku:
                    raise fail("lane_id", f"lane {lane_id} holds {lanes[lane_id].lane.sku}, not {sku}")
            try:
                events.append(SaleEvent(stamp=t, sku=sku, quantity=quantity, lane_id=lane_id, source="log"))
            except ValueError as err:  # pydantic: an id with characters a record does not allow
                raise SalesLogError(f"{path}: line {line_no}: {err}") from None
        if header is None:
            raise SalesLogError(f"{path}: empty sales log (no header {','.join(REQUIRED)})")
    return events


def write_sales_log(path: str | Path, events: Iterable[SaleLike]) -> int:
    """Write sales (SaleEvent records or generator Sales) as a sales log; returns the line count.

    Events are written in the order given, which must be time order (checked).
    """
    path = Path(path)
    n = 0
    last_t = -math.inf
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(COLUMNS)
        for ev in events:
            t = float(ev.stamp if isinstance(ev, SaleEvent) else ev.t)  # type: ignore[attr-defined]
            if t < last_t:
                raise SalesLogError(f"{path}: event {n + 1} at {t} is earlier than the one before")
            if int(ev.quantity) < 1:
                raise SalesLogError(f"{path}: event {n + 1}: quantity {ev.quantity} is not positive")
            last_t = t
            lane = getattr(ev, "lane_id", None) or ""
            writer.writerow((format_timestamp(t), ev.sku, int(ev.quantity), lane))
            n += 1
    return n


def _without_comments(handle: Iterable[str], path: Path) -> Iterable[tuple[int, list[str]]]:
    """(line number, cells) for each non-comment line."""
    lines = enumerate(handle, start=1)
    while True:
        try:
            line_no, line = next(lines)
        except StopIteration:
            return
        except UnicodeDecodeError as err:
            raise SalesLogError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
        if line.lstrip().startswith("#"):
            continue
        try:
            cells = next(csv.reader([line]))
        except (csv.Error, StopIteration):
            if not line.strip():
                continue
            raise SalesLogError(f"{path}: line {line_no}: not a CSV line") from None
        yield line_no, cells
