"""scripts/map_transaction_log.py: a shop's transaction log becomes our sales log at a robot's load."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

from restock.demand.saleslog import read_sales_log
from restock.paths import SOURCE_ROOT, store_file
from restock.sim.simtime import parse_time
from restock.store.description import load_store


def load_script():
    spec = importlib.util.spec_from_file_location(
        "map_transaction_log", SOURCE_ROOT / "scripts" / "map_transaction_log.py"
    )
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[spec.name] = module  # type: ignore[union-attr]  # its dataclasses look themselves up there
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_items_map_to_skus_and_each_sale_is_replayed_with_jitter_on_its_own_day(tmp_path: Path, capsys) -> None:
    source = tmp_path / "bakery.csv"
    source.write_text(
        "Date,Time,Transaction,Item\n"
        "2016-10-30,09:58:11,1,Bread\n"
        "2016-10-30,10:05:34,2,Coffee\n"
        "2016-10-30,10:05:34,2,NONE\n"
        "2016-10-30,23:55:00,3,Scandinavian\n"
        "2016-10-31,00:03:00,4,Tea\n"
    )
    out = tmp_path / "sales.csv"
    script = load_script()
    assert script.main(["--in", str(source), "--replicas", "7", "--seed", "1", "--out", str(out)]) == 0
    assert "4 items on 2 open days; 7 replicas each" in capsys.readouterr().out
    store = load_store(store_file("corner_store.yaml"))
    sales = read_sales_log(out, store)  # our format, in time order, SKUs the store sells
    assert len(sales) == 4 * 7
    by_sku = {s.sku for s in sales}
    assert {"water_500", "coffee_can", "green_tea_500"} <= by_sku  # bread, coffee, tea by the table
    late = [
        s for s in sales if s.stamp >= parse_time("2016-10-30T23:00:00") and s.stamp < parse_time("2016-10-31T00:00:00")
    ]
    assert len(late) == 7  # the 23:55 sale never crosses midnight
    for s in sales:
        nearest = min(
            abs(s.stamp - parse_time(t))
            for t in ("2016-10-30T09:58:11", "2016-10-30T10:05:34", "2016-10-30T23:55:00", "2016-10-31T00:03:00")
        )
        assert nearest <= 20 * 60
    assert script.sku_for("Scandinavian", sorted(store.skus)) == script.sku_for("scandinavian ", sorted(store.skus))
    assert script.sku_for("NONE", sorted(store.skus)) is None
    # Name variants of one item (case, spacing) map to one SKU.
    assert script.sku_for("Americano with Milk", sorted(store.skus)) == script.sku_for(
        "americano  with milk", sorted(store.skus)
    )


def test_a_chains_log_is_mapped_one_store_at_a_time_onto_the_same_skus(tmp_path: Path, capsys) -> None:
    source = tmp_path / "chain.csv"
    source.write_text(
        "Date,Time,Transaction,Item,Store\n"
        "2017-03-01,09:00:00,1,SOFT DRINKS,367\n"
        "2017-03-01,09:05:00,2,CHEESE,406\n"
        "2017-03-01,10:00:00,3,SOFT DRINKS,406\n"
        "2017-03-02,11:00:00,4,CHEESE,367\n"
        "2017-03-02,12:00:00,5,EGGS,367\n"
    )
    script = load_script()
    assert script.main(["--in", str(source), "--location-column", "Store"]) == 0
    assert capsys.readouterr().out.splitlines() == ["367\t3", "406\t2"]  # the stores, busiest first
    store = load_store(store_file("corner_store.yaml"))
    logs = {}
    for name in ("367", "406"):
        out = tmp_path / f"{name}.csv"
        argv = ["--in", str(source), "--location-column", "Store", "--location", name, "--replicas", "3"]
        assert script.main([*argv, "--out", str(out)]) == 0
        logs[name] = read_sales_log(out, store)
    assert len(logs["367"]) == 3 * 3 and len(logs["406"]) == 2 * 3
    # One item is one SKU in every store of the chain.
    skus = sorted(store.skus)
    assert {s.sku for s in logs["367"]} == {script.sku_for(i, skus) for i in ("SOFT DRINKS", "CHEESE", "EGGS")}
    assert {s.sku for s in logs["406"]} == {script.sku_for(i, skus) for i in ("SOFT DRINKS", "CHEESE")}
    # A store the log does not name maps nothing; a column it lacks is a clear error.
    none = ["--in", str(source), "--location-column", "Store", "--location", "999", "--out", str(tmp_path / "n")]
    assert script.main(none) == 2
    try:
        script.main(["--in", str(source), "--location-column", "Shop", "--location", "1", "--out", str(tmp_path / "x")])
    except SystemExit as err:
        assert "Shop" in str(err)
    else:
        raise AssertionError("a missing store column was accepted")


def test_a_log_of_another_shape_one_time_column_and_a_column_per_item(tmp_path: Path, capsys) -> None:
    # A cafe's order export: one time column, one column per item (cells quantities, blank none),
    # lines out of order, lines with no time at all, an order written twice.
    source = tmp_path / "orders.csv"
    source.write_text(
        "datetime,day of week,total,angbutter,plain bread,americano,order_id\n"
        "2019-07-11 15:35,Thur,23800.0,1.0,,2.0,a1\n"
        "2019-07-12 11:49,Fri,58000.0,,3.0,,a2\n"
        "2019-07-12 11:49,Fri,58000.0,,3.0,,a2\n"
        "2019-07-11 16:10,Thur,15800.0,1.0,,,a3\n"
        ",,,,,,a4\n"
        ",,,,,,a5\n"
    )
    script = load_script()
    out = tmp_path / "sales.csv"
    # As a user first tries it: the error says what the file has and which options read it.
    assert_exits(script, ["--in", str(source), "--out", str(out)], "--time-column COLUMN (datetime?)")
    argv = ["--in", str(source), "--time-column", "datetime", "--out", str(out)]
    assert_exits(script, argv, "--item-columns FIRST:LAST")
    argv += ["--item-columns", "angbutter:americano", "--replicas", "2", "--drop-duplicate-lines"]
    assert script.main(argv) == 0
    said = capsys.readouterr().out
    assert "skipped 2 lines with no time (line 6, 7)" in said
    assert "1 lines were earlier than a line before them: sorted" in said
    assert "dropped 1 lines repeating the line before them exactly" in said
    assert "7 items on 2 open days; 2 replicas each" in said  # 1 + 2, 3, 1: quantities count
    store = load_store(store_file("corner_store.yaml"))
    sales = read_sales_log(out, store)
    assert len(sales) == 14
    skus = sorted(store.skus)
    bread = [s for s in sales if s.sku == script.sku_for("plain bread", skus)]
    assert len(bread) >= 6 and all(s.stamp >= parse_time("2019-07-12T11:29:00") for s in bread[-6:])


def test_quantities_returns_time_formats_and_malformed_cells(tmp_path: Path, capsys) -> None:
    source = tmp_path / "retail.csv"
    source.write_text(
        "Invoice,Item,Quantity,InvoiceDate\n"
        "489434,WHITE CHERRY LIGHTS,12,12/1/2009 07:45\n"
        "C489449,WHITE CHERRY LIGHTS,-12,12/1/2009 10:33\n"
        "489436,CAT BOWL,3.0,12/2/2009 09:06\n"
    )
    script = load_script()
    out = tmp_path / "sales.csv"
    base = ["--in", str(source), "--time-column", "InvoiceDate", "--out", str(out), "--replicas", "1"]
    assert_exits(script, base, "line 2: time '12/1/2009 07:45' does not read")
    argv = [*base, "--time-format", "%m/%d/%Y %H:%M", "--quantity-column", "Quantity"]
    assert script.main(argv) == 0
    said = capsys.readouterr().out
    assert "skipped 1 lines of zero or negative quantity (returns, voids)" in said
    assert "15 items on 2 open days" in said
    source.write_text("Invoice,Item,Quantity,InvoiceDate\n1,CAT BOWL,0.5,12/2/2009 09:06\n")
    assert_exits(script, argv, "line 2: column 'Quantity': '0.5' is not a whole number of items")


def test_spread_puts_a_few_items_on_every_sku_by_volume() -> None:
    script = load_script()
    skus = ["a", "b", "c"]
    table = script.spread({"x": 50, "y": 30, "z": 25, "w": 10, "none": 99}, skus)
    assert table == {"x": "a", "y": "b", "z": "c", "w": "c"}  # most sold first, to the least sold SKU
    assert "none" not in table


def assert_exits(script, argv: list[str], message: str) -> None:
    try:
        script.main(argv)
    except SystemExit as err:
        assert message in str(err), str(err)
    else:
        raise AssertionError(f"{argv} was accepted")


def test_a_mapped_log_with_closed_days_a_gap_and_an_item_that_comes_later_replays(tmp_path: Path, capsys) -> None:
    """What a real shop's export holds, end to end: shut on Sundays, a holiday, two weeks not in
    the export, an item first sold after the gap and one that stops; mapped, then learned and
    replayed by eval-planner."""
    from datetime import date, timedelta

    from restock.demand.model import DemandModel
    from restock.demand.saleslog import read_sales_log as read
    from restock.planning.evaluate import main as eval_planner

    rows = ["datetime,croissant,americano,new bun,order_id"]
    first = date(2019, 7, 1)  # a Monday
    gap = {first + timedelta(days=d) for d in range(14, 28)}
    for d in range(43):
        day = first + timedelta(days=d)
        if day.weekday() == 6 or day == date(2019, 8, 1) or day in gap:
            continue  # Sundays, a holiday, the gap
        for h in range(8, 18):
            late = "1" if day > date(2019, 7, 28) else ""  # new bun: only after the gap
            gone = "" if day > date(2019, 8, 4) else "1"  # americano: stops a week before the end
            rows.append(f"{day} {h:02d}:{(7 * d + h) % 60:02d},2,{gone},{late},{d}-{h}")
    source = tmp_path / "orders.csv"
    source.write_text("\n".join(rows) + "\n")
    out = tmp_path / "sales.csv"
    script = load_script()
    argv = ["--in", str(source), "--time-column", "datetime", "--item-columns", "croissant:new bun"]
    assert script.main([*argv, "--spread", "--replicas", "3", "--out", str(out)]) == 0
    capsys.readouterr()
    store = load_store(store_file("corner_store.yaml"))
    sales = read(out, store)
    model = DemandModel({s: 1 for s in sorted(store.skus)})
    model.learn_log([(s.stamp, s.sku, s.quantity) for s in sales], sales[-1].stamp)
    shut = set(np.flatnonzero(~model.open_days()))
    # Every Sunday, the holiday and the gap read as closed, not as days that sold nothing.
    expect = {d for d in range(43) if (first + timedelta(days=d)).weekday() == 6 or first + timedelta(days=d) in gap}
    assert shut == expect | {(date(2019, 8, 1) - first).days}
    assert eval_planner(["--sales-log", str(out), "--days", "2", "--no-plots", "--bound-slot-s", "0"]) == 0
    said = capsys.readouterr().out
    assert "learned / foresight lost sales" in said and "tasks per container moved" in said
