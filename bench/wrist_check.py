"""The wrist camera's checks on held-out renders: the held container's SKU and the lane count from behind.

Renders the simulator's wrist camera (restock.sim) with randomised lights, colours and a small
camera jitter, in stores and seeds of your choosing, and scores restock.vision.wrist on them:

- SKU check: the arm holds the front container of a random back-room location, half the time a
  stock mix-up (a SKU as wide, restock.sim.incidents.MIXUP_WIDTH); the check must pass the
  location's own SKU and refuse any other. Accuracy = right answers / samples.
- Count: a random lane filled with a random number of its containers, seen from its approach
  point; exact count accuracy, and lanes the camera could not judge.

Thresholds in restock.vision.wrist were set on corner_store seeds 1 and 3; the figures that count are
other seeds and the walk-in cooler (a store the checks never saw)::

    MUJOCO_GL=egl .venv/bin/python bench/wrist_check.py --store config/stores/walk_in_cooler.yaml --seed 2 -n 400
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from restock.motion.envelope import Envelope
from restock.motion.kinematics import JOINT_NAMES, ArmModel, Pose
from restock.motion.moves import Mover
from restock.paths import store_file
from restock.sim.world import World
from restock.store.description import load_store
from restock.vision.appearance import SkuLooks
from restock.vision.wrist import check_held, count_lane, wrist_camera


def pose(world: World, mover: Mover, target: Pose) -> np.ndarray:
    q = mover.solve(target, None)
    world.teleport(dict(zip(JOINT_NAMES, q, strict=True)))
    return q


def sku_samples(world: World, mover: Mover, looks: SkuLooks, rng: np.random.Generator, n: int) -> tuple[int, int, list]:
    store = world.store
    right = mixed = 0
    wrong: list[str] = []
    for _ in range(n):
        loc = store.stock.locations[int(rng.integers(len(store.stock.locations)))]
        mix = rng.random() < 0.5
        held_sku = loc.sku
        if mix:
            try:
                held_sku = world.put_mixup(loc.id)
            except ValueError:
                mix = False  # no SKU as wide as this one: a plain sample
        mixed += mix
        world.randomize_appearance(rng, camera_jitter_m=0.003, camera_jitter_deg=1.0)
        pick = mover.pick(loc.id)
        for z in (pick.z, store.stock_pick_point(loc)[2]):  # the sim grips where the arm does (or at the centre)
            pose(world, mover, Pose(pick.x, pick.y, z, pick.yaw))
            world.teleport({"gripper": mover.store.skus[loc.sku].across + 0.02})
            world.set_gripper(0.0)
            world.step(1.0)
            if world.held() is not None:
                break
        held = world.held()
        if held is None or held.sku != held_sku:
            raise RuntimeError(f"no grasp at {loc.id}: {held}")
        pose(world, mover, mover.pre_pick(loc.id, lifted=True))
        opening = world.joint_positions()["gripper"]
        below = world.grasp_centre()[2] - float(world.data.mocap_pos[world.robot.holding.mocap][2])
        check = check_held(store, looks, world.render(store.robot.wrist_camera.id), loc.sku, opening, below)
        if check.ok == (held_sku == loc.sku):
            right += 1
        else:
            wrong.append(f"{loc.id} held {held_sku}: {check.detail}" if not check.ok else f"passed {held_sku}")
        world.robot.drop_held()
        world.shelves.clear_mixups(loc.id)
        world.refill_stock()
    return right, mixed, wrong


def count_samples(world: World, mover: Mover, rng: np.random.Generator, n: int) -> tuple[int, int, list]:
    store = world.store
    right = unknown = 0
    wrong: list[str] = []
    for _ in range(n):
        lv = store.lanes[int(rng.integers(len(store.lanes)))]
        k = int(rng.integers(lv.lane.capacity + 1))
        world.set_lane(lv.id, [lv.lane.sku] * k)
        world.randomize_appearance(rng, camera_jitter_m=0.003, camera_jitter_deg=1.0)
        world.teleport({"gripper": world.robot.max_opening})
        q = pose(world, mover, mover.pre_place(lv.id))
        camera = wrist_camera(store, tuple(mover.model.forward(q).as_array()))
        got = count_lane(store, lv.id, camera, world.render_depth(store.robot.wrist_camera.id))
        if got is None:
            unknown += 1
            wrong.append(f"{lv.id} {k}: unknown")
        elif got.count == k:
            right += 1
        else:
            wrong.append(f"{lv.id} {k}: counted {got.count}")
    return right, unknown, wrong


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", default="config/stores/corner_store.yaml")
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("-n", type=int, default=200, help="samples of each check")
    args = ap.parse_args()
    store = load_store(store_file(args.store))
    world = World(store, seed=args.seed, fill=0.5)
    mover = Mover(store, Envelope(ArmModel.from_store(store)))
    looks = SkuLooks(store)
    rng = np.random.default_rng([args.seed, 16])
    t0 = time.perf_counter()
    right, mixed, wrong = sku_samples(world, mover, looks, rng, args.n)
    t1 = time.perf_counter()
    counted, unknown, miscounted = count_samples(world, mover, rng, args.n)
    t2 = time.perf_counter()
    print(f"$ MUJOCO_GL=egl .venv/bin/python bench/wrist_check.py --store {args.store} --seed {args.seed} -n {args.n}")
    print(
        f"SKU check: {right}/{args.n} right = {100 * right / args.n:.2f}% ({mixed} stock mix-ups among them), "
        f"{1000 * (t1 - t0) / args.n:.0f} ms a sample"
    )
    for line in wrong[:10]:
        print(f"  wrong: {line}")
    print(
        f"count from behind: {counted}/{args.n} exact = {100 * counted / args.n:.2f}%, {unknown} not judged, "
        f"{1000 * (t2 - t1) / args.n:.0f} ms a sample"
    )
    for line in miscounted[:10]:
        print(f"  miscounted: {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
