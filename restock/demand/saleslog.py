"""Sales logs: the CSV format the simulator replays and the planner imports as history.

Format (UTF-8 text, comma-separated, RFC 4180 quoting)::

    # lines starting with '#' are comments (before or between records)
    timestamp,sku,quantity,lane_id
    2026-07-20T08:01:12.250Z,cola_500,1,r1_l01
    2026-07-20T08:01:40Z,water_500,2,
    1784534500.0,coffee_can,1

- The header is required and names the columns in this order; ``lane_id`` is optional (the
  column may be left out entirely, or left empty on a line).
- The file is UTF-8 (a byte order mark before the header is allowed); a field in double
  quotes may hold commas, quotes (doubled) and line breaks.
- ``timestamp``: either ISO-8601 with date and time (``2026-07-20T08:01:12Z``; a ``+hh:mm``
  offset is converted to UTC; a time without an offset is taken as UTC, the store's local time
  in this project) or a number, seconds since the Unix epoch (UTC) in plain decimal
  (``1784534500`` or ``1784534500.25``: no exponent, sign, ``nan`` or ``inf``). Either way the
  time lies between 2000-01-01 and 2100-01-01. Lines must be in non-decreasing time order.
- ``sku``: a SKU id; checked against the store's SKUs when a store is given. A till's spelling of
  a store's SKU (another case, spaces or hyphens for underscores: ``Cola 500``, ``COLA-500``) is
  read as that SKU when it names exactly one (:func:`canonical_sku`).
- ``quantity``: a positive whole number of containers (1 to 1000) in ASCII digits only (no
  sign, decimal point, ``_`` or other scripts' digits).
- ``lane_id``: the lane the containers were taken from, if known; checked against the store.

:func:`write_sales_log` writes ISO-8601 UTC timestamps with milliseconds and a ``Z``.
Every problem in a file raises :class:`SalesLogError` naming the file, the line and the column.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO, Protocol

from restock.records import SaleEvent
from restock.store.description import Store
from restock.yamlfile import decode_utf8

COLUMNS = ("timestamp", "sku", "quantity", "lane_id")
REQUIRED = COLUMNS[:3]
MAX_QUANTITY = 1000
# Times a till can have written: anything outside is a corrupt or hostile field.
EARLIEST, LATEST = 946_684_800.0, 4_102_444_800.0  # 2000-01-01, 2100-01-01 (UTC)
# One record's limits: a quoted field left open must not swallow the rest of the file.
MAX_LINE_BYTES = 64 * 1024
MAX_RECORD_LINES = 16

_EPOCH = re.compile(r"[0-9]{1,11}(\.[0-9]{1,9})?")
_ISO = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.,][0-9]{1,9})?)?([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)?"
)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_QUANTITY = re.compile(r"-?[0-9]+")


class SalesLogError(ValueError):
    """A sales log that cannot be read; the message names the file, line and column."""


class SaleLike(Protocol):
    """A sale with a time, a SKU and a quantity: restock.records.SaleEvent or demand.generator.Sale."""

    @property
    def sku(self) -> str: ...

    @property
    def quantity(self) -> int: ...


def parse_timestamp(text: str) -> float:
    """Seconds since the epoch from ISO-8601 (UTC if no offset) or plain decimal epoch seconds,
    between 2000 and 2100; ValueError saying why otherwise."""
    text = text.strip()
    if not text:
        raise ValueError("empty timestamp")
    if _EPOCH.fullmatch(text):
        value = float(text)
    elif _ISO.fullmatch(text):
        iso = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
        try:
            dt = datetime.fromisoformat(iso)
        except ValueError as err:  # the 31st of February, hour 25
            raise ValueError(f"{text!r} is not a time that exists ({err})") from None
        value = (dt if dt.tzinfo is not None else dt.replace(tzinfo=timezone.utc)).timestamp()
    elif _DATE.fullmatch(text):
        raise ValueError(f"{text!r} has a date but no time of day")
    else:
        raise ValueError(
            f"{text!r} is neither ISO-8601 (2026-07-20T08:01:12Z) nor epoch seconds in plain decimal (1784534472)"
        )
    if not EARLIEST <= value < LATEST:
        raise ValueError(f"{text!r} is not between 2000-01-01 and 2100-01-01")
    return value


def parse_quantity(text: str) -> int:
    """A quantity as the format writes it: ASCII digits, 1 to MAX_QUANTITY; ValueError otherwise."""
    if not _QUANTITY.fullmatch(text):
        raise ValueError(f"{text!r} is not a whole number in digits 0-9")
    if text.startswith("-"):
        raise ValueError(f"negative quantity {text}")
    if len(text) > 4 or not 1 <= int(text) <= MAX_QUANTITY:
        raise ValueError(f"{text} is outside 1..{MAX_QUANTITY}")
    return int(text)


def _sku_key(name: str) -> str:
    return "_".join(re.split(r"[\s_-]+", name.strip().casefold()))


def canonical_sku(name: str, skus: Iterable[str]) -> str | None:
    """The store's SKU that ``name`` spells (itself, or the one SKU equal up to case, spaces,
    hyphens and underscores); None when it names none or more than one."""
    skus = list(skus)
    if name in skus:
        return name
    key = _sku_key(name)
    matches = [s for s in skus if _sku_key(s) == key]
    return matches[0] if len(matches) == 1 else None


def format_timestamp(t: float) -> str:
    """ISO-8601 UTC with milliseconds and a Z."""
    dt = datetime.fromtimestamp(t, tz=timezone.utc)
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def read_sales_log(
    path: str | Path,
    store: Store | None = None,
    in_order: bool = True,
    renamed: dict[str, str] | None = None,
    unknown: dict[str, int] | None = None,
) -> list[SaleEvent]:
    """Read a sales log into SaleEvent records (source "log"), checking every line.

    ``in_order=False``: lines out of time order are taken (a real till's export) and the events
    come back sorted by time (stable: equal times keep the file's order). With a store, a SKU
    spelled another way is read as the store's (:func:`canonical_sku`); ``renamed`` collects
    each such spelling and the SKU it was read as. ``unknown``: sales of SKUs the store does not
    sell are left out and counted there by name (else they are an error)."""
    path = Path(path)
    try:
        handle = path.open("rb")
    except OSError as err:
        raise SalesLogError(f"{path}: cannot read the sales log ({err.strerror})") from None
    lanes = store.lane_by_id if store is not None else None
    events: list[SaleEvent] = []
    with handle:
        header: list[str] | None = None
        last_t = -math.inf
        for line_no, row in _records(handle, path):
            if not row or all(not cell.strip() for cell in row):
                continue
            if header is None:
                header = [c.strip() for c in row]
                if tuple(header) not in (REQUIRED, COLUMNS):
                    got = ascii(",".join(header))  # an invisible or look-alike character shows as an escape
                    raise SalesLogError(
                        f"{path}: line {line_no}: header must be {','.join(REQUIRED)} (optionally ,lane_id), got {got}"
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
            if in_order and t < last_t:
                raise fail(
                    "timestamp", f"{cells['timestamp']} is earlier than the line before (lines must be in time order)"
                )
            last_t = t
            sku = cells["sku"]
            if not sku:
                raise fail("sku", "empty SKU")
            if store is not None and sku not in store.skus:
                known = canonical_sku(sku, store.skus)
                if known is None and unknown is not None:
                    unknown[sku] = unknown.get(sku, 0) + 1
                    continue
                if known is None:
                    raise fail("sku", f"unknown SKU {sku!r}; the store sells {sorted(store.skus)}")
                if renamed is not None:
                    renamed[sku] = known
                sku = known
            try:
                quantity = parse_quantity(cells["quantity"])
            except ValueError as err:
                raise fail("quantity", str(err)) from None
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
    return events if in_order else sorted(events, key=lambda e: e.stamp)


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


class _Lines:
    """The file's lines, decoded one at a time, for csv.reader: comment lines between records
    are skipped, and each record's first line number is kept for its errors."""

    def __init__(self, handle: BinaryIO, path: Path) -> None:
        self.handle, self.path = handle, path
        self.line_no = 0  # lines read so far
        self.byte = 0  # where the next line starts in the file
        self.record_line = 0  # the first line of the record being read
        self.between_records = True  # set by the reader after each record

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        while True:
            raw = self.handle.readline(MAX_LINE_BYTES + 1)
            if not raw:
                raise StopIteration
            self.line_no += 1
            if len(raw) > MAX_LINE_BYTES:
                raise SalesLogError(f"{self.path}: line {self.line_no}: longer than {MAX_LINE_BYTES:,} bytes")
            line = decode_utf8(raw, str(self.path), SalesLogError, line=self.line_no, byte=self.byte)
            self.byte += len(raw)
            if self.between_records:
                if line.lstrip().startswith("#"):
                    continue
                self.record_line, self.between_records = self.line_no, False
            elif self.line_no - self.record_line >= MAX_RECORD_LINES:
                raise SalesLogError(
                    f"{self.path}: line {self.record_line}: a quoted field runs on past {MAX_RECORD_LINES} lines "
                    "(a quote left open?)"
                )
            return line


def _records(handle: BinaryIO, path: Path) -> Iterator[tuple[int, list[str]]]:
    """(first line number, cells) of each CSV record; a quoted field may span lines."""
    lines = _Lines(handle, path)
    reader = csv.reader(lines, strict=True)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            why = "a quoted field is not closed" if "end of data" in str(err) else str(err)
            raise SalesLogError(f"{path}: line {lines.record_line}: not a CSV record ({why})") from None
        lines.between_records = True
        yield lines.record_line, row
