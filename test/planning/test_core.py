"""The planner core: tasks from observations, results, bad input, and a restart from SQLite."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from restock import records
from restock.paths import store_file
from restock.planning.core import CoreConfig, PlannerInputError, RestockPlanner
from restock.planning.database import PlannerDb, PlannerDbError
from restock.store.description import load_store

STORE = load_store(store_file("corner_store.yaml"))
KIOSK = load_store(store_file("station_kiosk.yaml"))
T0 = 1_784_505_600.0 + 7 * 3600  # a Monday, 07:00


def empty(store, lanes: list[str], t: float) -> records.ShelfObservation:
    return records.ShelfObservation(
        stamp=t,
        camera_id=store.cameras[0].id,
        frame_stamp=t,
        lanes=[records.LaneObservation(lane_id=lane, state="empty") for lane in lanes],
    )


def result(t: records.RestockTask, placed: int, start: float, end: float, outcome: str = "done") -> records.TaskResult:
    return records.TaskResult(
        task_id=t.task_id, lane_id=t.lane_id, outcome=outcome, placed=placed, started=start, finished=end
    )


@pytest.mark.parametrize("store", [STORE, KIOSK], ids=["corner", "kiosk"])
def test_empty_lanes_get_tasks_one_at_a_time(tmp_path: Path, store) -> None:
    core = RestockPlanner(store, PlannerDb(tmp_path / "p.db"), CoreConfig(max_outstanding=1))
    assert core.step(T0) == []  # full shelves at 07:00: nothing urgent
    lanes = [lv.id for lv in store.lanes[:3]]
    core.on_observation(empty(store, lanes, T0 + 1), T0 + 1)
    issued = core.step(T0 + 2)
    assert len(issued) == 1 and issued[0].lane_id in lanes
    assert issued[0].quantity == store.lane_by_id[issued[0].lane_id].lane.capacity
    assert core.step(T0 + 3) == []  # one outstanding at a time
    core.on_result(result(issued[0], issued[0].quantity, T0 + 3, T0 + 100), T0 + 101)
    nxt = core.step(T0 + 102)
    assert len(nxt) == 1 and nxt[0].task_id != issued[0].task_id and nxt[0].lane_id != issued[0].lane_id
    snapshot = core.snapshot(T0 + 102)
    assert snapshot.tasks[0].task_id == nxt[0].task_id
    assert records.decode(records.encode(snapshot), records.PlanSnapshot) == snapshot


def test_bad_input_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    core = RestockPlanner(STORE, PlannerDb(tmp_path / "p.db"))
    core.step(T0)
    before = core.estimator.mean.copy()
    sale = records.SaleEvent(stamp=T0, sku="cola_500", quantity=1)
    with pytest.raises(PlannerInputError, match="unknown SKU 'beer'"):
        core.on_sale(sale.model_copy(update={"sku": "beer"}), T0)
    with pytest.raises(PlannerInputError, match="in the future"):
        core.on_sale(sale.model_copy(update={"stamp": T0 + 3600}), T0)
    core.on_sale(sale, T0)
    with pytest.raises(PlannerInputError, match="out of order"):
        core.on_sale(sale.model_copy(update={"stamp": T0 - 600}), T0)
    with pytest.raises(PlannerInputError, match="unknown lane"):
        core.on_sale(sale.model_copy(update={"lane_id": "r9_l99"}), T0)
    with pytest.raises(PlannerInputError, match="unknown or already closed task"):
        core.on_result(
            records.TaskResult(task_id="task-9", lane_id="r1_l01", outcome="done", placed=1, started=T0, finished=T0),
            T0,
        )
    assert core.on_observation(empty(STORE, ["r1_l01", "nope_l1"], T0), T0) == [
        "unknown lane 'nope_l1' from camera cam_left"
    ]
    # Only the accepted sale (one cola container) and the empty front changed the estimates.
    assert core.estimator.mean[0] == 0.0
    drop = float(np.sum(before) - np.sum(core.estimator.mean))
    assert drop == pytest.approx(before[0]) or drop == pytest.approx(before[0] + 1)


def test_lanes_waiting_for_an_operator_are_left_alone(tmp_path: Path) -> None:
    core = RestockPlanner(STORE, PlannerDb(tmp_path / "p.db"))
    core.step(T0)
    req = records.HandoffRequest(
        request_id="h-1", source="shelf_camera", kind="obstruction", stamp=T0, lane_id="r1_l01"
    )
    core.on_handoff_request(req, T0)
    core.on_observation(empty(STORE, ["r1_l01"], T0 + 1), T0 + 1)
    assert core.step(T0 + 2) == []
    assert core.snapshot(T0 + 2).waiting_for_operator == ["r1_l01"]
    core.on_handoff_resolution(
        records.HandoffResolution(request_id="h-1", operator="op", action="cleared", stamp=T0 + 3), T0 + 3
    )
    issued = core.step(T0 + 4)
    assert [t.lane_id for t in issued] == ["r1_l01"]


def test_restart_restores_model_and_pending_tasks_and_never_reuses_ids(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    core = RestockPlanner(STORE, PlannerDb(path), CoreConfig(save_period_s=1.0))
    core.step(T0)
    for k in range(40):
        core.on_sale(records.SaleEvent(stamp=T0 + 10 + k, sku="coffee_can", quantity=1), T0 + 60)
    core.on_observation(empty(STORE, ["r1_l01", "r1_l02"], T0 + 60), T0 + 60)
    first = core.step(T0 + 61)
    assert len(first) == 1
    core.model.fit()
    rate_before = core.model.rate("coffee_can", T0 + 1800)
    assert rate_before > 10  # forty coffees in a minute moved it
    core.db.conn.close()  # killed: no clean shutdown, no final save

    again = RestockPlanner(STORE, PlannerDb(path), CoreConfig())
    assert list(again.outstanding) == [first[0].task_id]  # the pending task is back
    assert again.model.rate("coffee_can", T0 + 1800) == pytest.approx(rate_before, rel=1e-6)
    assert again.step(T0 + 70) == []  # still out: not issued again
    again.on_result(result(first[0], first[0].quantity, T0 + 61, T0 + 200), T0 + 201)
    second = again.step(T0 + 202)
    assert second and second[0].task_id not in {first[0].task_id}
    assert again.db.task_ids() == [first[0].task_id, second[0].task_id]


def test_locked_database_keeps_the_plan_and_loses_nothing(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "p.db"
    core = RestockPlanner(STORE, PlannerDb(path, timeout_s=0.05))
    core.step(T0)
    core.on_observation(empty(STORE, ["r1_l01", "r1_l02"], T0 + 1), T0 + 1)
    first = core.step(T0 + 2)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    with pytest.raises(PlannerDbError, match="locked"):
        core.on_result(result(first[0], first[0].quantity, T0 + 2, T0 + 50), T0 + 51)
    assert core.outstanding == {}  # applied in memory, its write queued
    with pytest.raises(PlannerDbError):
        core.step(T0 + 52)  # no new task while the database cannot record its id
    assert core.plan  # the last good plan is still there
    other.execute("ROLLBACK")
    issued = core.step(T0 + 53)
    assert issued
    assert PlannerDb(path).open_tasks()[0].task.task_id == issued[0].task_id  # the queued close was written
    statuses = dict(core.db.conn.execute("SELECT task_id, status FROM tasks"))
    assert statuses[first[0].task_id] == "done"


def test_back_room_stock_follows_the_refill_schedule() -> None:
    core = RestockPlanner(STORE, None)
    refill = STORE.stock.refill
    day0 = 1_784_505_600.0
    core.step(day0 + (refill.first_at_h - 0.5) * 3600)
    core.stock[:] = 0
    core.step(day0 + (refill.first_at_h - 0.1) * 3600)
    assert core.stock.sum() == 0
    core.step(day0 + (refill.first_at_h + 0.1) * 3600)
    assert np.all(core.stock == core.stock_capacity)


def test_a_sales_log_is_learned_once_per_database(tmp_path: Path) -> None:
    from restock.demand.generator import DemandGenerator
    from restock.demand.saleslog import write_sales_log

    log = tmp_path / "sales.csv"
    gen = DemandGenerator(STORE, seed=3)
    write_sales_log(log, gen.sample(T0 - 7 * 86_400, T0, np.random.default_rng(0)))
    core = RestockPlanner(STORE, PlannerDb(tmp_path / "p.db"))
    assert core.import_sales_log(str(log)) > 0
    rate = core.model.rate("cola_500", T0 + 3600)
    again = RestockPlanner(STORE, PlannerDb(tmp_path / "p.db"))  # a restart with the same parameter
    assert again.import_sales_log(str(log)) == 0
    assert again.model.rate("cola_500", T0 + 3600) == pytest.approx(rate, rel=1e-6)


def test_an_old_database_from_a_later_time_does_not_block_a_new_run(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    core = RestockPlanner(STORE, PlannerDb(path))
    late = T0 + 5 * 86_400
    core.step(late)
    core.on_sale(records.SaleEvent(stamp=late, sku="cola_500", quantity=1), late)
    core.on_observation(empty(STORE, ["r1_l01"], late), late)
    old = core.step(late + 1)
    assert old
    core.save(late + 1)
    core.db.conn.close()
    # A new simulation run starts earlier on the same database.
    fresh = RestockPlanner(STORE, PlannerDb(path))
    assert fresh.outstanding
    new = fresh.step(T0)
    assert fresh.clock_reset and old[0].task_id not in fresh.outstanding
    assert all(t.task_id != old[0].task_id for t in new)
    fresh.on_sale(records.SaleEvent(stamp=T0, sku="cola_500", quantity=1), T0)  # not "out of order"


def test_a_failed_lane_waits_before_it_is_tried_again(tmp_path: Path) -> None:
    core = RestockPlanner(STORE, PlannerDb(tmp_path / "p.db"), CoreConfig(retry_backoff_s=300.0))
    core.step(T0)
    core.on_observation(empty(STORE, ["r1_l01"], T0 + 1), T0 + 1)
    (task,) = core.step(T0 + 2)
    core.on_result(result(task, 0, T0 + 2, T0 + 20, outcome="failed"), T0 + 21)
    assert all(t.lane_id != "r1_l01" for t in core.step(T0 + 22))
    assert [t.lane_id for t in core.step(T0 + 400)] == ["r1_l01"]


def test_reactive_policy_refills_the_emptiest_low_lane_first() -> None:
    """The baseline `restock sim --compare` runs through the same node: lanes at or below the threshold."""
    from restock.paths import store_file
    from restock.planning.core import CoreConfig, RestockPlanner
    from restock.store.description import load_store

    store = load_store(store_file("corner_store.yaml"))
    core = RestockPlanner(store, None, CoreConfig(policy="reactive", reactive_threshold=0.25), now=1000.0)
    lanes = core.lanes
    core.estimator.mean[:] = lanes.capacity  # all full
    a, b = 3, 7
    core.estimator.mean[a] = 2  # 2 of 8 or so: low
    core.estimator.mean[b] = 0  # empty: first
    core._replan(1000.0)
    assert [t.lane_index for t in core.plan] == [b, a]
    assert core.plan[0].quantity == int(lanes.capacity[b])


def test_the_reactive_rule() -> None:
    """Lanes at or below the threshold with room and stock, not blocked, emptiest first (ties in lane order)."""
    from restock.planning.policies import reactive_lanes

    capacity = np.array([8, 8, 8, 8, 8])
    count = np.array([2, 0, 2, 8, 1])
    stock = np.array([5, 5, 5, 5, 0])  # lane 4 has none behind it
    assert reactive_lanes(count, capacity, stock, 0.25).tolist() == [1, 0, 2]
    blocked = np.array([False, True, False, False, False])
    assert reactive_lanes(count, capacity, stock, 0.25, blocked).tolist() == [0, 2]
    assert reactive_lanes(count, capacity, stock, 0.0).tolist() == [1]


def test_with_a_till_each_sale_is_counted_once_and_tasks_fit_the_lane(tmp_path: Path) -> None:
    """With a POS feed naming each sale's lane, the lane counts are the till's, not the forecast's
    as well: counting both ran the estimates low and sent the arm to load full lanes (issue 8)."""
    core = RestockPlanner(STORE, PlannerDb(tmp_path / "p.db"), CoreConfig(max_outstanding=1))
    core.step(T0)
    lane = STORE.lanes[0]
    i = core.lanes.index[lane.id]
    t = T0
    for _ in range(3):
        t += 600.0
        core.on_sale(records.SaleEvent(stamp=t, sku=lane.lane.sku, quantity=1, lane_id=lane.id), t)
        core.step(t + 1)  # the forecast's sales are the till's: not taken out a second time
    cap = lane.lane.capacity
    assert core.estimator.mean[i] == pytest.approx(cap - 3)
    others = [j for j, s in enumerate(core.lanes.lane_sku) if s == lane.lane.sku and j != i]
    assert all(core.estimator.mean[j] == pytest.approx(core.lanes.capacity[j]) for j in others)
    # Seen empty now (sales missed): the lane is 0 and nothing is passed to the SKU's other lanes.
    core.on_observation(empty(STORE, [lane.id], t + 2), t + 2)
    assert core.estimator.mean[i] == 0.0
    assert all(core.estimator.mean[j] == pytest.approx(core.lanes.capacity[j]) for j in others)
    for task in core.step(t + 3):
        j = core.lanes.index[task.lane_id]
        assert task.quantity <= core.lanes.capacity[j] - round(core.estimator.mean[j])


def test_a_replayed_till_history_is_counted_once_across_a_restart(tmp_path: Path) -> None:
    """The till replays its recent sales to a restarted planner: the ones saved before the crash
    are skipped by receipt number, the ones it missed (down, or not yet saved) are counted."""
    db_path = tmp_path / "p.db"
    core = RestockPlanner(STORE, PlannerDb(db_path), CoreConfig(save_period_s=60.0))
    core.step(T0)
    sales = [records.SaleEvent(stamp=T0 + 10 * k, sku="cola_500", quantity=1, seq=k + 1) for k in range(6)]
    for s in sales[:3]:
        assert core.on_sale(s, s.stamp)
    assert not core.on_sale(sales[0], T0 + 25)  # heard again (the second subscription): once
    core.save(T0 + 25)
    assert core.on_sale(sales[3], sales[3].stamp)  # counted, not yet saved: lost with the crash
    del core  # kill -9
    again = RestockPlanner(STORE, PlannerDb(db_path), CoreConfig())
    assert again.receipts == {1, 2, 3}
    late = records.SaleEvent(stamp=T0 + 400, sku="cola_500", quantity=1, seq=7)
    assert again.on_sale(late, T0 + 400)  # a live sale heard before the history replay
    counted = [again.on_sale(s, T0 + 400) for s in sales]  # the whole history, replayed (older by > 60 s)
    assert counted == [False, False, False, True, True, True]
    again.save(T0 + 400)
    journal = PlannerDb(db_path).events(records.SaleEvent.KIND)
    assert sorted(records.decode(body, records.SaleEvent).seq for _, _, body in journal) == [1, 2, 3, 4, 5, 6, 7]


def test_outstanding_tasks_are_sent_again_and_a_repeated_result_is_ignored(tmp_path: Path) -> None:
    """A task or result lost while the arm or the planner was down: the task is sent again, the
    arm answers from its store, and the planner takes that answer once."""
    db_path = tmp_path / "p.db"
    core = RestockPlanner(STORE, PlannerDb(db_path), CoreConfig(resend_period_s=120.0))
    core.step(T0)
    core.on_observation(empty(STORE, [STORE.lanes[0].id], T0 + 1), T0 + 1)
    (task,) = core.step(T0 + 2)
    assert core.to_resend(T0 + 60) == []  # just sent
    assert core.to_resend(T0 + 130) == [task]
    assert core.to_resend(T0 + 140) == []
    del core  # the planner restarts: its outstanding tasks go out again at once
    core = RestockPlanner(STORE, PlannerDb(db_path), CoreConfig(resend_period_s=120.0))
    assert core.to_resend(T0 + 150) == [task]
    res = result(task, task.quantity, T0 + 100, T0 + 160)
    assert core.on_result(res, T0 + 161)
    assert not core.on_result(res, T0 + 170)  # the arm's answer to the task sent again
    with pytest.raises(PlannerInputError, match="unknown"):
        core.on_result(res.model_copy(update={"task_id": "task-9999999"}), T0 + 171)


def test_a_back_room_running_dry_raises_an_alert_that_staff_clear_and_a_restart_keeps_the_counts(
    tmp_path: Path,
) -> None:
    path = tmp_path / "p.db"
    noon = 1_784_505_600.0 + 12 * 3600  # deliveries at 11:00 and 17:00
    core = RestockPlanner(STORE, PlannerDb(path), CoreConfig(save_period_s=1.0))
    cola = core.lanes.skus.index("cola_500")
    core.step(noon)
    assert core.alert_changes == []
    core.stock[cola] = 3  # nearly gone at noon, five busy hours before the 17:00 delivery
    for k in range(40):  # cola sells briskly: the model learns it
        core.on_sale(records.SaleEvent(stamp=noon + 1 + k, sku="cola_500", quantity=1, seq=k + 1), noon + 60)
    core.model.fit()
    core.step(noon + 60)
    (alert,) = [a for a in core.alert_changes if a.sku == "cola_500"]
    assert alert.state == "raised" and alert.next_delivery == 1_784_505_600.0 + 17 * 3600
    assert alert.lead_s is not None and alert.lead_s <= 3600 and alert.sales_at_risk >= 2
    assert alert.message.startswith("cola_500: back room empty")
    core.alert_changes.clear()
    core.save(noon + 60)
    from restock.day.report import backroom_alerts_html

    assert "cola_500: back room empty" in backroom_alerts_html(path)  # the day report's section
    # A restart keeps the back-room counts (not the store file's 120).
    again = RestockPlanner(STORE, PlannerDb(path))
    assert again.stock[cola] == core.stock[cola] < 10
    # Staff bring 120: the planner takes the count and the alert clears.
    restock = records.BackroomRestock(
        stamp=noon + 120, sku="cola_500", stock_location="s_cola_500", added=117, quantity=120, alert_id=alert.alert_id
    )
    core.on_backroom_restock(restock, noon + 120)
    assert core.stock[cola] == 120 - sum(o.task.quantity for o in core.outstanding.values() if o.task.sku == "cola_500")
    core.step(noon + 121)
    assert [(a.sku, a.state, a.alert_id) for a in core.alert_changes] == [("cola_500", "cleared", alert.alert_id)]
    assert RestockPlanner(STORE, PlannerDb(path)).stock[cola] == core.stock[cola]  # written at once
    # A restart after a delivery came assumes it came.
    later = RestockPlanner(STORE, PlannerDb(path))
    later.step(1_784_505_600.0 + 17.5 * 3600)
    taken = sum(o.task.quantity for o in later.outstanding.values() if o.task.sku == "cola_500")
    assert later.stock[cola] + taken == later.stock_capacity[cola]


def seen(store, lane: str, state: str, t: float, camera: int = 0) -> records.ShelfObservation:
    return records.ShelfObservation(
        stamp=t,
        camera_id=store.cameras[camera].id,
        frame_stamp=t,
        lanes=[records.LaneObservation(lane_id=lane, state=state)],
    )


def test_a_lane_just_filled_is_not_sent_more_while_the_camera_catches_up(tmp_path: Path) -> None:
    """The store day's r3_l05 (seed 7): seen empty, filled with 8, and the camera, which changes a
    lane's state only after several frames agree, still says empty just after the result; that view
    from before the placement sent 8 more to the full lane, all dropped. Now the arm's count stands
    until the camera has seen the lane present; a lane it then sees empty is empty."""
    core = RestockPlanner(STORE, PlannerDb(tmp_path / "p.db"), CoreConfig(max_outstanding=1))
    lane = "r3_l05"
    i = core.lanes.index[lane]
    cap = int(core.lanes.capacity[i])
    core.step(T0)
    core.on_observation(seen(STORE, lane, "empty", T0 + 505), T0 + 505)
    core.on_observation(seen(STORE, lane, "empty", T0 + 505, camera=1), T0 + 505)  # both cameras see it
    (task,) = core.step(T0 + 510)
    assert task.lane_id == lane and task.quantity == cap
    core.on_observation(seen(STORE, lane, "empty", T0 + 535), T0 + 535)  # mid-task: still empty
    assert core.step(T0 + 540) == []
    core.on_result(result(task, cap, T0 + 510, T0 + 563), T0 + 563.2)
    assert core.step(T0 + 563.2) == []
    core.on_observation(seen(STORE, lane, "empty", T0 + 565), T0 + 565)  # the camera not caught up
    core.on_observation(seen(STORE, lane, "empty", T0 + 565, camera=1), T0 + 565)  # nor the other one
    assert round(core.estimator.mean[i]) == cap  # less a little predicted demand
    for t in (T0 + 570, T0 + 600):
        for out in core.step(t):
            j = core.lanes.index[out.lane_id]
            assert out.lane_id != lane
            assert out.quantity <= core.lanes.capacity[j] - round(core.estimator.mean[j])
    # One camera sees it filled: from then on its "empty" is news (sold out), the other's not yet.
    core.on_observation(seen(STORE, lane, "present", T0 + 595), T0 + 595)
    core.on_observation(seen(STORE, lane, "empty", T0 + 625, camera=1), T0 + 625)
    assert round(core.estimator.mean[i]) == cap  # less a little predicted demand
    core.on_observation(seen(STORE, lane, "empty", T0 + 3000), T0 + 3000)
    assert core.estimator.mean[i] == 0.0


def test_a_new_store_starts_from_the_fleet_prior(tmp_path: Path) -> None:
    """Other stores sell most at 08:00 and in bursts: a new store's planner with their prior
    expects its morning peak and takes their burst nowcast before it has sold anything; a bad
    prior file is refused by name."""
    from restock.demand.burst import BurstFit
    from restock.demand.prior import FleetPrior, PriorError, Shape

    day = np.full(24, 0.2)
    day[8] = 5.0
    week = np.tile(day, 7)
    path = tmp_path / "prior.json"
    FleetPrior({}, {}, Shape(30.0, week / week.mean()), burst=BurstFit(0.6, 300.0, 900.0, 0, 40.0)).save(path)
    core = RestockPlanner(STORE, PlannerDb(tmp_path / "p.db"))
    generic = float(core.model.rate("cola_500", T0 + 1.5 * 3600)) / float(core.model.rate("cola_500", T0 - 3.5 * 3600))
    core.use_fleet_prior(str(path))
    morning = float(core.model.rate("cola_500", T0 + 1.5 * 3600))  # 08:30
    assert morning > 15 * float(core.model.rate("cola_500", T0 - 3.5 * 3600)) and generic < 6
    assert core.model.burst.fit.gain == 0.6 and core.model.burst.fit.dispersion == 40.0
    path.write_text('{"version": 1, "store": {"per_lane_day": 3}}')
    with pytest.raises(PriorError, match=r"prior\.json: store"):
        core.use_fleet_prior(str(path))


def test_an_alert_staff_answered_at_a_full_rack_is_closed(tmp_path: Path) -> None:
    """Staff came while the rack was still full and brought nothing: the alert is closed all the
    same (published as cleared), so a later risk raises a new one that calls them again."""
    noon = 1_784_505_600.0 + 12 * 3600
    core = RestockPlanner(STORE, PlannerDb(tmp_path / "p.db"))
    cola = core.lanes.skus.index("cola_500")
    core.step(noon)
    core.stock[cola] = 3
    for k in range(40):
        core.on_sale(records.SaleEvent(stamp=noon + 1 + k, sku="cola_500", quantity=1, seq=k + 1), noon + 60)
    core.model.fit()
    core.step(noon + 60)
    (alert,) = [a for a in core.alert_changes if a.sku == "cola_500"]
    core.alert_changes.clear()
    there = int(core.stock[cola]) + sum(o.task.quantity for o in core.outstanding.values() if o.task.sku == "cola_500")
    nothing = records.BackroomRestock(
        stamp=noon + 90, sku="cola_500", stock_location="s_cola_500", added=0, quantity=there, alert_id=alert.alert_id
    )
    core.on_backroom_restock(nothing, noon + 90)
    assert [(a.state, a.alert_id) for a in core.alert_changes] == [("cleared", alert.alert_id)]
    core.alert_changes.clear()
    core.step(noon + 91)  # still at risk: a new alert
    (again,) = [a for a in core.alert_changes if a.sku == "cola_500"]
    assert again.state == "raised" and again.alert_id != alert.alert_id
