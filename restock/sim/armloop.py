"""Drive the pure executor with the embedded MuJoCo world, no ROS: the node's loop in one process (tests, bench)."""

from __future__ import annotations

import numpy as np

from restock.motion.commands import Hold, PublishRecord, SendTrajectory, SetGripper
from restock.motion.executor import Executor
from restock.motion.kinematics import JOINT_NAMES
from restock.sim.trajectory import JointPath
from restock.sim.world import World


def joints(world: World) -> tuple[np.ndarray, float]:
    q = world.joint_positions()
    return np.array([q[n] for n in JOINT_NAMES]), float(q["gripper"])


def apply(world: World, commands: list, published: list) -> None:
    for c in commands:
        if isinstance(c, SendTrajectory):
            t = c.trajectory
            start = world.time if c.start is None else c.start
            world.set_trajectory(JointPath.from_points(JOINT_NAMES, start, t.times, t.positions, t.velocities))
        elif isinstance(c, Hold):
            world.stop_trajectory()
        elif isinstance(c, SetGripper):
            world.set_gripper(c.opening)
        elif isinstance(c, PublishRecord):
            published.append(c.record)


def run(world: World, executor: Executor, seconds: float, dt: float = 0.01, until=None) -> list:
    """Step the world and the executor together; returns the records the executor published."""
    published: list = []
    end = world.time + seconds
    while world.time < end:
        q, grip = joints(world)
        apply(world, executor.tick(world.time, q, grip), published)
        world.step(dt)
        if until is not None and until(published):
            break
    return published
