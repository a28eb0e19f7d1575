"""The lost-sales bound (restock.planning.bound) on cases small enough to solve by hand."""

from __future__ import annotations

import numpy as np
import pytest

from restock.demand.generator import DemandGenerator
from restock.paths import store_file
from restock.planning.backroom import AlertConfig
from restock.planning.bound import demand_matrix, lost_sales_bound, store_bound
from restock.planning.policies import FixedRoundPolicy, PlannerPolicy, ReactivePolicy
from restock.planning.storemodel import DAY_S, SaleIn, StoreModel
from restock.planning.timing import RobotTiming
from restock.store.description import load_store


def one_sku(demand: dict[int, int], n: int) -> np.ndarray:
    d = np.zeros((1, n))
    for k, q in demand.items():
        d[0, k] = q
    return d


def test_a_rush_at_the_start_gets_the_shelf_and_one_cycle() -> None:
    # 2 on the shelf, 5 customers in the first minute: the robot's one 60 s cycle saves a third.
    b = lost_sales_bound(one_sku({0: 5}, 3), np.array([2]), np.array([60.0]), 60.0)
    assert b.lost == pytest.approx(2.0)
    assert b.lost_at_least == 2 and b.demanded == 5


def test_the_robot_fills_ahead_and_holds_one_in_the_gripper() -> None:
    # An empty lane of 2 and 10 customers at minute 10: the lane is filled ahead, one more waits
    # in the gripper for room, and one more cycle fits in the rush's minute: 4 sold, 6 lost.
    b = lost_sales_bound(one_sku({10: 10}, 12), np.array([2]), np.array([60.0]), 60.0, shelf0=np.array([0]))
    assert b.lost == pytest.approx(6.0)
    assert b.shelf[0, 9] == pytest.approx(2.0)


def test_two_skus_share_the_robot_by_the_second() -> None:
    # Each SKU sells one in the second minute, from empty lanes of one: 60 s for a and 120 s for b
    # in 120 s of robot time leaves half of b's container (a fractional relaxation: rounded up, 1).
    d = np.array([[0, 1.0], [0, 1.0]])
    b = lost_sales_bound(d, np.array([1, 1]), np.array([60.0, 120.0]), 60.0, shelf0=np.array([0, 0]))
    assert b.lost == pytest.approx(0.5)
    assert b.lost_at_least == 1
    assert b.lost_by_pool == pytest.approx([0.0, 0.5])


def test_the_back_room_limits_until_the_delivery_unless_staff_are_on_call() -> None:
    # One container behind the rail, a delivery of 3 at minute 5; 4 customers at minute 3 and 4
    # at minute 9: 1 + 3 sold. Staff on call: the robot's 4 cycles before each rush serve all.
    d = one_sku({3: 4, 9: 4}, 10)
    cap, cycle, empty = np.array([10]), np.array([60.0]), np.array([0])
    limited = lost_sales_bound(d, cap, cycle, 60.0, empty, np.array([1]), [5], np.array([3]))
    assert limited.lost == pytest.approx(4.0)
    assert limited.lost_by_pool == pytest.approx([4.0])
    assert lost_sales_bound(d, cap, cycle, 60.0, empty).lost == pytest.approx(0.0)


def test_work_before_a_delivery_inside_a_slot_comes_from_the_old_stock() -> None:
    # 2-minute slots, 60 s cycles, 3 behind the rail, a delivery (to 2) at 150 s, inside slot 1:
    # the robot picks at 0, 60 and 120 s from the old stock and at 180 and 240 s from the new, so 5
    # are on the shelf when 10 customers come in slot 3. The bound must allow that schedule.
    d = one_sku({3: 10}, 4)
    b = lost_sales_bound(d, np.array([10]), np.array([60.0]), 120.0, np.array([0]), np.array([3]), [1], np.array([2]))
    assert b.lost == pytest.approx(5.0)


def test_demand_matrix_bins_by_slot_and_leaves_out_the_rest() -> None:
    sales = [SaleIn(100.0, "a", 2), SaleIn(159.0, "a", 1), SaleIn(160.0, "b", 1), SaleIn(99.0, "a", 1)]
    sales.append(SaleIn(400.0, "c", 1))
    d = demand_matrix(sales, ["a", "b"], 100.0, 60.0, 2)
    assert d.tolist() == [[3.0, 0.0], [0.0, 1.0]]


def test_no_policy_loses_less_than_the_bound() -> None:
    store = load_store(store_file("station_kiosk.yaml"))
    model = StoreModel(store, RobotTiming.for_store(store, handling_s=60.0))
    t0 = 1_784_505_600.0
    gen = DemandGenerator.for_daily_total(store, 1500.0, seed=2)
    sales = [SaleIn(*s) for s in gen.sample(t0, t0 + DAY_S, np.random.default_rng(3))]
    reactive = model.run(ReactivePolicy(), sales, t0, t0 + DAY_S)
    on_call = store_bound(model, sales, t0, t0 + DAY_S, slot_s=300.0)
    scheduled = store_bound(model, sales, t0, t0 + DAY_S, slot_s=300.0, staff_on_call=False)
    assert on_call.demanded == scheduled.demanded == reactive.demanded
    # Staff on call relax the back room further: the bound can only fall.
    assert 0 < on_call.lost <= scheduled.lost + 1e-6 <= reactive.lost


def test_full_trips_and_night_work_do_not_beat_the_bound() -> None:
    # The store model's robot carries one container per round trip however many a task asks for
    # (the gripper holds one), and works at any hour: a policy that fills every lane on each round
    # (here every 10 min, nights too) and one planning on the true rates with fuller trips both
    # stay at or above the bound, whose robot works every slot at one container per cycle.
    store = load_store(store_file("station_kiosk.yaml"))
    timing = RobotTiming.for_store(store, handling_s=60.0)
    model = StoreModel(store, timing)
    t0 = 1_784_505_600.0
    gen = DemandGenerator.for_daily_total(store, 1500.0, seed=4)
    sales = [SaleIn(*s) for s in gen.sample(t0, t0 + DAY_S, np.random.default_rng(5))]
    bound = store_bound(model, sales, t0, t0 + DAY_S, slot_s=60.0)
    rounds = model.run(FixedRoundPolicy(period_s=600.0), sales, t0, t0 + DAY_S)
    oracle = model.run(
        PlannerPolicy("oracle", timing, model.lanes, truth=gen, alerts=AlertConfig()), sales, t0, t0 + DAY_S
    )
    assert rounds.moved / rounds.tasks > 2 and oracle.moved / oracle.tasks > 2  # several containers a task
    night = [s for s in sales if s.t - t0 < 6 * 3600.0]
    assert len(night) < 0.1 * len(sales)  # the shelf is filled ahead through a quiet night
    assert 0 < bound.lost <= min(rounds.lost, oracle.lost)
