"""Container cycle time in the simulator: median and p90 over restocks across the rail (goal: median <= 12 s).

Runs the arm's task executor (restock.motion) against the embedded MuJoCo world in one process
(the arm_controller node's loop without DDS, sim time): one-container tasks for randomly chosen
lanes (seeded), one after another, so each cycle starts where the previous one ended. A cycle
is a task's started -> finished in sim seconds: move to the stock, approach, grasp and check,
retreat, carry, approach the back of the lane, release and check, retreat.

Usage: .venv/bin/python bench/arm_cycle.py [--store corner_store | FILE.yaml] [--restocks 60] [--seed 1]
[--bookkeeping] [--wrist-camera]

Grasps and placements run on contact physics (restock.sim.island) unless ``--bookkeeping``. It
prints the success rate (tasks done, and containers resting in their lane by the ground truth)
beside the cycle, and the world's events: containers placed, jammed, tipped and dropped, grasp
slips, and arm collisions (an arm part touching the case, a shelf, the rack or the rail: the
simulator stops the arm and logs them), and what the executor noticed. With the joints driven
(restock.sim.drives; ideal servos with ``--bookkeeping``) it prints how far each joint trailed the
trajectory the executor sent while it ran, how far it went past the end, and each drive's peak
effort against its limit.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout, not an installed copy

import numpy as np

from restock import records
from restock.motion.envelope import Envelope
from restock.motion.executor import Executor, ExecutorSettings
from restock.motion.kinematics import JOINT_NAMES, ArmModel
from restock.motion.moves import Mover
from restock.motion.taskstore import TaskStore
from restock.paths import store_file
from restock.sim.armloop import run
from restock.sim.world import World
from restock.store.description import load_store


class Tracking:
    """Each servo period: the joints against the executor's running trajectory, and the drives' efforts."""

    def __init__(self, world: World, executor: Executor) -> None:
        self.world, self.executor = world, executor
        self.lag = np.zeros(len(JOINT_NAMES))  # the most a joint trailed (or led) its trajectory
        self.past = np.zeros(len(JOINT_NAMES))  # the most a joint stood off its end after it
        self.effort = np.zeros(len(JOINT_NAMES))  # peak |effort|
        limits = world.store.robot.drives
        self.limit = np.array([getattr(limits, n).max_effort for n in JOINT_NAMES])

    def __call__(self) -> None:
        mo, w = self.executor.motion, self.world
        e = w.joint_efforts()
        self.effort = np.maximum(self.effort, np.abs([e[n] for n in JOINT_NAMES]))
        if mo is None or w.time < mo.started:
            return
        q = w.joint_positions()
        off = np.abs(np.array([q[n] for n in JOINT_NAMES]) - mo.trajectory.state_at(w.time - mo.started)[0])
        if w.time - mo.started <= mo.trajectory.duration:
            self.lag = np.maximum(self.lag, off)
        else:
            self.past = np.maximum(self.past, off)

    def report(self) -> str:
        joints = ", ".join(
            f"{n} {lag * 1000:.1f}/{past * 1000:.1f}"
            for n, lag, past in zip(JOINT_NAMES, self.lag, self.past, strict=True)
        )
        share = ", ".join(f"{n} {e / m:.0%}" for n, e, m in zip(JOINT_NAMES, self.effort, self.limit, strict=True))
        return (
            f"tracking, most off the trajectory while it ran / after its end (mm or mrad): {joints}\n"
            f"drives' peak effort of their limit: {share}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", default="corner_store")
    ap.add_argument("--restocks", type=int, default=60)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--speed-scale", type=float, default=1.0)
    ap.add_argument("--bookkeeping", action="store_true", help="grasp and place by bookkeeping, not physics")
    ap.add_argument("--fill", type=float, default=0.2, help="lanes this full at the start")
    ap.add_argument("--wrist-camera", action="store_true", help="the arm looks at the lane after each placement")
    args = ap.parse_args()
    store = load_store(args.store if args.store.endswith(".yaml") else store_file(f"{args.store}.yaml"))
    world = World(store, seed=args.seed, render=args.wrist_camera, fill=args.fill, physics=not args.bookkeeping)
    settings = ExecutorSettings(wrist_camera=args.wrist_camera)
    mover = Mover(store, Envelope(ArmModel.from_store(store), args.speed_scale))
    executor = Executor(mover, TaskStore(), settings)
    rng = np.random.default_rng(args.seed)
    cycles, outcomes, xs = [], {}, []
    events: Counter[str] = Counter()
    t0 = time.perf_counter()
    seen = len(world.events)
    tracking = Tracking(world, executor)
    for i in range(args.restocks):
        lane = store.lanes[rng.integers(len(store.lanes))]
        loc = store.stock_for_sku(lane.lane.sku)[0]
        task = records.RestockTask(
            task_id=f"b{i}", lane_id=lane.id, sku=lane.lane.sku, quantity=1, stock_location=loc.id, created=world.time
        )
        executor.submit(task, world.time)
        published = run(
            world, executor, 120.0, until=lambda p: tracking() or any(isinstance(r, records.TaskResult) for r in p)
        )
        events.update(e.kind for e in world.events[seen:])
        seen = len(world.events)
        result = next(r for r in published if isinstance(r, records.TaskResult))
        outcomes[result.outcome] = outcomes.get(result.outcome, 0) + 1
        if result.outcome == "done":
            cycles.append(result.finished - result.started)
            xs.append(lane.lane.x)
    world.step(10.0)  # the last release comes to rest
    events.update(e.kind for e in world.events[seen:])
    wall = time.perf_counter() - t0
    c = np.array(cycles)
    print(f"command: .venv/bin/python bench/arm_cycle.py {shlex.join(sys.argv[1:])}")
    mode = "bookkeeping" if args.bookkeeping else "contact physics"
    print(
        f"store: {store.name} ({mode}), restocks: {args.restocks}, outcomes: {outcomes}, speed scale {args.speed_scale}"
    )
    print(f"lanes x from {min(xs):.2f} to {max(xs):.2f} m along the rail ({len(set(xs))} distinct positions)")
    print(
        f"cycle time (sim s): median {np.median(c):.2f}, p90 {np.percentile(c, 90):.2f}, min {c.min():.2f}, max {c.max():.2f}"
    )
    print(
        f"success: {outcomes.get('done', 0)} of {args.restocks} tasks done ({outcomes.get('done', 0) / args.restocks:.1%}),"
        f" {events['placed']} containers resting in their lane ({events['placed'] / args.restocks:.1%})"
    )
    print(f"containers per hour at the median: {3600 / np.median(c):.0f}")
    collisions = [e.detail for e in world.events if e.kind == "arm_collision"]
    print(
        f"world events: placed {events['placed']}, jammed {events['jammed']}, tipped {events['tipped']},"
        f" dropped {events['dropped']}, grasp slips {events['grasp_slipped']},"
        f" arm collisions with the case, shelves, rack or rail {events['arm_collision']}"
        + (f" (first: {collisions[0]})" if collisions else "")
    )
    print(tracking.report())
    print(f"the executor noticed: {dict(Counter(what for _, what, _ in executor.noticed))}")
    for e in world.events:
        if e.kind in ("dropped", "jammed", "tipped", "grasp_slipped"):
            print(f"  {e.kind} {e.lane_id or ''} {e.sku}: {e.detail}")
    for _, what, detail in executor.noticed:
        print(f"  noticed {what}: {detail}")
    print(f"wall time {wall:.1f} s ({c.sum() / wall:.1f}x real time)")


if __name__ == "__main__":
    main()
