"""Teleop following: targets become checked trajectories; target loss holds; bad targets never move the arm."""

from __future__ import annotations

import math

import numpy as np

from restock.motion.commands import Hold, SendTrajectory
from restock.motion.envelope import Envelope
from restock.motion.executor import Executor
from restock.motion.kinematics import ArmModel, Pose
from restock.motion.moves import Mover
from restock.motion.taskstore import TaskStore
from restock.motion.teleop import TARGET_TIMEOUT_S, TeleopFollower
from restock.paths import SOURCE_ROOT
from restock.store.description import load_store

STORE = load_store(SOURCE_ROOT / "config" / "stores" / "corner_store.yaml")
MODEL = ArmModel.from_store(STORE)
PERIOD = 0.01  # the node's control period at 100 Hz


def _follower() -> tuple[TeleopFollower, np.ndarray]:
    mover = Mover(STORE, Envelope(MODEL))
    q = MODEL.inverse(Pose(1.0, -0.02, 0.7, math.pi / 2))
    return TeleopFollower(mover, Envelope(MODEL, speed_scale=0.5)), q


def test_a_target_becomes_a_trajectory_that_ends_there() -> None:
    f, q = _follower()
    goal = Pose(1.1, 0.0, 0.75, math.pi / 2)
    assert f.on_target(goal.x, goal.y, goal.z, goal.yaw, 0.0, q) == ""
    cmd = f.step(0.0, q, np.zeros(5), np.zeros(5), held=False)
    assert isinstance(cmd, SendTrajectory)
    end = MODEL.forward(cmd.trajectory.final)
    assert np.allclose(end.as_array(), goal.as_array(), atol=1e-6)
    assert np.allclose(cmd.trajectory.positions[0], q)


def test_target_loss_holds_within_the_timeout() -> None:
    f, q = _follower()
    pose = MODEL.forward(q)
    now = 0.0
    for i in range(50):  # the operator's hand moves at 100 Hz
        now = i * PERIOD
        f.on_target(pose.x + 0.001 * i, pose.y, pose.z, pose.yaw, now, q)
        assert not isinstance(f.step(now, q, np.zeros(5), np.zeros(5), held=False), Hold)
    last_target = now
    held_at = None
    for i in range(1, 100):  # then nothing arrives
        t = last_target + i * PERIOD
        if isinstance(f.step(t, q, np.zeros(5), np.zeros(5), held=False), Hold):
            held_at = t
            break
    assert held_at is not None
    assert held_at - last_target <= TARGET_TIMEOUT_S + PERIOD + 1e-9
    # Holding is said once, and nothing moves until a new target comes.
    assert f.step(held_at + PERIOD, q, np.zeros(5), np.zeros(5), held=False) is None


def test_bad_targets_are_rejected_with_the_reason_and_never_followed() -> None:
    f, q = _follower()
    for target, why in (
        ((math.nan, 0.0, 0.7, 0.0), "not finite"),
        ((1.0, 0.0, math.inf, 0.0), "not finite"),
        ((50.0, 0.0, 0.7, 0.0), "outside the robot's frame"),
        ((1.0, 0.0, 3.0, 0.0), "outside the robot's frame"),
        ((1.0, 0.62, 0.7, 0.0), "unreachable"),
    ):
        assert why in f.on_target(*target, 0.0, q)
        assert f.step(0.0, q, np.zeros(5), np.zeros(5), held=False) is None
    assert f.rejected == 5
    assert f.on_gripper(math.nan) is None
    assert f.on_gripper(5.0).opening == STORE.robot.gripper.max_opening


def test_a_target_inside_a_shelf_board_brakes_or_holds() -> None:
    f, q = _follower()
    lane = STORE.lanes[0]
    board_z = lane.row.height - 0.005  # inside the board, at the lane's back
    assert f.on_target(lane.lane.x, lane.back_y + 0.03, board_z, math.pi / 2, 0.0, q) == ""
    cmd = f.step(0.0, q, np.zeros(5), np.zeros(5), held=False)
    assert isinstance(cmd, Hold | SendTrajectory)
    if isinstance(cmd, SendTrajectory):  # a brake from rest stays where it is
        assert np.allclose(cmd.trajectory.final, q, atol=1e-6)
    assert "keep-out" in f.last_reason


def test_estop_pause_holds_at_once_and_nothing_moves_until_resumed(tmp_path) -> None:
    mover = Mover(STORE, Envelope(MODEL))
    ex = Executor(mover, TaskStore(tmp_path / "t.sqlite"))
    lane = STORE.lanes[3]
    loc = STORE.stock_for_sku(lane.lane.sku)[0]
    from restock import records

    ex.submit(
        records.RestockTask(
            task_id="e1", lane_id=lane.id, sku=lane.lane.sku, quantity=1, stock_location=loc.id, created=0
        ),
        0.0,
    )
    q = MODEL.inverse(Pose(1.0, -0.02, 0.7, math.pi / 2))
    assert any(isinstance(c, SendTrajectory) for c in ex.tick(0.0, q, 0.1))
    # The e-stop's answer is immediate (the same call), not a later period.
    assert [type(c) for c in ex.pause("e-stop")] == [Hold]
    for i in range(1, 50):
        assert ex.tick(i * PERIOD, q, 0.1) == []
    ex.resume()
    assert any(isinstance(c, SendTrajectory) for c in ex.tick(1.0, q, 0.1))
