"""How fast the embedded simulator runs: sim seconds per wall second, and render rate.

Prints the figures and the command that produced them. Measures, on one store:
1. a store day (24 h from 06:00, demand-model customers, staff refills) with every camera
   rendering once per 60 sim-seconds (the idle robot: bookkeeping is fast-forwarded);
2. the same with every camera at 5 Hz (over a shorter span, reported per sim second);
3. the arm moving all the time (a trajectory of random reachable targets), no cameras;
4. render fps of one camera at 640x480 (RGB, and segmentation);
5. a store day with the arm at work (the task executor in the loop, one lane at a time topped up,
   1,000 containers a day, cameras every 60 sim-s), once on contact physics and once by
   bookkeeping, the same seed, in turn ``--repeats`` times: sim s per wall s and per CPU s of this
   process (steadier on a shared machine) of each, their medians and ratio, and what the physics did.

Usage: .venv/bin/python bench/sim_speed.py [--store corner_store] [--five-hz-span 20] [--renders 40]
[--arm-day-hours 2] [--only-arm-day] [--repeats 1]
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
from restock.demand.generator import DemandGenerator
from restock.motion.envelope import Envelope
from restock.motion.executor import Executor
from restock.motion.kinematics import ArmModel
from restock.motion.moves import Mover
from restock.motion.taskstore import TaskStore
from restock.paths import store_file
from restock.sim.armloop import apply, joints
from restock.sim.trajectory import JointPath
from restock.sim.world import World
from restock.store.description import load_store


def run_with_cameras(world: World, span_s: float, period_s: float) -> tuple[float, int]:
    """Advance span_s sim seconds rendering every camera each period_s; returns (wall s, renders)."""
    cams = [c.id for c in world.store.cameras]
    end = world.time + span_s
    renders = 0
    t0 = time.perf_counter()
    while world.time < end - 1e-9:
        world.step(min(period_s, end - world.time))
        for cam in cams:
            world.render(cam)
            renders += 1
    return time.perf_counter() - t0, renders


def next_task(world: World, n: int, quantity: int | None = None) -> records.RestockTask | None:
    """Top up the lane with the most room (at least two containers' worth), up to four at a time: from a full
    start the arm moves what customers buy, 1,000 containers a day. ``quantity``: ask that many whatever
    the room (the wrist camera's count must then stop the arm at a full lane)."""
    store = world.store
    room = {lv.id: lv.lane.capacity - world.lane_count(lv.id) for lv in store.lanes}
    lane_id = max(room, key=lambda k: room[k])
    if room[lane_id] < 2:
        return None
    lv = store.lane_by_id[lane_id]
    loc = next((x for x in store.stock_for_sku(lv.lane.sku) if world.stock_quantity(x.id) > 0), None)
    if loc is None:
        return None
    return records.RestockTask(
        task_id=f"d{n}", lane_id=lane_id, sku=lv.lane.sku, quantity=min(room[lane_id], 4) if quantity is None else quantity,
        stock_location=loc.id, created=world.time,
    )  # fmt: skip


def arm_day(store_name: str, hours: float, physics: bool) -> tuple[float, float, Counter[str], int, float]:
    """A store day with the executor restocking: (sim s, wall s, world event counts, tasks, CPU s of
    this process: on a shared machine a steadier measure than wall time)."""
    store = load_store(store_file(store_name))
    world = World(store, seed=1, start_time="2026-07-06T07:00:00", fill=1.0, physics=physics)
    world.set_demand(DemandGenerator.for_daily_total(store, 1000.0, seed=1))
    world.render(store.cameras[0].id)  # renderer set-up is not part of the figures
    ex = Executor(Mover(store, Envelope(ArmModel.from_store(store))), TaskStore())
    cams = [c.id for c in store.cameras]
    start = world.time
    end, next_frame, tasks, published = start + hours * 3600.0, start, 0, []
    t0, cpu0 = time.perf_counter(), time.process_time()
    while world.time < end - 1e-9:
        if ex.active is None and not ex.queue and (task := next_task(world, tasks)) is not None:
            ex.submit(task, world.time)
            tasks += 1
        q, grip = joints(world)
        apply(world, ex.tick(world.time, q, grip), published, ex)
        wake = ex.wake_at(world.time + 0.01)
        until = min(end, next_frame, world.time + 30.0 if wake is None else wake)
        world.step(max(until - world.time, 0.01))
        if world.time >= next_frame - 1e-9:
            for cam in cams:
                world.render(cam)
            next_frame += 60.0
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return world.time - start, wall, Counter(e.kind for e in world.events), tasks, cpu


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", default="corner_store")
    ap.add_argument("--day-hours", type=float, default=24.0)
    ap.add_argument("--five-hz-span", type=float, default=20.0, help="sim seconds at 5 Hz cameras")
    ap.add_argument("--arm-span", type=float, default=120.0, help="sim seconds of continuous arm motion")
    ap.add_argument("--renders", type=int, default=40)
    ap.add_argument("--containers-per-day", type=float, default=1000.0)
    ap.add_argument("--arm-day-hours", type=float, default=2.0, help="sim hours of the store day with the arm")
    ap.add_argument("--only-arm-day", action="store_true", help="measure the store day with the arm only")
    ap.add_argument("--repeats", type=int, default=1, help="arm day: physics and bookkeeping in turn this many times")
    args = ap.parse_args(argv)
    store = load_store(store_file(args.store))
    print(f"$ MUJOCO_GL={os.environ['MUJOCO_GL']} {shlex.join([sys.executable, *sys.argv])}")
    print(
        f"store {store.name}: {len(store.lanes)} lanes, {len(store.cameras)} cameras "
        f"({', '.join(f'{c.width}x{c.height}' for c in store.cameras)}); cores: {os.cpu_count()}"
    )

    if args.only_arm_day:
        return report_arm_day(args.store, args.arm_day_hours, args.repeats)
    world = World(store, seed=1)
    world.set_demand(DemandGenerator.for_daily_total(store, args.containers_per_day, seed=1))
    world.render(store.cameras[0].id)  # renderer set-up is not part of the figures
    span = args.day_hours * 3600.0
    wall, renders = run_with_cameras(world, span, 60.0)
    sold, lost = sum(world.sales.values()), sum(world.lost_sales.values())
    print(
        f"store day, cameras every 60 s: {span:.0f} sim s in {wall:.1f} wall s = {span / wall:.0f}x real time "
        f"({renders} renders, {sold} containers sold, {lost} lost sales, {len(world.events)} events)"
    )

    wall, renders = run_with_cameras(world, args.five_hz_span, 0.2)
    print(
        f"cameras at 5 Hz: {args.five_hz_span:.0f} sim s in {wall:.1f} wall s = "
        f"{args.five_hz_span / wall:.2f}x real time ({renders} renders)"
    )

    arm = World(store, seed=2)
    rng = np.random.default_rng(0)
    lim = {j.name: (j.lower, j.upper) for j in store.robot.joints}
    t0 = time.perf_counter()
    end = arm.time + args.arm_span
    while arm.time < end:
        goal = {n: float(rng.uniform(*lim[n])) for n in lim}
        arm.set_trajectory(JointPath.from_points(list(goal), arm.time, [2.0], [list(goal.values())]))
        arm.step(2.0)
    wall = time.perf_counter() - t0
    print(
        f"arm always moving (no cameras): {args.arm_span:.0f} sim s in {wall:.2f} wall s = "
        f"{args.arm_span / wall:.0f}x real time"
    )

    cam = store.cameras[0].id
    for label, fn in (("RGB", world.render), ("segmentation", world.render_segmentation)):
        fn(cam, 640, 480)
        t0 = time.perf_counter()
        for _ in range(args.renders):
            world.step(0.2)
            fn(cam, 640, 480)
        wall = time.perf_counter() - t0
        print(f"render {label} 640x480: {args.renders / wall:.1f} fps")
    return report_arm_day(args.store, args.arm_day_hours, args.repeats)


def report_arm_day(store_name: str, hours: float, repeats: int = 1) -> int:
    """Physics and bookkeeping in turn, ``repeats`` times each; medians of wall and CPU speed."""
    speeds: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    for _ in range(repeats):
        for physics in (True, False):
            load = os.getloadavg()[0]
            sim, wall, ev, tasks, cpu = arm_day(store_name, hours, physics)
            mode = "contact physics" if physics else "bookkeeping"
            speeds[physics].append((sim / wall, sim / cpu))
            print(
                f"store day with the arm, {mode}, cameras every 60 s: {sim:.0f} sim s in {wall:.1f} wall s ="
                f" {sim / wall:.0f}x real time, {sim / cpu:.0f}x per CPU s, load {load:.1f} ({tasks} tasks;"
                f" placed {ev['placed']}, jammed {ev['jammed']}, tipped {ev['tipped']}, dropped {ev['dropped']},"
                f" grasp slips {ev['grasp_slipped']}, arm collisions {ev['arm_collision']})"
            )
    (pw, pc), (bw, bc) = (np.median(np.array(speeds[k]), axis=0) for k in (True, False))
    print(
        f"medians of {repeats}: contact physics {pw:.0f}x real time ({pc:.0f}x per CPU s), bookkeeping {bw:.0f}x"
        f" ({bc:.0f}x per CPU s): physics runs at {pw / bw:.2f}x the speed of bookkeeping ({pc / bc:.2f}x per CPU s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
