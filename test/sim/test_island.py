"""Physics islands that go wrong: MuJoCo's instability caught, and its cause (containers let go
inside one another) removed. Each test runs the real MuJoCo model."""

from __future__ import annotations

import math

import numpy as np
import pytest

from restock import records
from restock.motion.envelope import Envelope
from restock.motion.executor import Executor, ExecutorSettings
from restock.motion.kinematics import ArmModel
from restock.motion.moves import Mover
from restock.motion.taskstore import TaskStore
from restock.paths import SOURCE_ROOT
from restock.sim.armloop import run
from restock.sim.island import Box, Faults, Free, HandPose, Island
from restock.sim.world import World
from restock.store.description import Store, load_store

FLOOR = Box((0.0, 0.0, -0.01), (0.3, 0.3, 0.01))
AWAY = HandPose(0.0, -0.5, 0.5, 0.0)  # the hand far from everything


@pytest.fixture(scope="module")
def corner() -> Store:
    return load_store(SOURCE_ROOT / "config" / "stores" / "corner_store.yaml")


@pytest.fixture(scope="module")
def cooler() -> Store:
    return load_store(SOURCE_ROOT / "config" / "stores" / "walk_in_cooler.yaml")


def _done(published: list) -> bool:
    return any(isinstance(r, records.TaskResult) for r in published)


def test_a_blowup_is_caught_and_names_the_body(corner: Store) -> None:
    island = Island(corner, [FLOOR], [Free("cola_500", (0.0, 0.0, 0.11))], AWAY, 0.1)
    island.step(0.1)
    assert island.unstable is None
    island.kick(0, (math.nan, 0.0, 0.0))  # what a diverging solve leaves behind
    island.step(0.01)
    assert island.unstable is not None and "(c0)" in island.unstable
    island.step(0.01)  # noted once, with the first cause
    assert "velocity at DOF 6 (c0) by 0.11 s" in island.unstable


def test_a_container_let_go_inside_another_is_pulled_out_and_stays_put(corner: Store) -> None:
    sku = corner.skus["cola_500"]
    z = sku.height / 2
    free = [Free("cola_500", (0.0, 0.0, z)), Free("cola_500", (0.0, sku.along / 2, z))]
    island = Island(corner, [FLOOR], free, AWAY, 0.1)
    moved = island.clear_of_containers(0)
    assert moved > sku.along / 3
    island.step(2.0)
    assert island.unstable is None and island.settled()
    # Apart by about a container, not flung across the store.
    gap = np.linalg.norm(island.pose(0)[0][:2] - island.pose(1)[0][:2])
    assert sku.along * 0.95 < gap < sku.along * 2


def test_a_release_into_an_overfull_lane_stays_stable(cooler: Store) -> None:
    """Found by a seeded sweep: a container let go into the back of a lane holding one more than
    its capacity overlapped the column's last two; MuJoCo blew up and reset the island."""
    lane = cooler.lane_by_id["r4_l13"]
    world = World(cooler, seed=1, render=False, fill=0.5)
    world.set_lane(lane.id, [lane.lane.sku] * (lane.lane.capacity + 1), check_room=False)
    executor = Executor(Mover(cooler, Envelope(ArmModel.from_store(cooler))), TaskStore(), ExecutorSettings())
    loc = cooler.stock_for_sku(lane.lane.sku)[0]
    task = records.RestockTask(
        task_id="t", lane_id=lane.id, sku=lane.lane.sku, quantity=1, stock_location=loc.id, created=world.time
    )
    executor.submit(task, world.time)
    run(world, executor, 120.0, until=_done)
    world.step(6.0)
    kinds = [e.kind for e in world.events]
    assert "physics_unstable" not in kinds and "grasp" in kinds
    # There was no room: it did not come to rest in the lane.
    assert "placed" not in kinds and kinds.count("dropped") + kinds.count("jammed") == 1


def test_an_unstable_placement_is_in_the_ground_truth_and_the_arm_hands_the_lane_off(corner: Store, tmp_path) -> None:
    lane = corner.lane_by_id["r3_l11"]
    world = World(corner, seed=5, render=True, fill=0.5)
    world.faults.kick = (math.nan, 0.0, 0.0)  # the first release's solve diverges
    executor = Executor(
        Mover(corner, Envelope(ArmModel.from_store(corner))),
        TaskStore(tmp_path / "t.sqlite"),
        ExecutorSettings(wrist_camera=True),
    )
    loc = corner.stock_for_sku(lane.lane.sku)[0]
    task = records.RestockTask(
        task_id="t", lane_id=lane.id, sku=lane.lane.sku, quantity=2, stock_location=loc.id, created=world.time
    )
    executor.submit(task, world.time)
    published = run(world, executor, 180.0, until=_done)
    (unstable,) = [e for e in world.events if e.kind == "physics_unstable"]
    assert unstable.lane_id == lane.id and unstable.sku == lane.lane.sku and "place" in unstable.detail
    assert not [e for e in world.events if e.kind == "placed"]
    (request,) = [r for r in published if isinstance(r, records.HandoffRequest)]
    assert request.kind == "blocked_lane" and request.lane_id == lane.id and "did not arrive" in request.detail
    (result,) = [r for r in published if isinstance(r, records.TaskResult)]
    assert result.outcome == "parked" and result.placed == 1
    assert [what for _, what, _ in executor.noticed] == ["not_placed"]


def _held(store: Store, scale: float = 1.0) -> Island:
    """A cola bottle standing on a board, the fingers closed on it (squeezing) for half a second."""
    sku = store.skus["cola_500"]
    z = sku.height / 2
    hand = HandPose(0.0, 0.0, z + 0.03, 0.0)
    island = Island(store, [FLOOR], [Free("cola_500", (0.0, 0.0, z))], hand, 0.1, Faults(grip_force_scale=scale))
    island.set_gripper(0.0)
    island.step(0.6)
    return island


def test_the_grip_share_says_when_friction_carries_a_bottle(corner: Store) -> None:
    held = _held(corner)
    assert held.fingers_touching(0) == {"l", "r"} and held.effort > 10.0
    still = held.grip_share(0, np.zeros(3), 0.0, 0.0)
    assert 0.0 < still < 0.35  # gravity alone needs a fraction of the squeeze's friction
    assert held.grip_share(0, np.array([0.0, 0.0, 40.0]), 0.0, 0.0) > 1.0  # a hard jerk upwards slips
    # A weak gripper's friction does not carry the bottle's weight (the property test's slip).
    weak = _held(corner, 0.02)
    assert weak.grip_share(0, np.zeros(3), 0.0, 0.0) > 1.0


def test_a_rigid_carry_keeps_the_bottle_where_it_sits_in_the_hand(corner: Store) -> None:
    held = _held(corner)
    before, t = held.in_hand(0), held.time
    hand = held.hand

    def along(k: int) -> HandPose:  # up and across at 0.3 m/s, turning at 0.5 rad/s
        return HandPose(hand.x + 0.003 * k, hand.y, hand.z + 0.003 * k, hand.yaw + 0.005 * k)

    for k in range(1, 31):
        held.carry_rigid(0.01, along(k), 0)
    assert np.allclose(held.in_hand(0), before, atol=1e-9) and held.time == pytest.approx(t + 0.3)
    assert held.pose(0)[0][2] == pytest.approx(corner.skus["cola_500"].height / 2 + 0.09, abs=2e-3)
    # The solver takes over in mid-motion without a jolt: the bottle stays in the squeezing fingers.
    for k in range(31, 61):
        held.step(0.01, along(k))
    assert held.unstable is None and np.linalg.norm(held.in_hand(0) - before) < 0.002
    assert held.fingers_touching(0) == {"l", "r"}
