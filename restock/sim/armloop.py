"""Drive the pure executor with the embedded MuJoCo world, no ROS: the node's loop in one process (tests, bench)."""

from __future__ import annotations

import numpy as np

from restock import records
from restock.motion.commands import Hold, PublishRecord, SendTrajectory, SetGripper
from restock.motion.executor import Executor
from restock.motion.kinematics import JOINT_NAMES, ArmModel
from restock.motion.wrist_look import RequestLook, Seen, see
from restock.sim.trajectory import JointPath
from restock.sim.world import World
from restock.vision.appearance import SkuLooks


def joints(world: World) -> tuple[np.ndarray, float]:
    q = world.joint_positions()
    return np.array([q[n] for n in JOINT_NAMES]), float(q["gripper"])


def apply(world: World, commands: list, published: list, executor: Executor | None = None) -> None:
    """Carry the commands out in the world; a wrist look (with ``executor``) is rendered and answered at once."""
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
        elif isinstance(c, RequestLook) and executor is not None:
            apply(world, executor.seen(look(world, executor, c), world.time), published, executor)


def look(world: World, executor: Executor, request: RequestLook) -> Seen:
    """The wrist camera's frame now, judged as the node judges it."""
    store = world.store
    q, grip = joints(world)
    wrist = store.robot.wrist_camera.id
    model = ArmModel.from_store(store)
    rgb, depth = world.render(wrist), world.render_depth(wrist)
    return see(store, model, SkuLooks(store), request, rgb, depth, q, grip, world.time)


def run(world: World, executor: Executor, seconds: float, dt: float = 0.01, until=None) -> list:
    """Step the world and the executor together; returns the records the executor published."""
    published: list = []
    end = world.time + seconds
    heard = len(world.events)
    while world.time < end:
        q, grip = joints(world)
        apply(world, executor.tick(world.time, q, grip), published, executor)
        world.step(dt)
        heard = min(heard, len(world.events))  # the world trims its oldest events now and then
        for e in world.events[heard:]:  # the till tells the arm of each sale at once
            if e.kind == "sale" and e.sku:
                executor.on_sale(records.SaleEvent(stamp=e.stamp, sku=e.sku, quantity=1, lane_id=e.lane_id))
        heard = len(world.events)
        if until is not None and until(published):
            break
    return published
