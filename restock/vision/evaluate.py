"""`restock eval-detector DATASET`: mAP50 per class and per-lane empty precision/recall/F1.

Runs the shipped (or ``--model``) ONNX model through ONNX Runtime, exactly as the camera node
does: no torch. On any YOLO dataset it reports mAP50 per class (COCO-style 101-point
interpolated AP at IoU 0.5). Where the dataset has lane sidecars (``lanes/<split>/*.json`` from
``restock make-dataset``: the store, the camera pose rendered and each seen lane's truth), it
also runs the lane mapping of :mod:`restock.vision.lanes` on every image and reports, per lane
front in view (fronts more than half hidden by a hand or an obstruction are left out: the node
calls them unknown), empty precision/recall/F1 and unfamiliar-item recall from a *single frame*
(the node's temporal filter only adds to this). Without sidecars, per-lane empty figures are
computed on ``empty_front`` boxes (IoU 0.5), beside the false ``empty_front`` boxes per image.
A foreign dataset (another's class names, e.g. a public set of shelf photos) is read through
``--class-map 'empty=empty_front'`` (restock.vision.foreign); its unlabelled classes are left out.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from restock.paths import store_file
from restock.store.description import Store, load_store
from restock.vision.appearance import SkuLooks
from restock.vision.classes import CLASSES, EMPTY_FRONT
from restock.vision.detector import Detections, DetectorError, OnnxDetector, box_iou, cameras_model
from restock.vision.foreign import ClassMap, ForeignDataset, read_label_file, to_pixels
from restock.vision.lane_front import DEFAULT_LANE_FRONT_MODEL, LaneFrontClassifier, crop_fronts
from restock.vision.lanes import LaneRegion, MatchConfig, judging_cameras, lane_regions, read_lanes

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def read_labels(
    path: Path, width: int, height: int, class_map: ClassMap | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Class ids (N,) and pixel boxes (N, 4) of a YOLO label file (missing file: no objects);
    ``class_map``: a foreign dataset's ids onto ours (unmapped classes dropped)."""
    cls, boxes = read_label_file(path, len(class_map.foreign_names) if class_map else len(CLASSES), class_map)
    return cls, to_pixels(boxes, width, height)


def average_precision(scores: np.ndarray, matched: np.ndarray, n_truth: int) -> float:
    """101-point interpolated AP from detections' scores and whether each matched a truth box."""
    if n_truth == 0:
        return float("nan")
    if len(scores) == 0:
        return 0.0
    order = np.argsort(-scores, kind="stable")
    tp = np.cumsum(matched[order])
    fp = np.cumsum(~matched[order])
    recall = tp / n_truth
    precision = tp / np.maximum(tp + fp, 1e-9)
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    points = np.linspace(0, 1, 101)
    idx = np.searchsorted(recall, points, side="left")
    return float(np.mean([envelope[i] if i < len(envelope) else 0.0 for i in idx]))


def match_image(dets: Detections, gt_cls: np.ndarray, gt_boxes: np.ndarray, iou: float = 0.5) -> np.ndarray:
    """Per detection: did it match a not-yet-matched truth box of its class (greedy by score)."""
    matched = np.zeros(len(dets), bool)
    taken = np.zeros(len(gt_cls), bool)
    ious = box_iou(dets.boxes, gt_boxes) if len(dets) and len(gt_cls) else np.zeros((len(dets), len(gt_cls)))
    for i in np.argsort(-dets.scores, kind="stable"):
        same = (gt_cls == dets.class_ids[i]) & ~taken
        if not same.any():
            continue
        cand = np.where(same, ious[i], -1.0)
        j = int(cand.argmax())
        if cand[j] >= iou:
            matched[i], taken[j] = True, True
    return matched


def prf(tp: int, fp: int, fn: int) -> dict:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"tp": tp, "fp": fp, "fn": fn, "precision": round(p, 4), "recall": round(r, 4), "f1": round(f1, 4)}


def _images(root: Path, split: str) -> tuple[Path, list[Path]]:
    """The image folder of a split and its images (a dataset folder, a data.yaml, or images/)."""
    data_yaml = root if root.suffix in (".yaml", ".yml") else root / "data.yaml"
    folder = None
    if data_yaml.is_file():
        data = yaml.safe_load(data_yaml.read_text()) or {}
        base = Path(data.get("path") or data_yaml.parent)
        if not base.is_absolute():
            base = data_yaml.parent / base
        entry = data.get(split)
        if isinstance(entry, list):
            entry = entry[0] if entry else None
        if entry:
            folder = Path(entry) if Path(entry).is_absolute() else base / entry
    if folder is None:
        for cand in (root / "images" / split, root / "images"):
            if cand.is_dir():
                folder = cand
                break
    if folder is None or not folder.is_dir():
        raise ValueError(f"{root}: no image folder for split {split!r}")
    images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise ValueError(f"{folder}: no images")
    return folder, images


def _sibling(image: Path, kind: str, suffix: str) -> Path:
    parts = list(image.parts)
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == "images":
            parts[i] = kind
            return Path(*parts).with_suffix(suffix)
    return image.with_suffix(suffix)


@dataclass
class _Tally:
    """What evaluate() counts over the images."""

    scores: dict[int, list] = field(default_factory=lambda: {c: [] for c in range(len(CLASSES))})
    hits: dict[int, list] = field(default_factory=lambda: {c: [] for c in range(len(CLASSES))})
    n_truth: dict[int, int] = field(default_factory=lambda: dict.fromkeys(range(len(CLASSES)), 0))
    empty: dict[str, int] = field(default_factory=lambda: {"tp": 0, "fp": 0, "fn": 0})
    empty_box: dict[str, int] = field(default_factory=lambda: {"tp": 0, "fp": 0, "fn": 0})
    unfamiliar: dict[str, int] = field(default_factory=lambda: {"tp": 0, "fn": 0, "fp": 0})
    per_store: dict[str, dict] = field(default_factory=dict)
    lanes_judged: int = 0
    lanes_hidden: int = 0
    lanes_unread: int = 0
    lanes_clipped: int = 0
    lanes_other_camera: int = 0


def evaluate(
    dataset: Path,
    model: Path,
    split: str = "test",
    conf: float = 0.3,
    match: MatchConfig | None = None,
    log=print,
    lane_front: Path | None = None,
    store_files: list[Path] | None = None,
    store_looks: bool = True,
    class_map: str | None = None,
    transform: Callable[[np.ndarray, int], np.ndarray] | None = None,
    box_iou: float = 0.5,
) -> dict:
    """``store_files``: store descriptions besides config/stores (a dataset of a store of its own);
    ``store_looks``: check the models' unfamiliar items against the store's SKU looks, as the node does;
    ``split``: one split or several, comma-separated (``valid,test``); ``class_map``: a foreign
    dataset's names onto ours (restock.vision.foreign), its unlabelled classes left out;
    ``transform(rgb, k)``: each image (the k-th) as another camera would give it (restock.vision.imaging);
    ``box_iou``: the IoU a box needs with a truth box to match it (0.5: the AP50 and box figures; lower
    shows how much a set whose boxes cover whole empty regions misses by box convention alone)."""
    match = match or MatchConfig()
    detector = OnnxDetector(model, conf_threshold=0.001, iou_threshold=0.5)
    classifier = LaneFrontClassifier(lane_front) if lane_front is not None else None
    splits = [s.strip() for s in split.split(",") if s.strip()]
    cmap = None
    if class_map:
        foreign = ForeignDataset.open(dataset, class_map)
        cmap, images = foreign.class_map, foreign.images(splits)
        log(f"[eval-detector] {cmap.describe()}")
    else:
        images = [p for s in splits for p in _images(dataset, s)[1]]
    tally = _Tally()
    stores: dict[str, Store] = {}
    for extra in store_files or []:
        loaded = load_store(extra)
        stores[loaded.name] = loaded
    looks: dict[str, SkuLooks] = {}
    judged: dict[str, dict[str, str]] = {}
    t0 = time.monotonic()
    for k, path in enumerate(images):
        rgb = np.asarray(Image.open(path).convert("RGB"))
        if transform is not None:
            rgb = transform(rgb, k)
        h, w = rgb.shape[:2]
        all_dets = detector.detect(rgb)
        gt_cls, gt_boxes = read_labels(_sibling(path, "labels", ".txt"), w, h, cmap)
        _score_boxes(tally, all_dets, gt_cls, gt_boxes, conf, box_iou)
        sidecar = _sibling(path, "lanes", ".json")
        if not sidecar.is_file():
            continue
        info = json.loads(sidecar.read_text())
        store = stores.get(info["store"])
        if store is None:
            store = stores[info["store"]] = _find_store(info["store"])
        regions = _lane_regions(store, info)
        fronts = None
        if classifier is not None and regions:
            fronts = classifier.classify(crop_fronts(rgb, [r.box for r in regions], classifier.size))
        keep = all_dets.scores >= min(conf, match.slot_score)
        dets = Detections(all_dets.boxes[keep], all_dets.scores[keep], all_dets.class_ids[keep], all_dets.names)
        store_look = looks.setdefault(store.name, SkuLooks(store)) if store_looks else None
        readings = {r.lane_id: r for r in read_lanes(regions, dets, rgb, store.skus, match, fronts, store_look)}
        judges = judged.setdefault(store.name, judging_cameras(store))
        _judge_lanes(tally, info, readings, {lane for lane, cam in judges.items() if cam == info["camera_id"]})
        if (k + 1) % 50 == 0:
            log(f"[eval-detector] {k + 1}/{len(images)} images")
    result = {
        "dataset": str(dataset),
        "split": split,
        "model": str(model),
        "lane_front_model": str(lane_front) if lane_front is not None else None,
        "store_looks": store_looks,
        "images": len(images),
        "conf_threshold": conf,
        "box_iou": box_iou,
        "match": match.__dict__,
        "class_map": cmap.describe() if cmap else None,
        **_box_figures(tally, len(images), cmap.labelled if cmap else None),
        "seconds": round(time.monotonic() - t0, 1),
    }
    if tally.lanes_judged:
        result["lanes"] = _lane_figures(tally)
    return result


def _score_boxes(
    tally: _Tally, all_dets: Detections, gt_cls: np.ndarray, gt_boxes: np.ndarray, conf: float, iou: float = 0.5
) -> None:
    """One image's detections against its truth boxes: per class for AP, and empty fronts as boxes."""
    matched = match_image(all_dets, gt_cls, gt_boxes, iou)
    for c in range(len(CLASSES)):
        sel = all_dets.class_ids == c
        tally.scores[c].append(all_dets.scores[sel])
        tally.hits[c].append(matched[sel])
        tally.n_truth[c] += int((gt_cls == c).sum())
    # empty fronts as boxes (any dataset)
    e_det = all_dets.of_class(EMPTY_FRONT)
    e_det = type(e_det)(e_det.boxes[e_det.scores >= conf], e_det.scores[e_det.scores >= conf],
                        e_det.class_ids[e_det.scores >= conf])  # fmt: skip
    e_match = match_image(e_det, gt_cls, gt_boxes, iou)
    tally.empty_box["tp"] += int(e_match.sum())
    tally.empty_box["fp"] += int((~e_match).sum())
    tally.empty_box["fn"] += int((gt_cls == EMPTY_FRONT).sum()) - int(e_match.sum())


def _lane_regions(store: Store, info: dict) -> list[LaneRegion]:
    """The regions of the lanes this image's camera judges, as the pose it was rendered from sees them."""
    from restock.vision.dataset import camera_from_json

    regions = lane_regions(store, info["camera_id"], camera_from_json(info["camera"]))
    return [r for r in regions if r.id in info["lanes"]]


def _judge_lanes(tally: _Tally, info: dict, readings: dict, judged_here: set[str]) -> None:
    """One image's lane readings against the sidecar's truth (hidden fronts, and lanes another
    camera judges, are left out)."""
    st = tally.per_store.setdefault(info["store"], {"tp": 0, "fp": 0, "fn": 0})
    for lane_id, truth in info["lanes"].items():
        if lane_id not in judged_here:
            tally.lanes_other_camera += 1
            continue
        if truth["hidden"] >= 0.5:
            tally.lanes_hidden += 1
            continue
        r = readings.get(lane_id)
        if r is None:
            tally.lanes_clipped += 1  # cut by the image border: another camera's lane
            continue
        tally.lanes_judged += 1
        if r.evidence in ("none", "occluded"):
            tally.lanes_unread += 1
        said_empty, is_empty = r.evidence == "empty", truth["state"] == "empty"
        for counter in (tally.empty, st):
            counter["tp"] += said_empty and is_empty
            counter["fp"] += said_empty and not is_empty
            counter["fn"] += is_empty and not said_empty
        if truth["state"] == "unfamiliar":
            tally.unfamiliar["tp" if r.unfamiliar else "fn"] += 1
        elif r.unfamiliar:
            tally.unfamiliar["fp"] += 1


def _box_figures(tally: _Tally, n_images: int, labelled: frozenset[int] | None = None) -> dict:
    """mAP50 (per class and mean), truth boxes per class and the empty-front box figures: the
    false ``empty_front`` boxes per image are what would make a camera call lanes empty.
    ``labelled``: the classes the dataset labels (None: all); the others are left out."""
    ap50 = {}
    for c, name in enumerate(CLASSES):
        s = np.concatenate(tally.scores[c]) if tally.scores[c] else np.zeros(0)
        m = np.concatenate(tally.hits[c]).astype(bool) if tally.hits[c] else np.zeros(0, bool)
        ap = average_precision(s, m, tally.n_truth[c])
        ap50[name] = None if np.isnan(ap) else round(ap, 4)
        if labelled is not None and c not in labelled:
            ap50[name] = None
    present = [v for v in ap50.values() if v is not None]
    empty_labelled = labelled is None or EMPTY_FRONT in labelled
    return {
        "map50": round(float(np.mean(present)), 4) if present else None,
        "map50_per_class": ap50,
        "truth_boxes_per_class": {CLASSES[c]: n for c, n in tally.n_truth.items()},
        "empty_front_boxes": prf(**tally.empty_box),
        "false_empty_front_per_image": round(tally.empty_box["fp"] / n_images, 3)
        if empty_labelled and n_images
        else None,
    }


def _lane_figures(tally: _Tally) -> dict:
    return {
        "judged": tally.lanes_judged,
        "left_out_hidden": tally.lanes_hidden,
        "left_out_at_image_border": tally.lanes_clipped,
        "left_out_judged_by_another_camera": tally.lanes_other_camera,
        "no_reading": tally.lanes_unread,
        "empty": prf(**tally.empty),
        "empty_per_store": {s: prf(**v) for s, v in tally.per_store.items()},
        "unfamiliar": {
            **prf(**tally.unfamiliar),
        },
    }


def _find_store(name: str) -> Store:
    """The store description whose ``name`` is this (config/stores/*.yaml)."""
    for path in sorted(store_file("corner_store.yaml").parent.glob("*.yaml")):
        try:
            store = load_store(path)
        except ValueError:
            continue
        if store.name == name:
            return store
    raise ValueError(f"no store description named {name!r} in config/stores")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="restock eval-detector", description=__doc__.split("\n")[0])
    parser.add_argument("dataset", type=Path, help="YOLO dataset folder or data.yaml")
    parser.add_argument(
        "--model", type=Path, default=cameras_model(), help="ONNX model (default: the one the cameras run here)"
    )
    parser.add_argument("--split", default="test", help="split(s), comma-separated: test, val, valid,test ...")
    parser.add_argument(
        "--class-map",
        default=None,
        help="a foreign dataset's classes onto ours, e.g. 'empty=empty_front,product=bottle' (unmapped ones dropped)",
    )
    parser.add_argument(
        "--lane-front",
        default=str(DEFAULT_LANE_FRONT_MODEL),
        help="lane-front classifier ONNX (default: the shipped one); 'none': the detector alone",
    )
    parser.add_argument("--conf", type=float, default=0.3, help="score threshold of the empty_front box figures")
    parser.add_argument("--slot-score", type=float, default=MatchConfig.slot_score, help="lane front score (node's)")
    parser.add_argument("--flag-score", type=float, default=MatchConfig.flag_score, help="hand/flag score (node's)")
    parser.add_argument("--box-iou", type=float, default=0.5, help="IoU a box needs with a truth box (0.5: AP50)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument(
        "--store", type=Path, action="append", default=[], help="a store description besides config/stores (repeatable)"
    )
    parser.add_argument(
        "--no-store-looks", action="store_true", help="the models alone: no check of unfamiliar items against SKU looks"
    )
    args = parser.parse_args(argv)
    try:
        match = MatchConfig(slot_score=args.slot_score, flag_score=args.flag_score)
        lane_front = None if args.lane_front == "none" else Path(args.lane_front)
        result = evaluate(
            args.dataset,
            args.model,
            args.split,
            args.conf,
            match,
            lane_front=lane_front,
            store_files=args.store,
            store_looks=not args.no_store_looks,
            class_map=args.class_map,
            box_iou=args.box_iou,
        )
    except (DetectorError, ValueError, OSError) as err:
        print(f"restock eval-detector: {err}", file=sys.stderr)
        return 2
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
