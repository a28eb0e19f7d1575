"""The sales-log CSV: round trip, both timestamp forms, and errors that name line and column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from restock.demand.generator import DemandGenerator
from restock.demand.saleslog import SalesLogError, parse_timestamp, read_sales_log, write_sales_log
from restock.paths import store_file
from restock.store.description import load_store

STORE = load_store(store_file("corner_store.yaml"))


def test_round_trip_of_generated_sales(tmp_path: Path) -> None:
    gen = DemandGenerator(STORE, seed=2)
    sales = gen.sample(1_784_505_600.0, 1_784_505_600.0 + 6 * 3600, np.random.default_rng(1))
    path = tmp_path / "sales.csv"
    assert write_sales_log(path, sales) == len(sales)
    events = read_sales_log(path, STORE)
    assert len(events) == len(sales)
    for ev, s in zip(events, sales, strict=True):
        assert ev.sku == s.sku and ev.quantity == s.quantity and ev.source == "log"
        assert ev.stamp == pytest.approx(s.t, abs=1e-3)


def test_both_timestamp_forms_comments_and_lane(tmp_path: Path) -> None:
    path = tmp_path / "sales.csv"
    path.write_text(
        "# exported from the till\n"
        "timestamp,sku,quantity,lane_id\n"
        "2026-07-20T08:00:00Z,cola_500,1,r1_l01\n"
        "2026-07-20T10:00:00+02:00,water_500,2,\n"
        "1784535000,coffee_can,1,\n"
    )
    events = read_sales_log(path, STORE)
    assert [e.stamp for e in events] == [1784534400.0, 1784534400.0, 1784535000.0]
    assert events[0].lane_id == "r1_l01" and events[1].lane_id is None
    assert parse_timestamp("2026-07-20T08:00:00") == 1784534400.0  # no offset: UTC


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("yesterday,cola_500,1", "line 3: column 'timestamp'"),
        ("2026-07-20T09:00:00Z,beer,1", "line 3: column 'sku': unknown SKU 'beer'"),
        ("2026-07-20T09:00:00Z,cola_500,-2", "line 3: column 'quantity': negative quantity -2"),
        ("2026-07-20T09:00:00Z,cola_500,two", "line 3: column 'quantity'"),
        ("2026-07-20T07:00:00Z,cola_500,1", "line 3: column 'timestamp': .* earlier than the line before"),
        ("2026-07-20T09:00:00Z,cola_500", "line 3: expected 3 columns"),
    ],
)
def test_bad_lines_name_line_and_column(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "sales.csv"
    path.write_text(f"timestamp,sku,quantity\n2026-07-20T08:00:00Z,cola_500,1\n{line}\n")
    with pytest.raises(SalesLogError, match=message):
        read_sales_log(path, STORE)


def test_bad_header_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "sales.csv"
    path.write_text("time,item,qty\n")
    with pytest.raises(SalesLogError, match="line 1: header must be"):
        read_sales_log(path)
    with pytest.raises(SalesLogError, match="cannot read"):
        read_sales_log(tmp_path / "missing.csv")


def test_lane_of_another_sku_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sales.csv"
    path.write_text("timestamp,sku,quantity,lane_id\n2026-07-20T08:00:00Z,water_500,1,r1_l01\n")
    with pytest.raises(SalesLogError, match="column 'lane_id': lane r1_l01 holds cola_500"):
        read_sales_log(path, STORE)
