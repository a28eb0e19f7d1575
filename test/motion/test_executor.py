"""The task executor against the embedded MuJoCo world: real containers move from stock to lanes."""

from __future__ import annotations

import pytest

from restock import records
from restock.motion.commands import Hold, SendTrajectory, SetGripper
from restock.motion.envelope import Envelope
from restock.motion.executor import Executor, ExecutorSettings, Phase
from restock.motion.kinematics import JOINT_NAMES, ArmModel
from restock.motion.moves import Mover
from restock.motion.taskstore import TaskStore
from restock.paths import SOURCE_ROOT
from restock.sim.armloop import apply, joints, run
from restock.sim.world import World
from restock.store.description import load_store


def _setup(store_name: str, tmp_path, fill: float = 0.5):
    store = load_store(SOURCE_ROOT / "config" / "stores" / store_name)
    world = World(store, seed=3, render=False, fill=fill)
    mover = Mover(store, Envelope(ArmModel.from_store(store)))
    executor = Executor(mover, TaskStore(tmp_path / "tasks.sqlite"))
    return store, world, executor


def _task(store, lane_id: str, quantity: int = 1, task_id: str = "t1") -> records.RestockTask:
    lane = store.lane_by_id[lane_id]
    loc = store.stock_for_sku(lane.lane.sku)[0]
    return records.RestockTask(
        task_id=task_id, lane_id=lane_id, sku=lane.lane.sku, quantity=quantity, stock_location=loc.id, created=0.0
    )


def _done(published) -> bool:
    return any(isinstance(r, records.TaskResult) for r in published)


@pytest.mark.parametrize(("store_name", "lane_id"), [("corner_store.yaml", "r3_l11"), ("station_kiosk.yaml", "r1_l01")])
def test_a_task_moves_containers_into_the_lane(store_name: str, lane_id: str, tmp_path) -> None:
    store, world, ex = _setup(store_name, tmp_path)
    task = _task(store, lane_id, quantity=2)
    before = world.lane_count(lane_id)
    stock_before = world.stock_quantity(task.stock_location)
    assert ex.submit(task, world.time) == []
    published = run(world, ex, 60.0, until=_done)
    results = [r for r in published if isinstance(r, records.TaskResult)]
    assert results and results[0].outcome == "done", (results, [e for e in world.events][-5:])
    assert results[0].placed == 2
    world.step(6.0)  # what was let go is judged once it has been still a while
    assert world.lane_count(lane_id) == before + 2
    assert world.stock_quantity(task.stock_location) == stock_before - 2
    assert ex.phase is Phase.IDLE and ex.store.get(task.task_id).state == "finished"
    # Sent again (a planner restart): answered from the store, not repeated.
    again = ex.submit(task, world.time)
    assert [c.record.outcome for c in again] == ["done"]


def test_unknown_lane_and_wrong_sku_are_rejected(tmp_path) -> None:
    store, _world, ex = _setup("corner_store.yaml", tmp_path)
    good = _task(store, "r1_l01")
    bad_lane = good.model_copy(update={"task_id": "t2", "lane_id": "r9_l99"})
    bad_sku = good.model_copy(update={"task_id": "t3", "sku": "water_500"})
    for task, why in ((bad_lane, "unknown lane"), (bad_sku, "holds cola_500")):
        (cmd,) = ex.submit(task, 0.0)
        assert cmd.record.outcome == "rejected" and why in cmd.record.reason


def test_failed_grasps_park_the_task_and_a_resolution_resumes_it(tmp_path) -> None:
    store, world, ex = _setup("corner_store.yaml", tmp_path)
    world.faults.grip_force_scale = 0.02  # too weak to carry anything: every grasp slips on the lift
    task = _task(store, "r1_l05")
    ex.submit(task, world.time)
    published = run(world, ex, 60.0, until=lambda p: any(isinstance(r, records.HandoffRequest) for r in p))
    (request,) = [r for r in published if isinstance(r, records.HandoffRequest)]
    assert request.kind == "failed_grasp" and request.task_id == task.task_id
    parked = [r for r in published if isinstance(r, records.TaskResult)]
    assert parked and parked[0].outcome == "parked" and parked[0].handoff_id == request.request_id
    # A restart keeps the parked task.
    again = Executor(ex.mover, TaskStore(tmp_path / "tasks.sqlite"))
    assert request.request_id in again.parked
    world.faults.grip_force_scale = 1.0  # mended
    before = world.lane_count("r1_l05")
    again.resolve(
        records.HandoffResolution(request_id=request.request_id, operator="op1", action="retried", stamp=world.time),
        world.time,
    )
    published = run(world, again, 60.0, until=_done)
    assert [r.outcome for r in published if isinstance(r, records.TaskResult)] == ["done"]
    world.step(6.0)  # what was let go is judged once it has been still a while
    assert world.lane_count("r1_l05") == before + 1


def test_an_abandoned_handoff_drops_the_task_with_a_failed_result(tmp_path) -> None:
    store, world, ex = _setup("corner_store.yaml", tmp_path)
    world.faults.grip_force_scale = 0.02
    ex.submit(_task(store, "r2_l02", task_id="t9"), world.time)
    published = run(world, ex, 60.0, until=lambda p: any(isinstance(r, records.HandoffRequest) for r in p))
    (request,) = [r for r in published if isinstance(r, records.HandoffRequest)]
    out = ex.resolve(
        records.HandoffResolution(request_id=request.request_id, operator="op1", action="abandoned", stamp=world.time),
        world.time,
    )
    assert [c.record.outcome for c in out] == ["failed"]
    assert ex.store.get("t9").state == "finished" and not ex.parked and not ex.queue


def test_a_restart_resumes_an_active_task_without_repeating_placed_containers(tmp_path) -> None:
    store, world, ex = _setup("corner_store.yaml", tmp_path)
    lane = "r1_l03"
    ex.submit(_task(store, lane, quantity=2, task_id="t7"), world.time)
    before = world.lane_count(lane)
    run(world, ex, 60.0, until=lambda _p: ex.active is not None and ex.active.placed == 1)
    world.step(6.0)  # the released container slides down the board and comes to rest
    assert world.lane_count(lane) == before + 1
    # The process dies here; a new one opens the same database.
    again = Executor(ex.mover, TaskStore(tmp_path / "tasks.sqlite"))
    assert [(t.task_id, placed) for t, placed in again.queue] == [("t7", 1)]
    published = run(world, again, 60.0, until=_done)
    (result,) = [r for r in published if isinstance(r, records.TaskResult)]
    assert result.outcome == "done" and result.placed == 2
    assert world.lane_count(lane) == before + 2


def test_an_obstruction_in_the_corridor_stops_the_arm_and_becomes_a_handoff(tmp_path) -> None:
    store, world, ex = _setup("corner_store.yaml", tmp_path)
    task = _task(store, "r1_l11")  # stock at x = 0.75, the lane at x = 2.12: the arm crosses the rail
    loc = store.stock_by_id[task.stock_location]
    x, _y, z = store.stock_pick_point(loc)
    world.put_obstruction(at=(x + 0.3, -0.1, z))  # a box in the corridor on the way to the stock
    ex.submit(task, world.time)
    published = run(world, ex, 60.0, until=lambda p: any(isinstance(r, records.TaskResult) for r in p))
    assert any(e.kind == "arm_collision" for e in world.events)
    (request,) = [r for r in published if isinstance(r, records.HandoffRequest)]
    assert request.kind == "obstruction" and request.task_id == task.task_id
    (result,) = [r for r in published if isinstance(r, records.TaskResult)]
    assert result.outcome == "parked" and result.handoff_id == request.request_id
    assert ex.store.get(task.task_id).state == "parked"


def test_a_failure_while_backing_out_parks_the_task_and_its_resolution_recovers_without_a_task(tmp_path) -> None:
    """The executor once crashed here: a fault's resolution left it in RECOVER with no active task."""
    store, world, ex = _setup("corner_store.yaml", tmp_path)
    task = _task(store, "r1_l02", task_id="t5")
    # After a restart the arm is still in the rack, at the pick point of the task's stock.
    q_rack = ex.mover.solve(ex.mover.pick(task.stock_location), None)
    world.teleport(dict(zip(JOINT_NAMES, q_rack, strict=True)))
    ex.submit(task, world.time)
    # The arm is stuck there: its joints do not move, whatever it is told.
    published: list = []
    q, grip = joints(world)
    t = world.time
    while not any(isinstance(r, records.HandoffRequest) for r in published) and t < world.time + 30.0:
        apply(world, ex.tick(t, q, grip), published)
        t += 0.05
    (request,) = [r for r in published if isinstance(r, records.HandoffRequest)]
    assert request.kind == "obstruction" and request.task_id == "t5"
    assert ex.active is None and ex.phase is Phase.FAULT and request.request_id in ex.parked
    # The operator frees the arm and says so: the executor backs out with no task, then resumes it.
    world.time = t
    ex.resolve(records.HandoffResolution(request_id=request.request_id, operator="op1", action="cleared", stamp=t), t)
    assert ex.phase is Phase.RECOVER and ex.active is None
    before = world.lane_count("r1_l02")
    published = run(world, ex, 60.0, until=_done)
    assert [r.outcome for r in published if isinstance(r, records.TaskResult)] == ["done"]
    assert world.lane_count("r1_l02") == before + 1
    assert ex.phase is Phase.IDLE and ex.active is None and not ex.parked


def test_late_trajectories_and_stale_feedback_are_not_read_as_an_obstruction(tmp_path) -> None:
    """Sim time racing ahead of the wall clock: commands land late, joint states arrive late."""
    store, world, ex = _setup("corner_store.yaml", tmp_path)
    ex.settings = ExecutorSettings(start_delay_s=0.1, lag_allowance_s=0.3, start_allowance_s=2.0)
    # A trajectory landing 0.8 s late makes the simulator's ideal servos jump to catch up: a yank
    # of metres per second in one servo period that pulls the fingers off a container (physics,
    # not the controller; lockstep prevents it). This test is about how the controller reads late
    # feedback, so the fingers grip hard enough to keep a bottle through such yanks.
    world.faults.grip_force_scale, world.faults.friction_scale = 10.0, 3.0
    task = _task(store, "r3_l11", quantity=2, task_id="t8")
    before = world.lane_count("r3_l11")
    ex.submit(task, world.time)
    delay, feedback_delay, dt = 0.8, 0.2, 0.05
    in_flight: list[tuple[float, list]] = []  # (delivery time, commands)
    feedback: list[tuple[float, object, float]] = []  # (measured at, q, gripper)
    published: list = []
    end = world.time + 120.0
    while world.time < end and not _done(published):
        feedback.append((world.time, *joints(world)))
        seen = [f for f in feedback if f[0] <= world.time - feedback_delay] or feedback[:1]
        at, q, grip = seen[-1]
        in_flight.append((world.time + delay, ex.tick(world.time, q, grip, measured_at=at)))
        for _when, commands in [c for c in in_flight if c[0] <= world.time]:
            apply(world, commands, published)
        in_flight = [c for c in in_flight if c[0] > world.time]
        world.step(dt)
    assert not [r for r in published if isinstance(r, records.HandoffRequest)]
    assert [(r.outcome, r.placed) for r in published if isinstance(r, records.TaskResult)] == [("done", 2)]
    world.step(6.0)  # the last one slides home
    assert world.lane_count("r3_l11") == before + 2


def test_a_late_release_command_is_waited_for_before_the_arm_pulls_back(tmp_path) -> None:
    """Gripper commands travel on their own topic and may land after the wait for them has passed.

    Fingers on an item stop at its width, so the executor must not read "held" as "released" and
    pull back with the item (which then falls outside the lane: the store day's drops).
    """
    store, world, ex = _setup("corner_store.yaml", tmp_path)
    task = _task(store, "r1_l07", quantity=2, task_id="t10")
    before = world.lane_count("r1_l07")
    ex.submit(task, world.time)
    gripper_delay, dt = 0.7, 0.05
    late_gripper: list[tuple[float, list]] = []
    published: list = []
    end = world.time + 120.0
    while world.time < end and not _done(published):
        q, grip = joints(world)
        commands = ex.tick(world.time, q, grip, measured_at=world.time)
        apply(world, [c for c in commands if not isinstance(c, SetGripper)], published)
        late_gripper.append((world.time + gripper_delay, [c for c in commands if isinstance(c, SetGripper)]))
        for _when, cmds in [c for c in late_gripper if c[0] <= world.time]:
            apply(world, cmds, published)
        late_gripper = [c for c in late_gripper if c[0] > world.time]
        world.step(dt)
    world.step(6.0)  # the last one slides home
    assert [e.kind for e in world.events if e.kind == "dropped"] == []
    assert [(r.outcome, r.placed) for r in published if isinstance(r, records.TaskResult)] == [("done", 2)]
    assert world.lane_count("r1_l07") == before + 2


def test_sim_time_running_ahead_of_a_new_trajectory_is_waited_out_in_wall_time(tmp_path) -> None:
    """A simulator may run many sim seconds before it reads a trajectory; a blocked arm still fails."""
    store, world, ex = _setup("corner_store.yaml", tmp_path)
    ex.settings = ExecutorSettings(start_allowance_s=2.0, start_allowance_wall_s=1.0)
    ex.submit(_task(store, "r1_l11", task_id="t6"), world.time)
    q, grip = joints(world)
    t0 = world.time
    (send,) = [c for c in ex.tick(t0, q, grip, wall=100.0) if isinstance(c, SendTrajectory)]
    # 30 sim-s pass within 0.2 wall-s, the arm still at its start: not (yet) blocked.
    for k in range(1, 31):
        assert ex.tick(t0 + k, q, grip, wall=100.0 + 0.2 * k / 30) == []
    assert ex.motion is not None and ex.motion.trajectory is send.trajectory
    # Still there a wall-second later: the arm is blocked.
    out = ex.tick(t0 + 31, q, grip, wall=101.5)
    out += ex.tick(t0 + 32, q, grip, wall=101.6)
    assert any(isinstance(c, Hold) for c in out) and ex.motion is None


def test_a_pause_after_the_last_release_finishes_the_task_without_fetching_another(tmp_path) -> None:
    """Stale joint states while backing out of the lane (day1600: "placed 2 of 1"): on resume the
    arm recovers to the corridor and the task is done; it does not fetch one more container."""
    store, world, ex = _setup("corner_store.yaml", tmp_path)
    task = _task(store, "r3_l02", quantity=1, task_id="t9")
    before = world.lane_count("r3_l02")
    stock_before = world.stock_quantity(task.stock_location)
    ex.submit(task, world.time)
    run(world, ex, 60.0, until=lambda _published: ex.phase is Phase.RETREAT_PLACE)
    assert ex.phase is Phase.RETREAT_PLACE and ex.active is not None and ex.active.placed == 1
    apply(world, ex.pause("joint_states stale"), [])
    ex.resume()
    published = run(world, ex, 60.0, until=_done)
    (result,) = [r for r in published if isinstance(r, records.TaskResult)]
    assert result.outcome == "done" and result.placed == 1
    world.step(6.0)  # what was let go is judged once it has been still a while
    assert world.lane_count("r3_l02") == before + 1
    assert world.stock_quantity(task.stock_location) == stock_before - 1
    assert ex.phase is Phase.IDLE and ex.active is None


def test_an_executor_woken_only_when_it_asks_does_the_work_of_one_ticked_every_10_ms(tmp_path) -> None:
    # Lockstep: the simulator wakes the arm only at the sim times it asks for (Executor.wake_at).
    store, world, ex = _setup("corner_store.yaml", tmp_path)
    assert ex.wake_at(world.time + 0.05) is None  # idle: nothing to wake for
    task = _task(store, "r3_l11", quantity=2)
    before = world.lane_count("r3_l11")
    ex.submit(task, world.time)
    published: list = []
    ticks, end = 0, world.time + 120.0
    while not _done(published) and world.time < end:
        q, grip = joints(world)
        apply(world, ex.tick(world.time, q, grip), published)
        ticks += 1
        wake = ex.wake_at(world.time + 0.05)
        if _done(published):
            break
        assert wake is not None and wake >= world.time + 0.05 - 1e-9
        world.step(wake - world.time)
    results = [r for r in published if isinstance(r, records.TaskResult)]
    assert results and results[0].outcome == "done" and results[0].placed == 2
    assert world.lane_count("r3_l11") == before + 2
    assert ticks < 60  # vs ~2,000 ticks at 10 ms for the same ~20 sim-s
    assert ex.wake_at(world.time + 0.05) is None
