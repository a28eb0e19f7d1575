"""The simulated store's pure API: grasping, lanes, customers, staff, events, renders. Real MuJoCo."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

from restock.demand.generator import DemandGenerator, Sale
from restock.demand.saleslog import read_sales_log, write_sales_log
from restock.paths import SOURCE_ROOT
from restock.sim.trajectory import JointPath
from restock.sim.world import World, parse_time
from restock.store.arm_shape import grasp_offsets
from restock.store.description import Store, load_store

sys.path.insert(0, str(Path(__file__).parent))
from ik import ik

STORES = SOURCE_ROOT / "config" / "stores"


@pytest.fixture(scope="module")
def kiosk() -> Store:
    return load_store(STORES / "station_kiosk.yaml")


@pytest.fixture(scope="module")
def corner() -> Store:
    return load_store(STORES / "corner_store.yaml")


def _leg(w: World, store: Store, point: tuple[float, float, float], yaw: float, seconds: float) -> None:
    q = ik(store, *point, yaw)
    path = JointPath.from_points(list(q), w.time, [seconds], [list(q.values())])
    w.set_trajectory(path)
    w.step(seconds + 0.05)


def _move(w: World, store: Store, point: tuple[float, float, float], yaw: float, seconds: float = 1.5) -> None:
    """To ``point`` by way of the corridor: straight out of the case or the rack, along the corridor,
    then straight in (a joint move through the case would touch its shelves, and the simulator stops
    the arm there)."""
    x, y, z, _ = w.robot.grasp_centre()
    inside = min(max(y, store.stock.y + 0.15), store.case.back_y - 0.15)
    _leg(w, store, (x, inside, z), math.copysign(math.pi / 2, y), seconds / 3)
    before = min(max(point[1], store.stock.y + 0.15), store.case.back_y - 0.15)
    _leg(w, store, (point[0], before, point[2]), yaw, seconds / 3)
    _leg(w, store, point, yaw, seconds / 3)


def _grasp_point(store: Store, point: tuple[float, float, float], sku: str) -> tuple[float, float, float]:
    """Where the grasp centre holds a container whose centre is at ``point``."""
    return (point[0], point[1], point[2] + grasp_offsets(store)[sku])


def _pick_from_stock(w: World, store: Store, sku: str) -> str:
    loc = store.stock_for_sku(sku)[0]
    w.set_gripper(store.skus[sku].across + 0.02)
    _move(w, store, _grasp_point(store, store.stock_pick_point(loc), sku), -math.pi / 2)
    w.set_gripper(0.0)
    w.step(store.robot.gripper.close_time_s + 0.1)
    # A grasp is decided by the lift: the container comes along only if the fingers' friction carries it.
    x, y, z, _ = w.robot.grasp_centre()
    _leg(w, store, (x, y, z + 0.03), -math.pi / 2, 0.4)
    return loc.id


@pytest.mark.parametrize("name", ["station_kiosk.yaml", "corner_store.yaml"])
def test_world_builds_full_and_times_from_epoch(name: str) -> None:
    store = load_store(STORES / name)
    w = World(store, seed=0)
    assert w.time == parse_time("2026-07-06T06:00:00") == 1783317600.0
    assert all(w.lane_count(lv.id) == lv.lane.capacity for lv in store.lanes)
    assert set(w.joint_positions()) == {"rail_x", "lift_z", "shoulder", "elbow", "wrist", "gripper"}


def test_pick_from_stock_and_load_a_lane(kiosk: Store) -> None:
    w = World(kiosk, seed=3)
    lane = kiosk.lanes[0]
    w.set_lane(lane.id, [lane.lane.sku] * 2)
    loc_id = _pick_from_stock(w, kiosk, lane.lane.sku)
    held = w.held()
    assert held is not None and held.sku == lane.lane.sku
    sku = kiosk.skus[lane.lane.sku]
    # The fingers stop on the container (pressed a fraction of a millimetre into it by the grip force).
    assert w.joint_positions()["gripper"] == pytest.approx(sku.across, abs=0.001)
    assert w.robot.effort == pytest.approx(kiosk.robot.gripper.max_force, rel=0.05)
    assert w.stock_quantity(loc_id) == kiosk.stock_by_id[loc_id].quantity - 1
    _move(w, kiosk, _grasp_point(kiosk, lane.loading_point(), lane.lane.sku), math.pi / 2)
    w.set_gripper(sku.across + 0.01)  # let go, the fingers still inside the lane
    w.step(0.5)
    assert w.held() is None
    w.step(4.0)  # it slides down the board until it rests against the one in front
    assert w.lane_count(lane.id) == 3
    assert [e.kind for e in w.events if e.kind in ("grasp", "placed")] == ["grasp", "placed"]
    # It slid forward behind the others: the lane's third slot from the front.
    assert w.lane_contents(lane.id)[2].slot == 2


def test_released_away_from_a_lane_is_dropped(kiosk: Store) -> None:
    w = World(kiosk, seed=3)
    _pick_from_stock(w, kiosk, kiosk.lanes[0].lane.sku)
    _move(w, kiosk, (0.6, 0.1, 0.6), math.pi / 2)
    w.set_gripper(0.1)
    w.step(0.5)
    assert w.held() is None and w.events[-1].kind == "dropped"


def test_a_weak_grip_slips_on_the_lift(kiosk: Store) -> None:
    w = World(kiosk, seed=3)
    sku = kiosk.skus[kiosk.lanes[0].lane.sku]
    # Squeezing with less than the weight over twice the friction cannot carry it.
    w.faults.grip_force_scale = 0.5 * sku.mass * 9.81 / (2 * 0.3 * kiosk.robot.gripper.max_force)
    loc_id = _pick_from_stock(w, kiosk, kiosk.lanes[0].lane.sku)
    assert w.held() is None and not any(e.kind == "grasp_slipped" for e in w.events)  # the fingers slide along it
    x, y, z, _ = w.robot.grasp_centre()
    _leg(w, kiosk, (x, y, z + sku.height), -math.pi / 2, 0.6)  # up past its top
    w.step(0.3)
    assert w.held() is None
    assert w.joint_positions()["gripper"] < 0.3 * sku.across  # a grasp check on the opening sees it
    assert w.stock_quantity(loc_id) == kiosk.stock_by_id[loc_id].quantity
    slipped = [e for e in w.events if e.kind == "grasp_slipped"]
    assert slipped and "slid out of the fingers" in slipped[0].detail


def test_a_container_nudged_out_of_reach_is_missed(kiosk: Store) -> None:
    w = World(kiosk, seed=3)
    sku_id = kiosk.lanes[0].lane.sku
    loc = kiosk.stock_for_sku(sku_id)[0]
    w.nudge_stock(loc.id, 0.06, 0.0)  # beside the fingers: they close on nothing
    _pick_from_stock(w, kiosk, sku_id)
    w.step(0.3)
    assert w.held() is None and w.joint_positions()["gripper"] < 0.01
    assert w.stock_quantity(loc.id) == loc.quantity  # it stands where it was pushed


def test_obstruction_in_the_corridor_stops_the_arm(kiosk: Store) -> None:
    w = World(kiosk, seed=3)
    start = ik(kiosk, 0.3, 0.25, 0.6, math.pi / 2)
    w.teleport(start)
    w.put_obstruction(at=(0.8, 0.25, 0.6))
    goal = ik(kiosk, 1.1, 0.25, 0.6, math.pi / 2)
    w.set_trajectory(JointPath.from_points(list(goal), w.time, [2.0], [list(goal.values())]))
    w.step(2.5)
    assert any(e.kind == "arm_collision" for e in w.events)
    assert w.joint_positions()["rail_x"] < 0.8
    assert not w.trajectory_active


def test_trajectory_interpolates_and_replaces() -> None:
    path = JointPath.from_points(["a", "b"], 10.0, [1.0, 2.0], [[1.0, 0.0], [1.0, 2.0]])
    path.begin(10.0, {"a": 0.0, "b": 0.0})
    assert path.sample(10.5) == {"a": 0.5, "b": 0.0}
    assert path.sample(11.5) == {"a": 1.0, "b": 1.0}
    assert path.sample(99.0) == {"a": 1.0, "b": 2.0}
    cubic = JointPath.from_points(["a"], 0.0, [1.0], [[1.0]], velocities=[[0.0]])
    cubic.begin(0.0, {"a": 0.0})
    assert cubic.sample(0.5)["a"] == pytest.approx(0.5)
    assert cubic.sample(0.25)["a"] < 0.25  # eases in


def test_demand_drives_sales_and_empty_lanes_lose_them(corner: Store) -> None:
    w = World(corner, seed=5)
    w.set_demand(DemandGenerator.for_daily_total(corner, 1000.0, seed=5))
    w.step(4 * 3600.0)  # 06:00 to 10:00, the morning peak
    sold = sum(w.sales.values())
    assert sold > 50
    assert sum(w.lane_counts().values()) == sum(lv.lane.capacity for lv in corner.lanes) - sold
    w.fill_lanes(0.0)
    w.step(3600.0)
    assert sum(w.lost_sales.values()) > 0
    truth = w.ground_truth()
    assert truth.lost_sales == w.lost_sales and all(t.count == 0 for t in truth.lanes.values())


def test_same_seed_same_day(kiosk: Store) -> None:
    def run(seed: int) -> dict:
        w = World(kiosk, seed=seed)
        w.set_demand(DemandGenerator(kiosk, seed=1))
        w.random_events(2.0, until=w.time + 6 * 3600)
        for _ in range(12):
            w.step(1800.0)
        return w.ground_truth().model_dump(exclude={"events"})

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_sales_log_replay_and_lost_sales(kiosk: Store, tmp_path: Path) -> None:
    w = World(kiosk, seed=1)
    lane = kiosk.lanes[0]
    w.set_lane(lane.id, [lane.lane.sku])
    others = [lv.id for lv in kiosk.lanes if lv.lane.sku == lane.lane.sku and lv.id != lane.id]
    for other in others:
        w.set_lane(other, [])
    log = tmp_path / "sales.csv"
    write_sales_log(log, [Sale(w.time + 60, lane.lane.sku, 1), Sale(w.time + 120, lane.lane.sku, 2)])
    w.set_sales_log(read_sales_log(log, kiosk))
    w.step(300.0)
    assert w.sales[lane.lane.sku] == 1
    assert w.lost_sales[lane.lane.sku] == 2
    assert w.lane_count(lane.id) == 0


def test_staff_refill_on_schedule(kiosk: Store) -> None:
    w = World(kiosk, seed=1, start_time="2026-07-06T04:00:00")
    loc = kiosk.stock.locations[0]
    w.stock[loc.id] = 3
    w.step(3599.0)  # 05:00 is the first refill
    assert w.stock_quantity(loc.id) == 3
    w.step(2.0)
    assert w.stock_quantity(loc.id) == loc.capacity
    assert any(e.kind == "refill" for e in w.events)


def test_renders_and_segmentation_name_what_is_seen(kiosk: Store) -> None:
    w = World(kiosk, seed=2)
    cam = kiosk.cameras[0].id
    lane = kiosk.lanes_seen_by(cam)[2]
    w.put_unfamiliar(lane.id, slot=0)
    hand = w.show_hand(cam, kiosk.lanes_seen_by(cam)[-1].id)
    rgb = w.render(cam)
    assert rgb.shape == (480, 640, 3) and rgb.dtype == np.uint8 and rgb.std() > 10
    found = {(b[0].kind, b[0].lane_id, b[0].slot) for b in w.boxes(cam)}
    assert ("unfamiliar_item", lane.id, 0) in found
    assert any(k == "hand" for k, _, _ in found)
    assert any(k == "container" and s == 0 for k, _, s in found)
    w.hide_hand(hand)
    assert not any(b[0].kind == "hand" for b in w.boxes(cam))


def test_a_loaded_empty_lane_shows_in_the_render(kiosk: Store) -> None:
    w = World(kiosk, seed=4)
    cam = kiosk.cameras[0].id
    lane = kiosk.lanes_seen_by(cam)[1]
    w.set_lane(lane.id, [])
    before = w.render(cam)
    _pick_from_stock(w, kiosk, lane.lane.sku)
    _move(w, kiosk, lane.loading_point(), math.pi / 2)
    w.set_gripper(0.1)
    w.step(0.5)
    w.teleport({"rail_x": 0.2, "lift_z": 0.1, "shoulder": -math.pi / 2, "elbow": 0.0, "wrist": 0.0})
    after = w.render(cam)
    assert w.lane_count(lane.id) == 1
    u, v = kiosk.cameras[0].model.project(np.array(lane.front_point()))[0][0].astype(int)
    patch = (slice(max(v - 15, 0), v + 15), slice(max(u - 10, 0), u + 10))
    assert np.abs(after[patch].astype(int) - before[patch].astype(int)).mean() > 20


def test_appearance_randomisation_is_undone(kiosk: Store) -> None:
    w = World(kiosk, seed=2)
    cam = kiosk.cameras[0].id
    base = w.render(cam, 160, 120)
    w.randomize_appearance(np.random.default_rng(0))
    assert np.abs(w.render(cam, 160, 120).astype(int) - base).mean() > 1
    w.reset_appearance()
    assert np.array_equal(w.render(cam, 160, 120), base)


@pytest.mark.parametrize("name", ["station_kiosk.yaml", "corner_store.yaml"])
def test_model_matches_the_kinematics_contract(name: str) -> None:
    """MuJoCo's finger midpoint = the contract's grasp centre = restock.motion's forward kinematics."""
    import mujoco

    from restock.motion.kinematics import ArmModel

    store = load_store(STORES / name)
    w = World(store, seed=0, fill=0.0)
    arm = ArmModel.from_store(store)
    rng = np.random.default_rng(0)
    fl, fr = w._body("finger_l"), w._body("finger_r")
    for _ in range(20):
        q = {j.name: float(rng.uniform(j.lower, j.upper)) for j in store.robot.joints}
        w.teleport({**q, "gripper": float(rng.uniform(0, store.robot.gripper.max_opening))})
        mujoco.mj_kinematics(w.model, w.data)
        mid = (w.data.xpos[fl] + w.data.xpos[fr]) / 2
        x, y, z, yaw = w.grasp_centre()
        assert np.allclose(mid, [x, y, z], atol=1e-9)
        opening = np.linalg.norm(w.data.xpos[fl] - w.data.xpos[fr])
        assert opening == pytest.approx(w.joint_positions()["gripper"])
        tool_x = w.data.xmat[w._body("tool")].reshape(3, 3)[:, 0]
        assert np.allclose(tool_x[:2], [math.cos(yaw), math.sin(yaw)], atol=1e-9)
        pose = arm.forward([q[n] for n in ("rail_x", "lift_z", "shoulder", "elbow", "wrist")])
        assert np.allclose([pose.x, pose.y, pose.z], [x, y, z], atol=1e-9)
        assert math.cos(pose.yaw - yaw) == pytest.approx(1.0)


def test_operator_clears_foreign_items_from_a_lane_and_the_corridor() -> None:
    from restock.paths import store_file
    from restock.sim.world import World
    from restock.store.description import load_store

    w = World(load_store(store_file("station_kiosk.yaml")), seed=3, fill=0.5, render=False)
    lane = w.store.lanes[0].id
    before = w.lane_count(lane)
    w.put_unfamiliar(lane)
    w.put_obstruction(lane)
    w.put_obstruction(at=(0.5, 0.1, 0.6))
    assert w.clear_foreign(lane) == 2
    assert [i.kind for i in w.lane_contents(lane)] == ["container"] * before
    assert w.clear_foreign(None) == 1
    assert any(e.kind == "operator_cleared" for e in w.events)


def test_a_checkpoint_restores_the_store_in_a_fresh_world(kiosk: Store) -> None:
    import json

    w = World(kiosk, seed=3, render=False)
    lane = kiosk.lanes[0]
    w.customer_buy(lane.lane.sku, 2)
    w.put_unfamiliar(kiosk.lanes[1].id)
    w.put_obstruction(at=(0.3, 0.2, 0.9))
    loc_id = _pick_from_stock(w, kiosk, lane.lane.sku)  # a container in the gripper at the checkpoint
    assert w.held() is not None
    state = json.loads(json.dumps(w.checkpoint()))  # it goes through a text column
    fresh = World(kiosk, seed=99, render=False)
    fresh.restore(state, resume_at=state["time"] + 10.0)
    assert fresh.time == pytest.approx(w.time + 10.0)
    assert fresh.lane_counts() == w.lane_counts()
    assert [i.kind for i in fresh.lane_contents(kiosk.lanes[1].id)] == [
        i.kind for i in w.lane_contents(kiosk.lanes[1].id)
    ]
    assert fresh.sales == w.sales and sum(fresh.sales.values()) == 2
    assert fresh.stock[loc_id] == w.stock[loc_id] + 1  # the held container went back to the back room
    assert fresh.held() is None and fresh.joint_positions()["gripper"] == kiosk.robot.gripper.max_opening
    assert all(fresh.joint_positions()[n] == pytest.approx(w.joint_positions()[n]) for n in ("rail_x", "shoulder"))
    assert fresh.checkpoint()["corridor"] == state["corridor"]
    assert fresh.events[-1].kind == "resumed"
    fresh.restore(state, resume_at=state["time"] - 50.0)  # never back in time
    assert fresh.time == state["time"]
    with pytest.raises(ValueError, match="does not match store"):
        World(load_store(STORES / "corner_store.yaml"), render=False).restore(state)
