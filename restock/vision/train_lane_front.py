"""`restock train-lane-front`: cut lane-front crops from simulator datasets and train the classifier.

Sources are datasets written by ``restock make-dataset`` (images plus ``lanes/<split>/*.json``
sidecars: the store, the camera pose rendered, each lane's truth). Every lane front in view
(less than half hidden, not cut by the image border) becomes one crop, cut by
:func:`restock.vision.lane_front.crop_fronts` exactly as the camera node cuts it, filed under
its truth class. The crops form an Ultralytics classification dataset (``train/<class>/``,
``val/<class>/``, ``test/<class>/``); the model is built from ``models/lane_front_cls.yaml``
(no pretrained weights), trained offline, exported to ONNX with a model card beside it.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from restock.paths import SOURCE_ROOT
from restock.vision.lane_front import CROP_SIZE, DEFAULT_LANE_FRONT_MODEL, LANE_FRONT_CLASSES, crop_fronts
from restock.vision.train import (
    TrainError,
    add_training_args,
    classes_section,
    export_onnx,
    fit,
    offline_ultralytics,
    run_facts,
    run_training,
    training_section,
)

MODEL_YAML = Path(__file__).parent / "models" / "lane_front_cls.yaml"
TRUTH_CLASS = {"present": "container", "empty": "empty", "unfamiliar": "unfamiliar", "obstruction": "obstruction"}
SPLITS = ("train", "val", "test")


def build_crops(sources: list[Path], out: Path, size: int = CROP_SIZE, log=print) -> dict:
    """Cut every judged lane front of the sources into ``out/<split>/<class>/``; returns counts."""
    from restock.vision.dataset import camera_from_json
    from restock.vision.evaluate import _find_store
    from restock.vision.lanes import MIN_VISIBLE_FRACTION, project_box, slot_corners

    counts: dict = {s: dict.fromkeys(LANE_FRONT_CLASSES, 0) for s in SPLITS}
    for split in SPLITS:
        for cls in LANE_FRONT_CLASSES:
            (out / split / cls).mkdir(parents=True, exist_ok=True)
    stores: dict = {}
    for source in sources:
        sidecars = sorted((source / "lanes").glob("*/*.json"))
        if not sidecars:
            raise TrainError(f"{source}: no lanes/<split>/*.json sidecars (make it with restock make-dataset)")
        for k, sidecar in enumerate(sidecars):
            split = sidecar.parent.name
            if split not in SPLITS:
                continue
            image = source / "images" / split / (sidecar.stem + ".jpg")
            if not image.is_file():
                continue
            info = json.loads(sidecar.read_text())
            store = stores.get(info["store"]) or stores.setdefault(info["store"], _find_store(info["store"]))
            camera = camera_from_json(info["camera"])
            rgb = np.asarray(Image.open(image).convert("RGB"))
            boxes, names = [], []
            for lane_id, truth in info["lanes"].items():
                if truth["hidden"] >= 0.5 or truth["state"] not in TRUTH_CLASS:
                    continue
                box = project_box(camera, slot_corners(store.lane_by_id[lane_id]), MIN_VISIBLE_FRACTION)
                if box is None:
                    continue
                boxes.append(box)
                names.append((lane_id, TRUTH_CLASS[truth["state"]]))
            for crop, (lane_id, cls) in zip(crop_fronts(rgb, boxes, size), names, strict=True):
                Image.fromarray(crop).save(out / split / cls / f"{source.name}_{sidecar.stem}_{lane_id}.png")
                counts[split][cls] += 1
            if (k + 1) % 100 == 0:
                log(f"[train-lane-front] {source.name}: {k + 1}/{len(sidecars)} images cut")
    if not any(counts["train"].values()):
        raise TrainError(f"no training crops from {[str(s) for s in sources]}")
    if not any(counts["val"].values()):
        # Ultralytics needs a validation split: hold out every 10th training crop of each class.
        for cls in LANE_FRONT_CLASSES:
            for i, path in enumerate(sorted((out / "train" / cls).iterdir())):
                if i % 10 == 0:
                    path.rename(out / "val" / cls / path.name)
                    counts["train"][cls] -= 1
                    counts["val"][cls] += 1
    counts["train_oversampled"] = oversample(out / "train")
    counts["sources"] = [str(s) for s in sources]
    (out / "counts.json").write_text(json.dumps(counts, indent=2))
    return counts


def photo_windows(
    width: int, height: int, regions: np.ndarray, rng: np.random.Generator, per_region: int = 3
) -> tuple[list[tuple[float, float, float, float]], list[tuple[float, float, float, float]]]:
    """Lane-front-like windows (taller than wide, as a container's front slot) in a real photo whose
    empty shelf regions are ``regions`` (N, 4 pixels): up to ``per_region`` inside each region
    (its height, spread along it) and as many again away from every region (what stands on the
    shelf there: products). Returns (empty windows, container windows)."""
    empty, full = [], []
    for x1, y1, x2, y2 in regions:
        h = y2 - y1
        w = min(x2 - x1, h / rng.uniform(1.5, 3.0))
        if h < 12 or w < 6:
            continue
        for cx in np.linspace(x1 + w / 2, x2 - w / 2, per_region) if x2 - x1 > 1.5 * w else [(x1 + x2) / 2]:
            empty.append((float(cx - w / 2), float(y1), float(cx + w / 2), float(y2)))
    heights = [y2 - y1 for _, y1, _, y2 in regions if y2 - y1 >= 12] or [height / 5]
    tries = 0
    while len(full) < max(len(empty), per_region) and tries < 200:
        tries += 1
        h = float(rng.choice(heights)) * rng.uniform(0.8, 1.2)
        w = h / rng.uniform(1.5, 3.0)
        if h >= height or w >= width:
            continue
        x1, y1 = rng.uniform(0, width - w), rng.uniform(0, height - h)
        box = np.array([x1, y1, x1 + w, y1 + h])
        if len(regions):
            iw = (np.minimum(box[2], regions[:, 2]) - np.maximum(box[0], regions[:, 0])).clip(0)
            ih = (np.minimum(box[3], regions[:, 3]) - np.maximum(box[1], regions[:, 1])).clip(0)
            if (iw * ih).sum() > 0.05 * w * h:
                continue
        full.append(tuple(float(v) for v in box))  # type: ignore[arg-type]
    return empty, full


def add_photo_crops(
    photos: Path, class_map: str, out: Path, size: int = CROP_SIZE, seed: int = 0, log=print
) -> dict[str, dict[str, int]]:
    """Crops of a foreign set of real shelf photos that labels empty regions: its train split into
    ``out/train``, its valid and test splits into ``out/test`` (held out: the real-photo figure),
    cut by :func:`crop_fronts` as the node cuts fronts. Returns counts per split and class."""
    from restock.vision.classes import EMPTY_FRONT
    from restock.vision.foreign import ForeignDataset, to_pixels

    dataset = ForeignDataset.open(photos, class_map)
    counts: dict[str, dict[str, int]] = {}
    for splits, into in ((["train"], "train"), (["valid", "test"], "test")):
        counts[into] = {"empty": 0, "container": 0}
        for k, image in enumerate(dataset.images(splits)):
            rgb = np.asarray(Image.open(image).convert("RGB"))
            h, w = rgb.shape[:2]
            ids, boxes = dataset.labels(image)
            regions = to_pixels(boxes[ids == EMPTY_FRONT], w, h).reshape(-1, 4)
            empty, full = photo_windows(w, h, regions, np.random.default_rng([seed, k, len(into)]))
            for cls, windows in (("empty", empty), ("container", full)):
                (out / into / cls).mkdir(parents=True, exist_ok=True)
                for j, crop in enumerate(crop_fronts(rgb, windows, size) if windows else []):
                    Image.fromarray(crop).save(out / into / cls / f"photo_{image.stem}_{j}.png")
                    counts[into][cls] += 1
        log(f"[train-lane-front] {photos.name} -> {into}: {counts[into]}")
    return counts


def oversample(folder: Path, share: float = 0.25) -> dict[str, int]:
    """Hard-link copies of a rare class's crops until it has ``share`` of the largest class's count.

    Unfamiliar items and obstructions are rare at lane fronts; without this the net learns to
    ignore them. Returns the per-class counts after oversampling.
    """
    files = {cls: sorted((folder / cls).glob("*.png")) for cls in LANE_FRONT_CLASSES}
    target = int(max(len(f) for f in files.values()) * share)
    for paths in files.values():
        for i in range(max(0, target - len(paths))) if paths else ():
            src = paths[i % len(paths)]
            dst = src.with_name(f"{src.stem}_x{i // len(paths) + 1}.png")
            if not dst.exists():
                dst.hardlink_to(src)
    return {cls: len(list((folder / cls).glob("*.png"))) for cls in LANE_FRONT_CLASSES}


def train(args: argparse.Namespace, command: str) -> dict:
    offline_ultralytics(args.config_dir)
    crops = Path(args.crops).resolve()
    if args.data:
        if crops.exists():
            shutil.rmtree(crops)
        counts = build_crops([Path(s) for s in args.data], crops, args.imgsz)
    elif (crops / "counts.json").is_file():
        counts = json.loads((crops / "counts.json").read_text())
    else:
        raise TrainError(f"no datasets given and no crops at {crops}")
    for photos in args.photos:
        if not args.class_map:
            raise TrainError(f"{photos}: give --class-map (its empty class onto empty_front)")
        counts.setdefault("photos", {})[str(photos)] = add_photo_crops(Path(photos), args.class_map, crops, args.imgsz)
    print(f"[train-lane-front] crops: {json.dumps(counts)}", flush=True)

    # The crops are already the lane front at the model's size: no random crop that could cut
    # the item off, no erasing that could hide it; hue and saturation at random (shape decides).
    model, device, train_s, best = fit(
        args, str(crops), scale=0.1, erasing=0.0, auto_augment=None, hsv_h=0.5, hsv_s=0.5, fliplr=0.5
    )
    from ultralytics import YOLO

    trained = YOLO(str(best))
    export = export_onnx(trained, args, dynamic=True)
    from restock.vision.lane_front import LaneFrontClassifier

    figures = evaluate_crops(LaneFrontClassifier(export), crops)
    summary = {
        **run_facts(args, model, train_s, device),
        "crops": counts,
        "sources": counts.get("sources") or [str(s) for s in args.data],
        "figures": figures,
        "onnx": str(export),
        "onnx_bytes": export.stat().st_size,
        "command": command,
    }
    write_card(export.with_suffix(".md"), summary)
    return summary


def evaluate_crops(classifier, crops: Path) -> dict:
    """Per split: accuracy and per-class recall of the classifier on the crop folders."""
    figures = {}
    for split in ("val", "test"):
        truth, pred = [], []
        for ci, cls in enumerate(LANE_FRONT_CLASSES):
            paths = sorted((crops / split / cls).glob("*.png"))
            for i in range(0, len(paths), 256):
                batch = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in paths[i : i + 256]])
                pred.extend(classifier.classify(batch).argmax(axis=1).tolist())
                truth.extend([ci] * len(batch))
        if not truth:
            continue
        t, p = np.array(truth), np.array(pred)
        figures[split] = {
            "crops": len(t),
            "accuracy": round(float((t == p).mean()), 4),
            "recall": {
                c: round(float((p[t == i] == i).mean()), 4) for i, c in enumerate(LANE_FRONT_CLASSES) if (t == i).any()
            },
            "confusion": [
                [int(((t == i) & (p == j)).sum()) for j in range(len(LANE_FRONT_CLASSES))]
                for i in range(len(LANE_FRONT_CLASSES))
            ],
        }
    return figures


def write_card(path: Path, summary: dict) -> None:
    lines = [
        f"# Lane-front classifier: {path.with_suffix('.onnx').name}",
        "",
        "Ultralytics classification net from restock/vision/models/lane_front_cls.yaml "
        + (f"(fine-tuned from\n{summary['model']})" if summary.get("from") else "(no pretrained\nweights)")
        + f", {summary['imgsz']}x{summary['imgsz']} crops of each lane's front slot, exported to ONNX",
        "(dynamic batch); run by restock.vision.lane_front with ONNX Runtime.",
        *classes_section(LANE_FRONT_CLASSES),
        f"- crops per split and class: { {k: v for k, v in summary['crops'].items() if k != 'sources'} }",
        f"- cut from: {summary['sources']}",
        "",
        "## Figures (ONNX Runtime, restock.vision.lane_front)",
        "",
    ]
    for split, fig in summary["figures"].items():
        lines += [
            f"- {split}: {fig['crops']} crops, accuracy {fig['accuracy']}, recall per class {fig['recall']}",
            f"  - confusion (rows truth, columns predicted, {list(LANE_FRONT_CLASSES)}): {fig['confusion']}",
        ]
    lines += training_section(summary)
    path.write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="restock train-lane-front", description=__doc__.split("\n")[0])
    parser.add_argument("data", nargs="*", help="datasets made by restock make-dataset (with lanes/ sidecars)")
    parser.add_argument(
        "--crops", default=str(SOURCE_ROOT / "var" / "datasets" / "lane_fronts"), help="crop dataset folder"
    )
    add_training_args(
        parser, model=str(MODEL_YAML), model_help="Ultralytics classification YAML (or a .pt to go on)", epochs=20,
        imgsz=CROP_SIZE, batch=128, name="lane_front", export=DEFAULT_LANE_FRONT_MODEL,
    )  # fmt: skip
    parser.add_argument("--photos", action="append", default=[], help="a foreign set of real photos labelling empty "
                        "regions: its train split's crops added to training, its valid/test ones held out")  # fmt: skip
    parser.add_argument("--class-map", default=None, help="the photos' classes onto ours: 'empty_shelf=empty_front'")
    args = parser.parse_args(argv)
    summary = run_training("train-lane-front", train, args, argv)
    if summary is None:
        return 2
    print(json.dumps(summary["figures"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
