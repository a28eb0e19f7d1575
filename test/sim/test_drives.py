"""The arm's joint drives (restock.sim.drives): joints that lag, overshoot a little, brake and stall,
and joint_states that say so."""

from __future__ import annotations

import numpy as np
import pytest

from restock.motion.envelope import Envelope
from restock.motion.kinematics import JOINT_NAMES, ArmModel
from restock.motion.moves import Mover
from restock.paths import SOURCE_ROOT
from restock.sim.robot import STOP_DECEL
from restock.sim.trajectory import JointPath
from restock.sim.world import World
from restock.store.description import GRAVITY, load_store


@pytest.fixture(scope="module")
def store():
    return load_store(SOURCE_ROOT / "config" / "stores" / "corner_store.yaml")


def _q(world: World) -> np.ndarray:
    q = world.joint_positions()
    return np.array([q[n] for n in JOINT_NAMES])


def _carry_move(store, world: World):
    """The move from where the arm stands to a lane's approach across the rail, as the executor plans it."""
    mover = Mover(store, Envelope(ArmModel.from_store(store)))
    lane = "r1_l11"
    traj = mover.joint_move(_q(world), mover.pre_place(lane), None, mover.lane_openings(lane), 0.05)
    world.set_trajectory(JointPath.from_points(JOINT_NAMES, world.time, traj.times, traj.positions, traj.velocities))
    return traj


def test_a_driven_arm_lags_its_trajectory_and_comes_to_rest_on_its_end(store) -> None:
    world = World(store, seed=1, render=False, fill=0.0)
    traj = _carry_move(store, world)
    t0, lag, past, efforts, speeds = world.time, [], [], [], []
    while world.time < t0 + traj.duration + 1.0:
        world.step(0.01)
        q = _q(world)
        t = world.time - t0
        if t <= traj.duration:
            lag.append(np.abs(q - traj.state_at(t)[0]))
        else:
            past.append(np.abs(q - traj.final))
        efforts.append([world.joint_efforts()[n] for n in JOINT_NAMES])
        speeds.append([world.joint_velocities()[n] for n in JOINT_NAMES])
    lag_max = np.max(lag, axis=0)
    # Behind while it accelerates (a position loop without acceleration feed-forward), never far.
    assert 0.0005 < lag_max[0] < 0.01 and np.all(lag_max < 0.02), lag_max
    assert 0.0 < np.max(past) < 0.005  # past its end a little, then back
    assert np.array_equal(_q(world), traj.final) and not world.arm_busy  # at rest exactly on it
    # What joint_states carry: the drives' efforts (the rail's up to its pushes, the lift's its
    # weight at rest) and the measured velocities, not the commanded ones.
    efforts = np.array(efforts)
    assert np.max(np.abs(efforts[:, 0])) > 10.0
    lift_mass = store.robot.drive_load("lift_z", 0.0)[0]
    assert world.joint_efforts()["lift_z"] == pytest.approx(lift_mass * GRAVITY)
    assert np.max(np.abs(np.array(speeds)[:, 0])) > 0.3


def test_a_hold_while_moving_brakes_to_a_stop(store) -> None:
    world = World(store, seed=1, render=False, fill=0.0)
    traj = _carry_move(store, world)
    world.step(traj.duration / 2)
    v = world.joint_velocities()["rail_x"]
    at_hold = world.joint_positions()["rail_x"]
    assert abs(v) > 0.3
    world.stop_trajectory()
    world.step(0.5)
    stopped = world.joint_positions()["rail_x"]
    brake = v**2 / (2 * STOP_DECEL * store.robot.joint("rail_x").max_acceleration)
    # It runs on its braking distance (and the drive's lag), in the direction it went, then stands.
    assert 0.5 * brake < (stopped - at_hold) * np.sign(v) < brake + 0.02
    world.step(1.0)
    assert world.joint_positions()["rail_x"] == stopped and not world.arm_busy


def test_a_drive_too_weak_for_its_load_stalls_and_joint_states_say_so(store) -> None:
    world = World(store, seed=1, render=False, fill=0.0)
    lift = store.robot.drive_load("lift_z", 0.0)
    start = world.joint_positions()["lift_z"]
    world.faults.drive_scale = {"lift_z": 0.5 * lift[1] / store.robot.drives.lift_z.max_effort}  # half the weight
    world.step(2.0)
    # The lift sinks to its lower stop, told all along to stay: joint_states report where it is.
    assert world.joint_positions()["lift_z"] == store.robot.joint("lift_z").lower < start
    assert world.joint_efforts()["lift_z"] == pytest.approx(0.5 * lift[1])  # all the effort it has
    assert world.arm_busy  # the drive still pushes for its target
    world.faults.drive_scale = {}  # mended: it lifts the arm back
    world.step(2.0)
    assert world.joint_positions()["lift_z"] == start and not world.arm_busy
