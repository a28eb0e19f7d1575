"""`restock make-dataset`: render a YOLO dataset of shelf views from the simulator.

Layout: restock.vision.dataset (Ultralytics' own)::

    OUT/data.yaml                       path, train/val/test, names (restock.vision.classes)
    OUT/images/{train,val,test}/*.jpg   camera renders at the camera's resolution
    OUT/labels/{train,val,test}/*.txt   YOLO labels
    OUT/lanes/{train,val,test}/*.json   per image: store, camera pose used, each seen lane's truth
    OUT/manifest.json                   the command, seeds per split, counts per class

Splits are by *world seed*: every image of a seed lands in one split, and the test seeds are
never used for training or validation (``--test-seed-base`` keeps them far apart).

Domain randomisation per image: lane fill (empty lanes on purpose), lighting, object colours,
camera pose jitter (the simulator's hooks), a customer's hand, unfamiliar items and obstructions
(the simulator's events), then blur, sensor noise and JPEG quality here; with ``--p-print`` and
``--p-camera``, printed packaging and a real camera's look (restock.vision.realism).

Labels: the front container of each lane by kind (containers further back are background),
``empty_front`` for each empty lane's front slot projected through the camera pose actually
rendered, and every visible unfamiliar item, obstruction and hand from the segmentation render.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from restock.paths import store_file
from restock.sim.world import World
from restock.store.camera import CameraModel
from restock.store.description import Store, load_store
from restock.vision.classes import CLASS_ID, CLASSES, EMPTY_FRONT, yolo_label_line
from restock.vision.dataset import SPLITS, SceneConfig, camera_json, degrade, plan_lanes, write_data_yaml
from restock.vision.lanes import project_box, slot_corners
from restock.vision.realism import camera_look, print_packaging


def camera_from_world(world, camera_id: str) -> CameraModel:
    """The camera pose MuJoCo actually rendered with (after jitter), as a CameraModel."""
    import mujoco

    model, data = world.model, world.data
    mujoco.mj_forward(model, data)
    cid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, world.camera_name(camera_id))
    if cid < 0:
        raise KeyError(f"no MuJoCo camera for {camera_id}")
    xmat = np.array(data.cam_xmat[cid]).reshape(3, 3)  # columns: x right, y up, z backwards
    rotation = np.column_stack([xmat[:, 0], -xmat[:, 1], -xmat[:, 2]])
    cam = world.store.camera(camera_id)
    return CameraModel(np.array(data.cam_xpos[cid]), rotation, float(model.cam_fovy[cid]), cam.width, cam.height)


def _label_for(info) -> int | None:
    """The class of a visible object (restock.sim.world.ObjectInfo), or None for background."""
    label = info.label
    if label is None:
        return None
    if info.kind == "container" and info.slot != 0:
        return None  # only a lane's front container; the column behind it is background
    return CLASS_ID[label]


FOREGROUND_KINDS = ("hand", "obstruction", "unfamiliar_item")


@dataclass
class Scene:
    """What one image's arrangement put into the world, so it can be taken out again."""

    hands: list[int]
    geometry: tuple[np.ndarray, np.ndarray] | None = None  # geom sizes and positions before reshaping


def container_bodies(world, store: Store) -> dict[str, int]:
    """Containers of each SKU the world can put into lanes (its pool, less the stock-rack fronts)."""
    fronts: dict[str, int] = {}
    for loc in store.stock.locations:
        fronts[loc.sku] = fronts.get(loc.sku, 0) + 1
    return {sku: len(world.layout.items[sku]) - fronts.get(sku, 0) for sku in store.skus}


def arrange_scene(world, store: Store, camera_id: str, rng: np.random.Generator, cfg: SceneConfig) -> Scene:
    """Fill lanes at random (some empty on purpose) and inject events for one image."""
    seen = [lv.id for lv in store.lanes_seen_by(camera_id)]
    for lv in store.lanes:  # every container back in the pool before any lane takes one
        world.set_lane(lv.id, [])
    for lane_id, items in plan_lanes(store, rng, cfg, container_bodies(world, store)).items():
        world.set_lane(lane_id, items)
    if seen and rng.random() < cfg.p_unfamiliar:
        for lane_id in rng.choice(seen, size=min(len(seen), int(rng.integers(1, 4))), replace=False):
            with contextlib.suppress(ValueError):  # an empty lane shorter than the item: none goes there
                world.put_unfamiliar(str(lane_id), slot=0)
    if seen and rng.random() < cfg.p_obstruction:
        world.put_obstruction(lane_id=str(rng.choice(seen)))
    hands = []
    if rng.random() < cfg.p_hand:
        hands.append(world.show_hand(camera_id, lane_id=str(rng.choice(seen)) if seen else None))
    if rng.random() < cfg.p_recolour:
        recolour_containers(world, store, rng)
    geometry = reshape_containers(world, store, rng) if rng.random() < cfg.p_reshape else None
    return Scene(hands, geometry)


def reshape_containers(world, store: Store, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Give every SKU a new width (x0.8-1.2) and height (x0.6-1.15) for this image, standing on
    the shelf as before, so "a container" is learnt across shapes other stores sell (a short
    carton, a slim can). Returns the geometry to put back (:func:`clear_scene` does)."""
    import mujoco

    model = world.model
    saved = (model.geom_size.copy(), model.geom_pos.copy())
    factors = {sku: (rng.uniform(0.8, 1.2), rng.uniform(0.6, 1.15)) for sku in store.skus}
    for lv in store.lanes:
        for info in world.lane_contents(lv.id):
            if info.kind != "container" or info.sku is None:
                continue
            wide, tall = factors[info.sku]
            drop = (1.0 - tall) * store.skus[info.sku].height / 2  # keep the bottom on the shelf
            for g in np.flatnonzero(model.geom_bodyid == info.id):
                kind = model.geom_type[g]
                if kind == mujoco.mjtGeom.mjGEOM_BOX:
                    model.geom_size[g] *= (wide, wide, tall)
                elif kind == mujoco.mjtGeom.mjGEOM_CYLINDER:
                    model.geom_size[g, :2] *= (wide, tall)
                else:
                    model.geom_size[g, 0] *= min(wide, tall)
                model.geom_pos[g] = model.geom_pos[g] * (wide, wide, tall) - (0.0, 0.0, drop)
    mujoco.mj_forward(model, world.data)
    return saved


def recolour_containers(world, store: Store, rng: np.random.Generator) -> None:
    """Give every SKU new body and label colours for this image, so kinds are learnt by shape.

    (The simulator's own colour jitter is small; other stores sell other colours.) Undone by
    ``world.reset_appearance()``.
    """
    model = world.model
    colours = {sku: rng.uniform(0.05, 1.0, (2, 3)) for sku in store.skus}
    for lv in store.lanes:
        for info in world.lane_contents(lv.id):
            if info.kind != "container" or info.sku is None:
                continue
            geoms = np.flatnonzero(model.geom_bodyid == info.id)
            for j, g in enumerate(geoms):
                model.geom_rgba[g, :3] = colours[info.sku][0 if j == 0 else 1]


def clear_scene(world, store: Store, scene: Scene) -> None:
    for hand in scene.hands:
        world.hide_hand(hand)
    if scene.geometry is not None:
        world.model.geom_size[:], world.model.geom_pos[:] = scene.geometry
    for lv in store.lanes:
        world.set_lane(lv.id, [])


def add_realism(world, camera_id: str, rgb: np.ndarray, rng: np.random.Generator, cfg: SceneConfig) -> np.ndarray:
    """Printed packaging on the visible containers and a real camera's look, each with its chance
    (``cfg.p_print``, ``cfg.p_camera``); labels are unchanged (restock.vision.realism)."""
    if cfg.p_print > 0 and rng.random() < cfg.p_print:
        ids = [info.id for info, _box, _n in world.boxes(camera_id, min_pixels=30) if info.kind == "container"]
        rgb = print_packaging(rgb, world.render_segmentation(camera_id), ids, rng)
    if cfg.p_camera > 0 and rng.random() < cfg.p_camera:
        rgb = camera_look(rgb, rng)
    return rgb


def label_image(world, store: Store, camera_id: str, camera: CameraModel, min_pixels: int) -> tuple[list[str], dict]:
    """YOLO label lines and the lane truth for the world as it is now."""
    w, h = camera.width, camera.height
    lines: list[str] = []
    seg = world.render_segmentation(camera_id)
    # What hides a lane front: hands, and items standing in front of *other* lanes.
    hiders: list[tuple[str | None, int]] = []
    for info, box, _pixels in world.boxes(camera_id, min_pixels=min_pixels):
        cid = _label_for(info)
        if info.kind in FOREGROUND_KINDS:
            hiders.append((info.lane_id, info.id))
        if cid is None:
            continue
        try:
            lines.append(yolo_label_line(cid, tuple(float(v) for v in box), w, h))
        except ValueError:
            continue
    lanes: dict[str, dict] = {}
    for lv in store.lanes:
        if not camera.sees(np.array(lv.front_point())):
            continue
        box = project_box(camera, slot_corners(lv))
        if box is None:
            continue
        contents = world.lane_contents(lv.id)
        front = contents[0] if contents else None
        if front is None:
            state = "empty"
        elif front.kind == "unfamiliar_item":
            state = "unfamiliar"
        elif front.kind == "obstruction":
            state = "obstruction"
        else:
            state = "present"
        x1, y1, x2, y2 = (round(v) for v in box)
        window = seg[max(0, y1) : max(0, y2), max(0, x1) : max(0, x2)]
        others = [oid for lane_id, oid in hiders if lane_id != lv.id]
        region = np.isin(window, others) if others else np.zeros(window.shape, bool)
        hidden = float(region.mean()) if region.size else 1.0
        lanes[lv.id] = {
            "state": state,
            "sku": front.sku if front is not None and state == "present" else None,
            "hidden": round(hidden, 3),
            "box": [round(v, 1) for v in box],
        }
        if state == "empty" and hidden < 0.5:
            with contextlib.suppress(ValueError):  # a front whose box has no area inside the image
                lines.append(yolo_label_line(EMPTY_FRONT, box, w, h))
    return lines, lanes


def generate(
    out: Path,
    store_path: Path,
    seeds: dict[str, list[int]],
    images_per_seed: int,
    cfg: SceneConfig | None = None,
    min_pixels: int = 30,
    log=print,
) -> dict:
    """Render the dataset; returns the manifest."""
    cfg = cfg or SceneConfig()
    store = load_store(store_path)
    counts = {name: 0 for name in CLASSES}
    n_images = {s: 0 for s in seeds}
    t0 = time.monotonic()
    total = sum(len(v) for v in seeds.values()) * images_per_seed * len(store.cameras)
    done = 0
    for split, split_seeds in seeds.items():
        for sub in ("images", "labels", "lanes"):
            (out / sub / split).mkdir(parents=True, exist_ok=True)
        for seed in split_seeds:
            world = World(store, seed=seed)
            for k in range(images_per_seed):
                for camera_id in (c.id for c in store.cameras):
                    rng = np.random.default_rng([seed, k, sum(map(ord, camera_id))])
                    world.reset_appearance()
                    world.randomize_appearance(
                        rng, lighting=True, colors=True, camera_jitter_m=cfg.camera_jitter_m,
                        camera_jitter_deg=cfg.camera_jitter_deg,
                    )  # fmt: skip
                    scene = arrange_scene(world, store, camera_id, rng, cfg)
                    camera = camera_from_world(world, camera_id)
                    rgb = world.render(camera_id)
                    lines, lanes = label_image(world, store, camera_id, camera, min_pixels)
                    # Its own stream: a dataset with and without realism has the same scenes.
                    looks = np.random.default_rng([seed, k, sum(map(ord, camera_id)), 15])
                    rgb = add_realism(world, camera_id, rgb, looks, cfg)
                    name = f"{store.name}_{camera_id}_s{seed}_{k:03d}"
                    (out / "images" / split / f"{name}.jpg").write_bytes(degrade(rgb, rng, cfg))
                    (out / "labels" / split / f"{name}.txt").write_text("\n".join(lines) + ("\n" if lines else ""))
                    sidecar = {
                        "store": store.name,
                        "camera_id": camera_id,
                        "seed": seed,
                        "camera": camera_json(camera),
                    }
                    sidecar["lanes"] = lanes
                    (out / "lanes" / split / f"{name}.json").write_text(json.dumps(sidecar))
                    for line in lines:
                        counts[CLASSES[int(line.split()[0])]] += 1
                    n_images[split] += 1
                    done += 1
                    clear_scene(world, store, scene)
            if done and (done % 20 == 0 or split_seeds[-1] == seed):
                rate = done / max(time.monotonic() - t0, 1e-6)
                log(f"[make-dataset] {done}/{total} images ({rate:.1f}/s)")
    write_data_yaml(out, tuple(seeds))
    manifest = {
        "store": store.name,
        "store_file": str(store_path),
        "seeds": seeds,
        "images_per_seed": images_per_seed,
        "images": n_images,
        "labels_per_class": counts,
        "classes": list(CLASSES),
        "scene": cfg.__dict__,
        "seconds": round(time.monotonic() - t0, 1),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def _seed_list(base: int, count: int) -> list[int]:
    return list(range(base, base + count))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="restock make-dataset", description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="output folder (created)")
    parser.add_argument("--store", default="corner_store.yaml", help="store description (name or path)")
    parser.add_argument("--train-seeds", type=int, default=40, help="world seeds in the training split")
    parser.add_argument("--val-seeds", type=int, default=6)
    parser.add_argument("--test-seeds", type=int, default=10)
    parser.add_argument("--seed-base", type=int, default=0, help="first training seed; val follows train")
    parser.add_argument("--test-seed-base", type=int, default=1_000_000, help="first test seed (never trained on)")
    parser.add_argument("--images-per-seed", type=int, default=4, help="images per seed and camera")
    parser.add_argument("--min-pixels", type=int, default=30, help="smallest visible object labelled (pixels)")
    parser.add_argument("--only", choices=SPLITS, action="append", help="render only these splits")
    parser.add_argument("--p-empty", type=float, default=SceneConfig.p_empty, help="chance each lane is empty")
    parser.add_argument(
        "--p-misplaced", type=float, default=SceneConfig.p_misplaced, help="lanes with another SKU at the front"
    )
    parser.add_argument(
        "--p-unfamiliar", type=float, default=SceneConfig.p_unfamiliar, help="images with unfamiliar items"
    )
    parser.add_argument(
        "--p-obstruction", type=float, default=SceneConfig.p_obstruction, help="images with an obstruction"
    )
    parser.add_argument("--p-hand", type=float, default=SceneConfig.p_hand, help="images with a hand")
    parser.add_argument(
        "--p-recolour",
        type=float,
        default=SceneConfig.p_recolour,
        help="images whose SKUs get random colours (training)",
    )
    parser.add_argument(
        "--p-reshape", type=float, default=SceneConfig.p_reshape, help="images whose SKUs get random sizes (training)"
    )
    parser.add_argument("--p-print", type=float, default=SceneConfig.p_print,
                        help="images whose containers get printed packaging (text, logos, barcodes)")  # fmt: skip
    parser.add_argument("--p-camera", type=float, default=SceneConfig.p_camera,
                        help="images under a random real camera and light (white balance, exposure, glare, JPEG)")  # fmt: skip
    args = parser.parse_args(argv)
    try:
        path = store_file(args.store)
        seeds = {
            "train": _seed_list(args.seed_base, args.train_seeds),
            "val": _seed_list(args.seed_base + args.train_seeds, args.val_seeds),
            "test": _seed_list(args.test_seed_base, args.test_seeds),
        }
        if args.only:
            seeds = {s: v for s, v in seeds.items() if s in args.only}
        seeds = {s: v for s, v in seeds.items() if v}
        overlap = set(seeds.get("test", [])) & (set(seeds.get("train", [])) | set(seeds.get("val", [])))
        if overlap:
            print(f"restock make-dataset: test seeds overlap training seeds: {sorted(overlap)[:5]}", file=sys.stderr)
            return 2
        scene = SceneConfig(
            p_empty=args.p_empty,
            p_misplaced=args.p_misplaced,
            p_unfamiliar=args.p_unfamiliar,
            p_obstruction=args.p_obstruction,
            p_hand=args.p_hand,
            p_recolour=args.p_recolour,
            p_reshape=args.p_reshape,
            p_print=args.p_print,
            p_camera=args.p_camera,
        )
        manifest = generate(args.out, path, seeds, args.images_per_seed, scene, min_pixels=args.min_pixels)
    except (OSError, ValueError) as err:
        print(f"restock make-dataset: {err}", file=sys.stderr)
        return 2
    manifest["command"] = "restock make-dataset " + shlex.join(argv if argv is not None else sys.argv[1:])
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    print(json.dumps({k: manifest[k] for k in ("images", "labels_per_class", "seconds")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
