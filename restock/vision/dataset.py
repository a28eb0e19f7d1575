"""The shelf-view dataset's format, without the simulator: its splits, the scene settings,
which SKU fits which lane, the camera's blur/noise/JPEG, the camera sidecar and data.yaml.

Layout (Ultralytics' own)::

    OUT/data.yaml                       path, train/val/test, names (restock.vision.classes)
    OUT/images/{train,val,test}/*.jpg   camera renders at the camera's resolution
    OUT/labels/{train,val,test}/*.txt   YOLO labels
    OUT/lanes/{train,val,test}/*.json   per image: store, camera pose used, each seen lane's truth
    OUT/manifest.json                   the command, seeds per split, counts per class

The render-driven generator (``restock make-dataset``) is restock.sim.dataset_render.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from restock.store.camera import CameraModel
from restock.store.description import LANE_SIDE_CLEARANCE, LaneView, Sku, Store
from restock.vision.classes import CLASSES

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class SceneConfig:
    p_empty: float = 0.3  # each lane empty
    p_misplaced: float = 0.04  # each filled lane has a container of another SKU at its front
    p_unfamiliar: float = 0.5  # an image has unfamiliar items at lane fronts
    p_obstruction: float = 0.3
    p_hand: float = 0.45
    p_recolour: float = 0.5  # an image's SKUs get random colours
    p_reshape: float = 0.0  # an image's SKUs get random sizes (other stores sell other shapes)
    camera_jitter_m: float = 0.03  # wide on purpose: other stores place their cameras differently
    camera_jitter_deg: float = 2.0
    max_blur: float = 1.2  # Gaussian radius (px)
    max_noise: float = 6.0  # sensor noise sigma (grey levels)
    p_print: float = 0.0  # an image's containers get printed packaging (restock.vision.realism)
    p_camera: float = 0.0  # an image gets a real camera's look: white balance, exposure, glare ...


def fits_lane(sku: Sku, lv: LaneView) -> bool:
    """Whether a container of ``sku`` could stand in the lane at all: between its dividers, under
    the shelf above and within the row's depth (a customer cannot push in one that does not)."""
    return (
        sku.across + 2 * LANE_SIDE_CLEARANCE <= lv.lane.width + 1e-9
        and sku.height <= lv.row.clearance + 1e-9
        and sku.along <= lv.row.depth + 1e-9
    )


def plan_lanes(
    store: Store, rng: np.random.Generator, cfg: SceneConfig, bodies: dict[str, int]
) -> dict[str, list[str]]:
    """Each lane's column for one image, front first: empty (``cfg.p_empty``) or 1..capacity of its
    SKU, sometimes (``cfg.p_misplaced``) with a container of another SKU at the front, put back
    there by a customer.

    The misplaced one is a SKU that fits the lane, and takes the room of as many of the lane's
    containers as it needs (they go from the back): a long carton at the front of a lane of short
    cans filled to capacity leaves fewer cans behind it. No SKU is used more often than the world
    has ``bodies`` for it."""
    left = dict(bodies)
    columns: dict[str, list[str]] = {}
    for lv in store.lanes:
        n = 0 if rng.random() < cfg.p_empty else int(rng.integers(1, lv.lane.capacity + 1))
        columns[lv.id] = [lv.lane.sku] * n
        left[lv.lane.sku] -= n
    for lv in store.lanes:
        items = columns[lv.id]
        if not items or rng.random() >= cfg.p_misplaced:
            continue
        others = [s for s, sku in store.skus.items() if s != lv.lane.sku and left[s] > 0 and fits_lane(sku, lv)]
        if not others:
            continue
        other = str(rng.choice(others))
        left[other] -= 1
        left[items[0]] += 1
        items[0] = other
        while sum(store.skus[s].along for s in items) > lv.row.depth + 1e-9:
            left[items.pop()] += 1
    return columns


def degrade(rgb: np.ndarray, rng: np.random.Generator, cfg: SceneConfig) -> bytes:
    """Blur, sensor noise and JPEG compression, as a cheap camera would add them; returns JPEG bytes."""
    img = Image.fromarray(rgb)
    radius = float(rng.uniform(0, cfg.max_blur))
    if radius > 0.2:
        img = img.filter(ImageFilter.GaussianBlur(radius))
    arr = np.asarray(img).astype(np.float32)
    sigma = float(rng.uniform(0, cfg.max_noise))
    if sigma > 0.5:
        arr = arr + rng.normal(0, sigma, arr.shape).astype(np.float32)
    out = io.BytesIO()
    Image.fromarray(arr.clip(0, 255).astype(np.uint8)).save(out, format="JPEG", quality=int(rng.integers(75, 96)))
    return out.getvalue()


def camera_json(camera: CameraModel) -> dict:
    return {
        "position": camera.position.tolist(),
        "rotation": camera.rotation.tolist(),
        "fov_y_deg": camera.fov_y_deg,
        "width": camera.width,
        "height": camera.height,
    }


def camera_from_json(data: dict) -> CameraModel:
    return CameraModel(
        np.array(data["position"], float),
        np.array(data["rotation"], float),
        float(data["fov_y_deg"]),
        int(data["width"]),
        int(data["height"]),
    )


def write_data_yaml(out: Path, splits: tuple[str, ...] = SPLITS) -> Path:
    lines = [f"path: {out.resolve()}"]
    for split in splits:
        lines.append(f"{split}: images/{split}")
    lines.append("names:")
    lines += [f"  {i}: {name}" for i, name in enumerate(CLASSES)]
    path = out / "data.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path
