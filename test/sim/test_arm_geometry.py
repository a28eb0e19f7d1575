"""The safety envelope's body model against the simulator's real geometry (issue 18, item 3).

The envelope (restock.motion.envelope) and the MuJoCo model (restock.sim.mjcf) size the arm from one
source (restock.store.arm_shape) and the case from another (restock.store.fixtures); these tests check
that what the envelope admits does not touch the case, the shelves, the rack or the rail in MuJoCo,
and that restocks in the simulated world, where every touch stops the arm and is logged, touch nothing.
"""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from restock import records
from restock.motion.envelope import Envelope, lane_openings, stock_opening, store_scene
from restock.motion.executor import Executor
from restock.motion.kinematics import JOINT_NAMES, ArmModel, Pose
from restock.motion.moves import Mover
from restock.motion.taskstore import TaskStore
from restock.paths import SOURCE_ROOT
from restock.sim.armloop import run
from restock.sim.mjcf import build_mjcf
from restock.sim.world import World
from restock.store.description import Store, load_store

STORES = {
    "corner": SOURCE_ROOT / "config" / "stores" / "corner_store.yaml",
    "cooler": SOURCE_ROOT / "config" / "stores" / "walk_in_cooler.yaml",
    "deli": SOURCE_ROOT / "config" / "stores" / "deli_fridge.yaml",  # lanes 3 mm apart
}


class Geometry:
    """The store's MuJoCo model, posed by joint values and a finger opening."""

    def __init__(self, store: Store) -> None:
        self.model = mujoco.MjModel.from_xml_string(build_mjcf(store)[0])
        self.data = mujoco.MjData(self.model)
        joint = lambda n: int(self.model.jnt_qposadr[mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_JOINT, n)])  # noqa: E731
        self.adr = {n: joint(n) for n in (*JOINT_NAMES, "finger_l", "finger_r")}

    def contacts(self, q: np.ndarray, opening: float) -> list[tuple[str, str, float]]:
        for n, v in zip(JOINT_NAMES, q, strict=True):
            self.data.qpos[self.adr[n]] = v
        self.data.qpos[self.adr["finger_l"]] = self.data.qpos[self.adr["finger_r"]] = opening / 2
        mujoco.mj_kinematics(self.model, self.data)
        mujoco.mj_collision(self.model, self.data)
        name = lambda g: mujoco.mj_id2name(self.model, mujoco.mjtObj.mjOBJ_GEOM, g)  # noqa: E731
        return [(name(c.geom1), name(c.geom2), -c.dist) for c in self.data.contact[: self.data.ncon]]


@pytest.mark.parametrize("which", sorted(STORES))
def test_what_the_envelope_admits_touches_nothing_in_the_real_geometry(which: str) -> None:
    """Configurations around the lanes' back slots and the stock's pick slots, holding the SKU or not,
    fingers at random openings: none the envelope admits touches anything in MuJoCo, and it
    admits plenty (the test is not empty)."""
    store = load_store(STORES[which])
    model = ArmModel.from_store(store)
    envelope, mover, geometry = Envelope(model), Mover(store, Envelope(model)), Geometry(store)
    scene = store_scene(store)
    rng = np.random.default_rng(18)
    admitted = touched = 0
    for _ in range(400):
        if rng.random() < 0.75:
            lane = store.lanes[rng.integers(len(store.lanes))]
            openings, sku = lane_openings(lane, store), lane.lane.sku
            x, y, z = lane.loading_point()
            pose = Pose(x + rng.normal(0, 0.03), y + rng.normal(-0.02, 0.05), z + rng.normal(0.02, 0.04), np.pi / 2)
        else:
            loc = store.stock.locations[rng.integers(len(store.stock.locations))]
            openings, sku = [stock_opening(loc, store)], loc.sku
            x, y, z = store.stock_pick_point(loc)
            pose = Pose(x + rng.normal(0, 0.03), y + rng.normal(0.02, 0.05), z + rng.normal(0.02, 0.04), -np.pi / 2)
        pose = Pose(pose.x, pose.y, pose.z, pose.yaw + rng.normal(0, 0.15))
        try:
            q = model.inverse(pose)
        except ValueError:
            continue
        held = mover.held_for(sku) if rng.random() < 0.5 else None
        opening = held.radius * 2 if held else float(rng.uniform(0.0, model.max_opening))
        if envelope.collisions(q[None], scene.with_openings(openings), held, opening):
            continue
        admitted += 1
        found = geometry.contacts(q, opening)
        touched += bool(found)
        assert not found, (
            f"{which}: the envelope admitted {np.round(q, 3)} (opening {opening:.3f}), which touches {found}"
        )
    assert admitted >= 100, f"{which}: only {admitted} of 400 samples admitted: the check says little"


@pytest.mark.parametrize("which", sorted(STORES))
def test_restocks_touch_nothing_and_every_task_is_done(which: str, tmp_path) -> None:
    """Ten restocks into random lanes in the simulated world, which stops the arm and logs an
    ``arm_collision`` at any touch of the case, the shelves, the rack or the rail."""
    store = load_store(STORES[which])
    world = World(store, seed=5, render=False, fill=0.2)
    executor = Executor(Mover(store, Envelope(ArmModel.from_store(store))), TaskStore(tmp_path / "tasks.sqlite"))
    rng = np.random.default_rng(5)
    outcomes = []
    for i in range(10):
        lane = store.lanes[rng.integers(len(store.lanes))]
        loc = store.stock_for_sku(lane.lane.sku)[0]
        task = records.RestockTask(
            task_id=f"t{i}", lane_id=lane.id, sku=lane.lane.sku, quantity=1, stock_location=loc.id, created=world.time
        )
        executor.submit(task, world.time)
        published = run(world, executor, 120.0, until=lambda p: any(isinstance(r, records.TaskResult) for r in p))
        outcomes += [(lane.id, r.outcome, r.reason) for r in published if isinstance(r, records.TaskResult)]
    assert [o for o in outcomes if o[1] != "done"] == [] and len(outcomes) == 10
    assert [e.detail for e in world.events if e.kind == "arm_collision"] == []


def test_the_simulator_stops_an_arm_driven_into_a_shelf_and_says_what_touched() -> None:
    """Past the envelope (a trajectory straight to the simulator): the fingers, lowered into a lane's
    board, stop at the first touch; the event names the parts; the arm can still move away."""
    store = load_store(STORES["corner"])
    world = World(store, seed=1, render=False, fill=0.0)
    model = ArmModel.from_store(store)
    lane = store.lanes[4]
    x, y, z = lane.loading_point()
    above = model.inverse(Pose(x, y, z + 0.05, np.pi / 2))
    world.robot.teleport(dict(zip(JOINT_NAMES, above, strict=True)))
    world.set_gripper(0.03)
    from restock.sim.trajectory import JointPath

    into = above.copy()
    into[1] -= 0.2  # 20 cm down, through the board
    world.set_trajectory(JointPath.from_points(JOINT_NAMES, world.time, [0.0, 2.0], [above, into], None))
    world.step(3.0)
    hits = [e.detail for e in world.events if e.kind == "arm_collision"]
    assert len(hits) == 1 and "finger" in hits[0] and ("board" in hits[0] or "divider" in hits[0]), hits
    stopped = world.joint_positions()["lift_z"]
    assert into[1] + 0.1 < stopped < above[1]  # stopped on the way down, not at the end
    world.set_trajectory(
        JointPath.from_points(JOINT_NAMES, world.time, [0.0, 1.0], [[*above[:1], stopped, *above[2:]], above], None)
    )
    world.step(1.5)
    assert abs(world.joint_positions()["lift_z"] - above[1]) < 1e-6  # back out of it
