"""Sales per clock hour for the day report, from ground-truth records built directly (no ROS).

The report once drew one spike per sale: a single sale in a one-minute sample read as
"60 containers/hour". It now counts containers per clock hour, lost sales beside them, with the
planner's forecast for each hour as it held it when the hour began.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from restock import records
from restock.day.day import planner_forecaster
from restock.day.daystats import FORECAST_STEPS, DayStats
from restock.day.report import plot_sales
from restock.paths import store_file
from restock.planning.database import PlannerDb, PlannerDbError
from restock.sim.simtime import parse_time
from restock.store.description import load_store

T0 = parse_time("2026-07-06T00:00:00")  # a Monday, on the hour


def truth(t: float, sold: int, lost: int = 0) -> records.SimGroundTruth:
    return records.SimGroundTruth(
        stamp=t,
        lanes={"a": records.LaneTruth(sku="cola_500", capacity=8, count=3, items=["cola_500"] * 3)},
        stock={"s_cola_500": 10},
        sales={"cola_500": sold},
        lost_sales={"cola_500": lost},
    )


def feed(stats: DayStats, start: float, end: float, sales_at: dict[float, int], lost_at: dict[float, int]) -> None:
    """Ground truth every 10 s from start to end, with cumulative counts as the simulator sends them."""
    sold = lost = 0
    for t in np.arange(start, end + 1e-6, 10.0):
        sold += sales_at.get(float(t), 0)
        lost += lost_at.get(float(t), 0)
        stats.on_truth(truth(float(t), sold, lost))


def test_sales_are_counted_per_clock_hour_over_the_part_each_hour_was_covered() -> None:
    asked: list[float] = []

    def forecaster(mids: np.ndarray) -> np.ndarray:
        asked.append(float(mids[0]))
        return np.full(len(mids), 0.5)  # 6 containers an hour, evenly

    s = DayStats(forecaster=forecaster)
    start, end = T0 + 1800, T0 + 3 * 3600 + 600  # from 00:30 to 03:10
    sales = {T0 + 1810: 1, T0 + 3610: 2, T0 + 5000: 1, T0 + 7200: 1, T0 + 10_810: 4}
    lost = {T0 + 6000: 2}
    feed(s, start, end, sales, lost)
    h = s.hourly()
    assert list(h.start) == [start, T0 + 3600, T0 + 7200, T0 + 10_800]
    assert list(h.end) == [T0 + 3600, T0 + 7200, T0 + 10_800, end]
    # One sale is one container in its hour (not a rate from a one-minute sample); a sale reported at
    # 02:00:00 happened after 01:59:50, in the hour before.
    assert list(h.sold) == [1, 4, 0, 4]
    assert list(h.lost) == [0, 2, 0, 0]
    assert h.sold.sum() == 9 and h.lost.sum() == 2
    # The forecast is asked once per hour, when it begins, and counted over the part covered.
    assert asked == [T0 + 150, T0 + 3600 + 150, T0 + 7200 + 150, T0 + 10_800 + 150]
    assert h.forecast == pytest.approx([3.0, 6.0, 6.0, 1.0])


def test_the_first_truth_counts_what_was_sold_before_it_and_a_fresh_simulator_adds_nothing_back() -> None:
    s = DayStats()
    s.on_truth(truth(T0 + 20, 3))  # the monitor joined after three sales
    s.on_truth(truth(T0 + 30, 5))
    s.on_truth(truth(T0 + 40, 1))  # the simulator started afresh: its count begins again
    s.on_truth(truth(T0 + 50, 2))
    h = s.hourly()
    assert list(h.sold) == [6]
    assert np.isnan(h.forecast).all()  # no forecaster: the forecast is unknown, not zero


def test_an_unreadable_forecast_leaves_its_hour_unknown() -> None:
    s = DayStats(forecaster=lambda mids: None if mids[0] < T0 + 3600 else np.ones(len(mids)))
    feed(s, T0, T0 + 2 * 3600, {}, {})
    h = s.hourly()
    assert np.isnan(h.forecast[0]) and h.forecast[1] == pytest.approx(FORECAST_STEPS)


def test_the_forecaster_reads_the_planners_database_and_falls_back_to_its_prior(tmp_path: Path) -> None:
    path = store_file("corner_store.yaml")
    store = load_store(path)
    db_path = tmp_path / "planner.db"
    forecast = planner_forecaster(db_path, store)
    mids = T0 + 12 * 3600 + (np.arange(FORECAST_STEPS) + 0.5) * 300
    prior = forecast(mids)  # no database yet: what a fresh planner holds
    assert prior is not None and prior.shape == (FORECAST_STEPS,) and (prior > 0).all()
    # A planner that saw a busy Monday noon expects more then.
    from restock.planning.core import RestockPlanner

    planner = RestockPlanner(store, PlannerDb(db_path))
    day = int(T0 // 86400)
    for sku in planner.model.skus:
        for week in range(4):
            planner.model.set_history_cell(sku, day - 7 * week, 12, 40.0, 1.0)
    planner.save(T0)
    learned = forecast(mids)
    assert learned is not None and learned.sum() > 2 * prior.sum()
    # A file that is not a planner database gives no forecast (NaN in the plot), not the prior.
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE x (y)")
    conn.close()
    assert planner_forecaster(other, store)(mids) is None
    with pytest.raises(PlannerDbError, match="schema version"):
        PlannerDb.read_only(other)


def test_the_sales_plot_is_written(tmp_path: Path) -> None:
    s = DayStats(forecaster=lambda mids: np.full(len(mids), 0.25))
    feed(s, T0 + 600, T0 + 5 * 3600, {T0 + 1200: 1, T0 + 4000: 3}, {T0 + 9000: 1})
    plot_sales(s, tmp_path / "sales.png")
    assert (tmp_path / "sales.png").stat().st_size > 5000
