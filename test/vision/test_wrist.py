"""The wrist camera's checks on the simulator's wrist renders: a lane counted from behind, the held SKU."""

from __future__ import annotations

import numpy as np
import pytest

from restock.motion.envelope import Envelope
from restock.motion.kinematics import JOINT_NAMES, ArmModel, Pose
from restock.motion.moves import Mover
from restock.motion.wrist_look import count_observation, depth_array
from restock.paths import SOURCE_ROOT
from restock.sim.world import World
from restock.store.description import Store, load_store
from restock.vision.appearance import SkuLooks
from restock.vision.wrist import LaneCount, check_held, count_lane, wrist_camera

STORES = {
    "corner": SOURCE_ROOT / "config" / "stores" / "corner_store.yaml",
    "cooler": SOURCE_ROOT / "config" / "stores" / "walk_in_cooler.yaml",
}


def _world(name: str) -> tuple[Store, World, Mover]:
    # The arm is teleported from pose to pose here: the grasp is bookkeeping (what these renders need);
    # grasps on contact physics, moved along real paths, are test/motion's and test/sim's.
    store = load_store(STORES[name])
    world = World(store, seed=4, fill=0.5, physics=False)
    return store, world, Mover(store, Envelope(ArmModel.from_store(store)))


def _pose(world: World, mover: Mover, pose: Pose) -> np.ndarray:
    q = mover.solve(pose, None)
    world.teleport(dict(zip(JOINT_NAMES, q, strict=True)))
    return q


def _count(store: Store, world: World, mover: Mover, lane_id: str):
    world.teleport({"gripper": world.robot.max_opening})
    q = _pose(world, mover, mover.pre_place(lane_id))
    camera = wrist_camera(store, tuple(mover.model.forward(q).as_array()))
    return count_lane(store, lane_id, camera, world.render_depth(store.robot.wrist_camera.id))


@pytest.mark.parametrize("name", ["corner", "cooler"])
def test_a_lane_is_counted_from_behind(name: str) -> None:
    store, world, mover = _world(name)
    # A bottle row and a can row of each store, empty, part full and full.
    lanes = [store.lanes[1], next(lv for lv in store.lanes if lv.sku.kind == "can")]
    for lv in lanes:
        for k in (0, 1, lv.lane.capacity // 2, lv.lane.capacity):
            world.set_lane(lv.id, [lv.lane.sku] * k)
            got = _count(store, world, mover, lv.id)
            assert got is not None and got.count == k, (lv.id, k, got)
            assert got.free == lv.lane.capacity - k


def test_a_blocked_view_is_not_a_count() -> None:
    store, world, mover = _world("corner")
    lv = store.lanes[3]
    world.set_lane(lv.id, [])
    world.put_obstruction(at=[lv.lane.x, store.case.back_y - 0.03, lv.loading_point()[2]])
    assert _count(store, world, mover, lv.id) is None  # the box before the lane hides it: no "empty"


def _hold(store: Store, world: World, mover: Mover, location_id: str) -> tuple[np.ndarray, float, float]:
    """Grasp the location's front container and lift it out: the wrist frame, opening, centre below."""
    loc = store.stock_by_id[location_id]
    pick = mover.pick(loc.id)
    for z in (pick.z, store.stock_pick_point(loc)[2]):  # where the simulator grips
        _pose(world, mover, Pose(pick.x, pick.y, z, pick.yaw))
        world.teleport({"gripper": store.skus[loc.sku].across + 0.02})
        world.set_gripper(0.0)
        world.step(1.0)
        if world.held() is not None:
            break
    assert world.held() is not None
    _pose(world, mover, mover.pre_pick(loc.id, lifted=True))
    below = world.grasp_centre()[2] - float(world.data.mocap_pos[world.robot.holding.mocap][2])
    return world.render(store.robot.wrist_camera.id), world.joint_positions()["gripper"], below


@pytest.mark.parametrize("name", ["corner", "cooler"])
def test_the_held_sku_is_checked(name: str) -> None:
    store, world, mover = _world(name)
    looks = SkuLooks(store)
    for loc in store.stock.locations:
        rgb, opening, below = _hold(store, world, mover, loc.id)
        check = check_held(store, looks, rgb, loc.sku, opening, below)
        assert check.ok, check.detail
        world.robot.drop_held()
    # A stock mix-up: another SKU as wide at the front of each location that has one.
    refused = 0
    for loc in store.stock.locations:
        try:
            wrong = world.put_mixup(loc.id)
        except ValueError:
            continue  # no SKU as wide as this one
        rgb, opening, below = _hold(store, world, mover, loc.id)
        check = check_held(store, looks, rgb, loc.sku, opening, below)
        assert not check.ok and check.seen != loc.sku, (loc.id, wrong, check.scores)
        assert loc.sku in check.detail
        refused += 1
        world.robot.drop_held()
    assert refused >= 3


def test_depth_frames_and_the_count_observation() -> None:
    store = load_store(STORES["corner"])
    depth = np.arange(12, dtype="<f4").reshape(3, 4)
    assert np.array_equal(depth_array(depth.tobytes(), 4, 3, 16, "32FC1"), depth)
    mm = (depth * 1000).astype("<u2")
    assert np.allclose(depth_array(mm.tobytes(), 4, 3, 8, "16UC1"), depth)
    for bad in (
        (depth.tobytes()[:-4], 4, 3, 16, "32FC1"),
        (depth.tobytes(), 4, 3, 16, "rgb8"),
        (b"", 4, 3, 2, "32FC1"),
    ):
        with pytest.raises(ValueError):
            depth_array(*bad)
    lv = store.lanes[0]
    obs = count_observation(store, LaneCount(lv.id, 3, lv.lane.capacity - 3, 0.5), 10.0)
    (lane,) = obs.lanes
    assert obs.camera_id == "wrist" and lane.state == "present" and lane.fill == pytest.approx(3 / lv.lane.capacity)
    empty = count_observation(store, LaneCount(lv.id, 0, lv.lane.capacity, None), 10.0).lanes[0]
    assert empty.state == "empty" and empty.fill == 0.0
