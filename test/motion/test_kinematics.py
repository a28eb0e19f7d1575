"""Forward/inverse kinematics of the rail SCARA on both stores (reachability: test/store/test_serviceable.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from restock.motion.kinematics import (
    ArmModel,
    IkError,
    Pose,
    pick_pose,
    place_pose,
)
from restock.paths import SOURCE_ROOT
from restock.store.description import load_store

STORES = ["corner_store.yaml", "station_kiosk.yaml"]


def _store(name: str):
    return load_store(SOURCE_ROOT / "config" / "stores" / name)


@pytest.mark.parametrize("name", STORES)
def test_inverse_then_forward_returns_the_pose(name: str) -> None:
    store = _store(name)
    model = ArmModel.from_store(store)
    poses = [place_pose(store, lane.id) for lane in store.lanes] + [
        pick_pose(store, loc.id) for loc in store.stock.locations
    ]
    for pose in poses:
        q = model.inverse(pose)
        assert model.within_limits(q)
        back = model.forward(q)
        assert np.allclose(back.as_array()[:3], pose.as_array()[:3], atol=1e-9)
        assert math.isclose(math.cos(back.yaw - pose.yaw), 1.0, abs_tol=1e-12)
        # Links stay in the corridor between the stock and the case.
        elbow_y = model.frames(q)["elbow"][1]
        assert store.stock.y < elbow_y < store.case.back_y


def test_contract_formula() -> None:
    model = ArmModel.from_store(_store("corner_store.yaml"))
    q = np.array([0.7, 0.3, 0.4, -1.1, 0.5])
    l1, l2, lt = model.l1, model.l2, model.lt
    x = q[0] + l1 * math.cos(q[2]) + l2 * math.cos(q[2] + q[3]) + lt * math.cos(q.sum() - q[0] - q[1])
    y = model.rail_y + l1 * math.sin(q[2]) + l2 * math.sin(q[2] + q[3]) + lt * math.sin(q[2] + q[3] + q[4])
    pose = model.forward(q)
    assert math.isclose(pose.x, x) and math.isclose(pose.y, y)
    assert math.isclose(pose.z, model.base_height + 0.3)


def test_prefer_keeps_the_elbow_side() -> None:
    model = ArmModel.from_store(_store("corner_store.yaml"))
    pose = Pose(1.0, 0.0, 0.6, 0.0)  # wrist in the corridor's middle: both elbow sides fit
    a = model.inverse(pose)
    mirrored = model.inverse(pose, prefer=np.array([0, 0, -a[2], -a[3], 0]))
    assert np.sign(mirrored[3]) == -np.sign(a[3])


@pytest.mark.parametrize(
    ("pose", "why"),
    [
        (Pose(float("nan"), 0.0, 0.5, 0.0), "not finite"),
        (Pose(1.0, 0.0, 5.0, 0.0), "lift"),
        (Pose(1.0, 1.5, 0.5, 0.0), "beyond reach"),
        (Pose(-3.0, 0.0, 0.5, 0.0), "rail"),
    ],
)
def test_unreachable_poses_say_why(pose: Pose, why: str) -> None:
    model = ArmModel.from_store(_store("corner_store.yaml"))
    with pytest.raises(IkError, match=why):
        model.inverse(pose)


def test_a_line_the_inverse_kinematics_cannot_follow_says_the_joints_jump() -> None:
    # From a lane's approach to the stock's: the tool turns about while it crosses the corridor,
    # and the elbow must change branch on the way. No speed helps, and the planner says why.
    from restock.motion.envelope import Envelope
    from restock.motion.moves import Mover
    from restock.motion.trajectory import Limits, PlanError, linear

    store = _store("corner_store.yaml")
    model = ArmModel.from_store(store)
    mover = Mover(store, Envelope(model))
    lane = "r3_l11"
    loc = store.stock_for_sku(store.lane_by_id[lane].lane.sku)[0].id
    q = model.inverse(mover.pre_place(lane), prefer=np.zeros(5))
    with pytest.raises(PlanError, match="the joints jump"):
        linear(model, Limits.scaled(model, 1.0), q, mover.pre_pick(loc))
    # A line the joints can follow is planned as before.
    lifted = mover.pre_pick(loc, lifted=True)
    start = model.inverse(lifted, prefer=np.zeros(5))
    traj = linear(model, Limits.scaled(model, 1.0), start, mover.pre_pick(loc))
    assert np.allclose(model.forward(traj.final).as_array(), mover.pre_pick(loc).as_array(), atol=1e-6)


def test_a_line_from_a_little_off_its_start_is_as_fast_and_keeps_the_carriage() -> None:
    # Driven joints stop within the executor's tolerance of a move's end, not on it: the approach
    # from there keeps the carriage (the arm takes up the rest) and is not slowed by a jump to a
    # rail position the inverse kinematics would pick afresh (a deli-fridge approach took 6 s).
    from restock.motion.envelope import Envelope
    from restock.motion.moves import Mover
    from restock.motion.trajectory import RAIL, Limits, linear

    store = load_store(SOURCE_ROOT / "config" / "stores" / "deli_fridge.yaml")
    model = ArmModel.from_store(store)
    mover = Mover(store, Envelope(model))
    limits = Limits.scaled(model, 1.0)
    for loc in store.stock.locations[:6]:
        exact = model.inverse(mover.pre_pick(loc.id), prefer=np.zeros(5))
        off = exact + np.array([0.0013, -0.0005, 0.004, -0.008, 0.006])  # as the drives leave it
        on_time = linear(model, limits, exact, mover.pick(loc.id)).duration
        traj = linear(model, limits, off, mover.pick(loc.id))
        assert traj.duration < 1.1 * on_time, (loc.id, traj.duration, on_time)
        assert np.all(traj.positions[:, RAIL] == off[RAIL])
