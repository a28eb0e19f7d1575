"""`restock eval-planner` end to end on a short run, from the generator and from a sales log."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from restock.demand.generator import DAY_S, DemandGenerator
from restock.demand.saleslog import SalesLogError, write_sales_log
from restock.paths import store_file
from restock.planning.evaluate import DEFAULT_START, main
from restock.store.description import load_store


def test_generator_run_prints_the_table_and_writes_plots(tmp_path: Path, capsys) -> None:
    status = main(
        ["--store", "station_kiosk.yaml", "--days", "1", "--history-days", "7", "--camera-only", "--out", str(tmp_path)]
    )
    out = capsys.readouterr().out
    assert status == 0
    for name in ("reactive", "fixed-round", "learned", "learned-cam", "oracle", "forecast error", "OSA lane"):
        assert name in out
    assert (tmp_path / "stock_over_day.png").stat().st_size > 1000
    assert (tmp_path / "learned_vs_true_rates.png").stat().st_size > 1000


def test_sales_log_run_and_a_bad_log(tmp_path: Path, capsys) -> None:
    store = load_store(store_file("corner_store.yaml"))
    gen = DemandGenerator(store, seed=1)
    log = tmp_path / "sales.csv"
    write_sales_log(log, gen.sample(DEFAULT_START - 8 * DAY_S, DEFAULT_START + DAY_S, np.random.default_rng(0)))
    assert main(["--sales-log", str(log), "--days", "1", "--no-plots"]) == 0
    out = capsys.readouterr().out
    table = out.split("forecast")[0].split("policy")[1]
    assert "learned" in out and "oracle" not in table
    # With a log, the oracle is foresight of the log's own future; lost sales are split by cause.
    for name in ("foresight", "learned-noalert", "supply", "robot", "tasks/ctr", "learned / foresight"):
        assert name in out
    # The bound row: no policy lost fewer than it.
    rows = {r.split()[0]: int(r.split()[2]) for r in out.split("-\n")[1].split("\n\n")[0].splitlines()}
    assert {"reactive", "learned", "foresight", "bound"} <= set(rows)
    assert all(lost >= rows["bound"] for lost in rows.values())
    assert "no policy loses fewer than" in out
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,sku,quantity\n2026-07-20T08:00:00Z,beer,1\n")
    assert main(["--sales-log", str(bad)]) == 2
    assert "line 2: column 'sku': unknown SKU 'beer'" in capsys.readouterr().err


def test_a_real_tills_log_out_of_order_with_repeats_and_other_skus(tmp_path: Path, capsys) -> None:
    from restock.planning.evaluate import read_log

    store = load_store(store_file("corner_store.yaml"))
    log = tmp_path / "till.csv"
    log.write_text(
        "timestamp,sku,quantity\n"
        "2026-07-20T08:00:05Z,cola_500,1\n"
        "2026-07-20T08:00:01Z,water_500,2\n"  # out of order
        "2026-07-20T08:00:05Z,cola_500,1\n"  # the line before it, written twice (sorted next to it)
        "2026-07-20T08:01:00Z,beer,1\n"  # a SKU this store does not sell
    )
    with pytest.raises(SalesLogError, match=r"line 3: column 'timestamp'.*time order"):
        read_log(log, store)
    sales, notes = read_log(log, store, unordered=True, drop_duplicates=True, skip_unknown=True)
    assert [(s.sku, s.quantity) for s in sales] == [("water_500", 2), ("cola_500", 1)]
    assert notes == ["dropped 1 duplicate lines", "skipped sales of SKUs the store does not sell: beer (1)"]
    # Without --drop-duplicate-lines two of one item stay two sales (a basket can hold both).
    assert len(read_log(log, store, unordered=True, skip_unknown=True)[0]) == 3
    assert main(["--sales-log", str(log), "--days", "1", "--no-plots", "--unordered", "--skip-unknown-skus"]) == 0
    assert "skipped sales of SKUs the store does not sell: beer (1)" in capsys.readouterr().out
