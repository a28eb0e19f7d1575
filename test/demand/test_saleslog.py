"""The sales-log CSV: round trip, both timestamp forms, and errors that name line and column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from restock.demand.generator import DemandGenerator
from restock.demand.saleslog import SalesLogError, canonical_sku, parse_timestamp, read_sales_log, write_sales_log
from restock.paths import store_file
from restock.store.description import load_store
from restock.testing.hostile_files import sales_log_bad_byte

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


HEADER = "timestamp,sku,quantity,lane_id\n"
GOOD = "2026-07-20T08:00:00Z,cola_500,1,r1_l01\n"


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("timestamp", "1e300", "'1e300' is neither ISO-8601 .* nor epoch seconds in plain decimal"),
        ("timestamp", "nan", "'nan' is neither"),
        ("timestamp", "inf", "'inf' is neither"),
        ("timestamp", "-1784534500", "is neither"),
        ("timestamp", "1_784_534_500", "is neither"),
        ("timestamp", "0", "'0' is not between 2000-01-01 and 2100-01-01"),
        ("timestamp", "99999999999", "not between 2000-01-01 and 2100-01-01"),
        ("timestamp", "1999-12-31T23:59:59Z", "not between 2000-01-01 and 2100-01-01"),
        ("timestamp", "2100-01-01T00:00:00Z", "not between 2000-01-01 and 2100-01-01"),
        ("timestamp", "2026-02-31T08:00:00Z", "is not a time that exists"),
        ("timestamp", "2026-07-20", "has a date but no time of day"),
        ("timestamp", "\u0662\u0660\u0662\u0666-07-20T08:00:00Z", "is neither"),  # Arabic-Indic digits
        ("quantity", "1_000", "'1_000' is not a whole number in digits 0-9"),
        ("quantity", "\u0665", "is not a whole number in digits 0-9"),  # Arabic-Indic five
        ("quantity", "\uff15", "is not a whole number in digits 0-9"),  # fullwidth five
        ("quantity", "5.0", "'5.0' is not a whole number"),
        ("quantity", "+5", "'\\+5' is not a whole number"),
        ("quantity", "1e3", "is not a whole number"),
        ("quantity", "0", "0 is outside 1..1000"),
        ("quantity", "1001", "1001 is outside 1..1000"),
        ("quantity", "9" * 5000, "is outside 1..1000"),
    ],
)
def test_numbers_and_times_are_strict(tmp_path: Path, column: str, value: str, message: str) -> None:
    cells = {"timestamp": "2026-07-20T09:00:00Z", "sku": "cola_500", "quantity": "1"}
    cells[column] = value
    path = tmp_path / "sales.csv"
    path.write_text(HEADER + GOOD + f"{cells['timestamp']},cola_500,{cells['quantity']},\n", encoding="utf-8")
    with pytest.raises(SalesLogError, match=f"sales.csv: line 3: column '{column}': .*{message}"):
        read_sales_log(path, STORE)


def test_plain_epoch_seconds_with_a_fraction_are_read() -> None:
    assert parse_timestamp("1784534400.25") == 1784534400.25
    assert parse_timestamp(" 1784534400 ") == 1784534400.0


def test_a_byte_order_mark_before_the_header_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "sales.csv"
    path.write_bytes(b"\xef\xbb\xbf" + (HEADER + GOOD).encode())
    assert [e.sku for e in read_sales_log(path, STORE)] == ["cola_500"]


def test_a_bad_header_shows_invisible_characters(tmp_path: Path) -> None:
    path = tmp_path / "sales.csv"
    path.write_text("timestamp,sku\u200b,quantity\n", encoding="utf-8")
    with pytest.raises(SalesLogError, match=r"line 1: header must be .* got 'timestamp,sku\\u200b,quantity'"):
        read_sales_log(path)


def test_quoted_fields_and_a_quoted_newline_keep_line_numbers(tmp_path: Path) -> None:
    records = (
        HEADER
        + '"2026-07-20T08:00:00Z","cola_500","1","r1_l01"\n'  # line 2
        + '2026-07-20T08:00:01Z,water_500,2,"\n"\n'  # lines 3-4: a lane of only a line break is no lane
        + "# a comment between records\n"  # line 5
        + '2026-07-20T08:00:02Z,water_500,"1",\n'  # line 6
    )
    path = tmp_path / "sales.csv"
    path.write_text(records)
    events = read_sales_log(path, STORE)
    assert [(e.sku, e.quantity, e.lane_id) for e in events] == [
        ("cola_500", 1, "r1_l01"),
        ("water_500", 2, None),
        ("water_500", 1, None),
    ]
    path.write_text(records + '2026-07-20T08:00:03Z,water_500,1,"# not a\ncomment"\n')  # lines 7-8
    with pytest.raises(SalesLogError, match="line 7: column 'lane_id': unknown lane '# not a\\\\ncomment'"):
        read_sales_log(path, STORE)
    path.write_text(records + '2026-07-20T08:00:03Z,water_500,1,"\n"\n2026-07-20T08:00:04Z,water_500,x,\n')
    with pytest.raises(SalesLogError, match="line 9: column 'quantity'"):
        read_sales_log(path, STORE)


def test_a_quote_left_open_is_named_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "sales.csv"
    path.write_text(HEADER + GOOD + '2026-07-20T08:00:01Z,"water_500,2,\n' + GOOD * 3)
    with pytest.raises(SalesLogError, match="line 3: not a CSV record \\(a quoted field is not closed\\)"):
        read_sales_log(path, STORE)
    path.write_text(HEADER + GOOD + '2026-07-20T08:00:01Z,"water_500,2,\n' + GOOD * 40)
    with pytest.raises(SalesLogError, match="line 3: a quoted field runs on past 16 lines"):
        read_sales_log(path, STORE)


def test_a_bad_byte_late_in_a_file_is_named_at_its_line(tmp_path: Path) -> None:
    data, at = sales_log_bad_byte(5000, bad_line=4321)
    path = tmp_path / "sales.csv"
    path.write_bytes(data)
    with pytest.raises(
        SalesLogError, match=rf"sales.csv: line 4321, column 13 \(byte {at}\): not UTF-8 text \(byte 0xff"
    ):
        read_sales_log(path, STORE)


def test_eval_planner_refuses_a_log_of_impossible_times(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from restock.planning.evaluate import main as eval_main

    path = tmp_path / "sales.csv"
    path.write_text("timestamp,sku,quantity\n1e300,cola_500,1\n")
    assert eval_main(["--sales-log", str(path), "--no-plots"]) == 2
    out, err = capsys.readouterr()
    assert "line 2: column 'timestamp'" in err and "demanded" not in out


def test_a_tills_spelling_of_a_sku_is_read_as_the_stores(tmp_path: Path) -> None:
    """Another case, spaces or hyphens for underscores: the store's SKU, reported; a name that is
    no SKU stays an error unless unknown SKUs are to be skipped (then counted)."""
    log = tmp_path / "till.csv"
    log.write_text(
        "timestamp,sku,quantity\n"
        "2026-07-20T08:00:00Z,Cola 500,1\n"
        "2026-07-20T08:00:01Z,COLA-500,2\n"
        "2026-07-20T08:00:02Z, green tea  500 ,1\n"
        "2026-07-20T08:00:03Z,Craft Beer,1\n"
    )
    with pytest.raises(SalesLogError, match=r"line 5: column 'sku': unknown SKU 'Craft Beer'"):
        read_sales_log(log, STORE)
    renamed: dict[str, str] = {}
    unknown: dict[str, int] = {}
    events = read_sales_log(log, STORE, renamed=renamed, unknown=unknown)
    assert [(e.sku, e.quantity) for e in events] == [("cola_500", 1), ("cola_500", 2), ("green_tea_500", 1)]
    assert renamed == {"Cola 500": "cola_500", "COLA-500": "cola_500", "green tea  500": "green_tea_500"}
    assert unknown == {"Craft Beer": 1}
    assert canonical_sku("cola", STORE.skus) is None
    assert canonical_sku("a-b", ["a_b", "A b"]) is None  # two SKUs spelled alike: neither
