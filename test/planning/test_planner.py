"""The lost-sales planner: value of containers, filling ahead of a rush, blocked lanes, order, limits."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy.stats import poisson

from restock.paths import store_file
from restock.planning.planner import LaneTable, Planner, PlannerConfig, expected_lost_table
from restock.planning.timing import RobotTiming, rail_travel_s
from restock.store.description import load_store

STORE = load_store(store_file("corner_store.yaml"))
MONDAY = 1_784_505_600.0


def flat_rates(table: LaneTable, per_hour: float):
    return lambda t: np.full((len(table.skus), np.size(t)), per_hour)


def test_expected_lost_table_matches_the_definition() -> None:
    mu = np.array([0.5, 3.0, 12.0])
    table = expected_lost_table(mu, 20)
    k = np.arange(200)
    for p, m in enumerate(mu):
        for s in (0, 1, 5, 20):
            brute = float(np.sum(np.maximum(k - s, 0) * poisson.pmf(k, m)))
            assert table[p, s] == pytest.approx(brute, abs=1e-9)


def test_rail_travel_is_trapezoidal() -> None:
    assert rail_travel_s(0.0, 1.2, 3.0) == 0.0
    assert rail_travel_s(2.4, 1.2, 3.0) == pytest.approx(2.4 / 1.2 + 1.2 / 3.0)
    assert rail_travel_s(0.1, 1.2, 3.0) == pytest.approx(2 * np.sqrt(0.1 / 3.0))


def test_nothing_to_do_when_full_and_quiet() -> None:
    table = LaneTable.from_store(STORE)
    planner = Planner(table, RobotTiming.for_store(STORE))
    plan = planner.plan(MONDAY + 2 * 3600, table.capacity.astype(float), flat_rates(table, 0.1), np.full(8, 40))
    assert plan == []


def test_fills_ahead_of_a_rush_that_a_short_horizon_does_not_see() -> None:
    table = LaneTable.from_store(STORE)
    coffee = table.skus.index("coffee_can")

    def rush_at_nine(t: np.ndarray) -> np.ndarray:
        rates = np.full((len(table.skus), np.size(t)), 0.2)
        hour = (np.asarray(t) % 86400) / 3600
        rates[coffee] = np.where((hour >= 9) & (hour < 10), 40.0, 0.2)
        return rates

    count = table.capacity * 0.5  # half full everywhere
    now = MONDAY + 7 * 3600  # 07:00, the rush at 09:00
    # batch_fraction 0: half-full lanes are not made to wait for a fuller trip (the horizon is tested).
    config = PlannerConfig(horizon_s=3 * 3600, topup_below=0.0, batch_fraction=0.0, idle_fill=0.0)
    long = Planner(table, RobotTiming.for_store(STORE), config)
    short = Planner(table, RobotTiming.for_store(STORE), replace(config, horizon_s=1 * 3600))
    plan = long.plan(now, count, rush_at_nine, np.full(8, 40))
    assert plan and {t.sku for t in plan} == {"coffee_can"}
    assert sum(t.quantity for t in plan) == int(np.sum(table.capacity[table.pool == coffee] * 0.5))
    assert short.plan(now, count, rush_at_nine, np.full(8, 40)) == []


def test_fewer_fuller_trips_a_nearly_full_lane_waits_unless_its_sku_runs_out_soon() -> None:
    table = LaneTable.from_store(STORE)
    count = table.capacity - 1.0  # one sold from every lane
    now = MONDAY + 10 * 3600
    planner = Planner(table, RobotTiming.for_store(STORE))
    # Busy but safe for hours: no one-container trips; the lanes wait until a trip fills them.
    assert planner.plan(now, count, flat_rates(table, 15.0), np.full(8, 40)) == []
    eager = Planner(table, RobotTiming.for_store(STORE), PlannerConfig(batch_fraction=0.0, fill_up=False))
    assert eager.plan(now, count, flat_rates(table, 15.0), np.full(8, 40))
    # A robot the coming demand keeps busy anyway does not wait, where that is asked for.
    busy = Planner(table, RobotTiming.for_store(STORE, handling_s=60.0), PlannerConfig(saturated_share=0.5))
    assert busy.plan(now, count, flat_rates(table, 15.0), np.full(8, 40))
    relaxed = Planner(table, RobotTiming.for_store(STORE, handling_s=60.0), PlannerConfig(saturated_share=5.0))
    assert relaxed.plan(now, count, flat_rates(table, 15.0), np.full(8, 40)) == []
    # A SKU that runs out within urgent_s is served now, and each lane it visits is filled up.
    plan = planner.plan(now, count, flat_rates(table, 400.0), np.full(8, 40))
    assert plan and all(count[t.lane_index] + t.quantity == table.capacity[t.lane_index] for t in plan)
    # An urgent lane with little room waits while a lane with room is to be served (customers empty
    # every lane a little in a burst: a container or two per trip there, while others need more).
    mixed = count.copy()
    mixed[0] = 2.0
    plan = planner.plan(now, mixed, flat_rates(table, 400.0), np.full(8, 40))
    assert [t.lane_index for t in plan] == [0]
    every = Planner(table, RobotTiming.for_store(STORE), PlannerConfig(urgent_fraction=0.0))
    assert len(every.plan(now, mixed, flat_rates(table, 400.0), np.full(8, 40))) > 1
    low = np.floor(table.capacity * 0.2)
    fuller = planner.plan(now, low, flat_rates(table, 1.0), np.full(8, 40))
    assert fuller and all(low[t.lane_index] + t.quantity == table.capacity[t.lane_index] for t in fuller)


def test_an_urgent_lane_with_little_room_waits_for_a_fuller_trip_unless_the_robot_cannot_keep_up() -> None:
    table = LaneTable.from_store(STORE)
    count = table.capacity - 3.0  # three sold from every lane: room for less than a fuller trip
    now = MONDAY + 10 * 3600
    planner = Planner(table, RobotTiming.for_store(STORE), PlannerConfig(idle_fill=0.0))
    # Every lane runs out within urgent_s at 150 an hour a SKU, and the robot (a container in
    # ~13-16 s, ~250 an hour) keeps up: the lanes wait until a trip fills more of them.
    assert planner.plan(now, count, flat_rates(table, 150.0), np.full(8, 40)) == []
    # At 400 an hour a SKU the robot cannot keep up with any one of them: every trip counts now.
    plan = planner.plan(now, count, flat_rates(table, 400.0), np.full(8, 40))
    assert plan and all(t.quantity == 3 for t in plan)
    # Asked for no fuller trips at all (batch_fraction 0), no lane waits.
    eager = Planner(table, RobotTiming.for_store(STORE), PlannerConfig(idle_fill=0.0, batch_fraction=0.0))
    assert eager.plan(now, count, flat_rates(table, 150.0), np.full(8, 40))


def test_blocked_lanes_stock_and_pending_are_respected() -> None:
    table = LaneTable.from_store(STORE)
    planner = Planner(table, RobotTiming.for_store(STORE), PlannerConfig(topup_below=0.0))
    count = np.zeros(len(table))
    blocked = np.zeros(len(table), dtype=bool)
    blocked[table.index["r1_l01"]] = True
    stock = np.full(8, 40)
    stock[table.skus.index("water_500")] = 3
    plan = planner.plan(MONDAY + 8 * 3600, count, flat_rates(table, 20.0), stock, blocked=blocked)
    lanes = [t.lane_id for t in plan]
    assert "r1_l01" not in lanes
    assert len(lanes) == len(set(lanes))  # one task per lane
    assert sum(t.quantity for t in plan if t.sku == "water_500") <= 3
    for t in plan:
        assert 1 <= t.quantity <= table.capacity[t.lane_index]


def test_robot_time_limits_the_plan_and_order_follows_run_out() -> None:
    table = LaneTable.from_store(STORE)
    timing = RobotTiming.for_store(STORE, handling_s=60.0)
    planner = Planner(table, timing, PlannerConfig(horizon_s=3600.0, topup_below=0.0))
    count = np.zeros(len(table))
    plan = planner.plan(MONDAY + 8 * 3600, count, flat_rates(table, 30.0), np.full(8, 40))
    assert sum(t.duration_s for t in plan) <= 3600.0 + 1e-6
    dues = [t.due for t in plan]
    windows = [np.floor((d - (MONDAY + 8 * 3600)) / planner.config.order_window_s) for d in dues]
    assert windows == sorted(windows)
    # Committed robot time (tasks already out) leaves less for new ones.
    busy = planner.plan(MONDAY + 8 * 3600, count, flat_rates(table, 30.0), np.full(8, 40), robot_free_in_s=3000.0)
    assert sum(t.duration_s for t in busy) <= 600.0 + 1e-6


def test_a_robot_behind_the_coming_demand_fills_a_waiting_lane_rather_than_idle() -> None:
    table = LaneTable.from_store(STORE)
    count = np.floor(table.capacity * 0.5)  # half full: every lane waits for a fuller trip
    now = MONDAY + 10 * 3600
    rates = flat_rates(table, 15.0)
    slow = RobotTiming.for_store(STORE, handling_s=60.0)  # 3 h of this demand takes ~6 h of robot
    assert Planner(table, slow, PlannerConfig(idle_fill=0.0)).plan(now, count, rates, np.full(8, 40)) == []
    plan = Planner(table, slow, PlannerConfig(idle_fill=0.4)).plan(now, count, rates, np.full(8, 40))
    assert len(plan) == 1
    task = plan[0]
    # The SKU that runs out first (the smallest pool at the same rate), its lane filled up.
    pool = table.skus.index(task.sku)
    assert table.pool_capacity[pool] == table.pool_capacity.min()
    assert count[task.lane_index] + task.quantity == table.capacity[task.lane_index]
    # A robot with time to spare waits for fuller trips, unless sales come in bursts (a burst may
    # come to any SKU: its idle time fills the shelf); and a lane with less room than idle_fill
    # of its capacity is not worth a trip of its own.
    fast = RobotTiming.for_store(STORE, handling_s=12.0)
    assert Planner(table, fast, PlannerConfig(idle_fill=0.4)).plan(now, count, rates, np.full(8, 40)) == []
    bursty = Planner(table, fast, PlannerConfig(idle_fill=0.4)).plan(now, count, rates, np.full(8, 40), dispersion=30)
    assert len(bursty) == 1 and count[bursty[0].lane_index] + bursty[0].quantity == table.capacity[bursty[0].lane_index]
    nearly = np.maximum(table.capacity - 3.0, 0)
    assert Planner(table, slow, PlannerConfig(idle_fill=0.4)).plan(now, nearly, rates, np.full(8, 40)) == []


@pytest.mark.parametrize("seed", range(6))
def test_no_task_asks_more_than_the_lane_has_room_for(seed: int) -> None:
    """Whatever the shelf, the back room and the robot: a lane is asked at most its capacity less
    its believed count and what tasks out will bring (every part of the plan: by value, top-up,
    fill-up, idle fill), one task per lane and none for a blocked lane."""
    table = LaneTable.from_store(STORE)
    rng = np.random.default_rng(seed)
    n = len(table)
    for k in range(40):
        count = rng.uniform(-0.5, 1.2, n) * table.capacity
        sd = rng.uniform(0.0, 2.0, n) if k % 2 else None
        pending = np.where(rng.random(n) < 0.2, rng.integers(0, 6, n), 0)
        blocked = rng.random(n) < 0.1
        stock = rng.integers(0, 30, len(table.skus))
        config = PlannerConfig(
            idle_fill=float(rng.choice([0.0, 0.3, 0.5])),
            idle_fill_share=float(rng.choice([0.1, 1.25])),
            fill_up=bool(k % 3),
            topup_below=float(rng.choice([0.0, 0.5, 0.9])),
            saturated_share=float(rng.choice([0.0, 0.5])),
        )
        timing = RobotTiming.for_store(STORE, handling_s=float(rng.choice([12.0, 60.0])))
        now = MONDAY + float(rng.uniform(7, 20)) * 3600
        plan = Planner(table, timing, config).plan(
            now, count, flat_rates(table, float(rng.uniform(1, 30))), stock, blocked, pending, 0.0, sd
        )
        believed = np.clip(np.rint(count), 0, table.capacity)
        assert len({t.lane_id for t in plan}) == len(plan)
        for t in plan:
            i = t.lane_index
            assert not blocked[i]
            assert 1 <= t.quantity <= table.capacity[i] - believed[i] - pending[i], (k, t)
