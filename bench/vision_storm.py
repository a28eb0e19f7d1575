"""The false-empty storm guard on renders (it must stay quiet) and on real photos (it must speak).

    .venv/bin/python bench/vision_storm.py RENDERS PHOTOS [--class-map 'empty_shelf=empty_front']
        [--split valid,test] [--model restock/vision/models/shelf_detector.onnx] [--off-map-max 1]
        [--lane-front restock/vision/models/lane_front.onnx | none]

RENDERS: a `restock make-dataset` folder with lane sidecars (its test split); each render is
judged with the lane map of the pose it was rendered from. PHOTOS: a foreign YOLO dataset (real
shelf photos), each resized to the corner store's cam_left resolution and judged with cam_left's
lane map, as if that camera had been pointed at another shelf. Both run the camera pipeline's
own guard (restock.vision.storm) one frame at a time against a fresh reference (so the
statistics check is idle: each frame is a first frame) and print, per set: frames, empty-front
boxes per frame (score >= 0.3), those off the lane map per frame, lanes the models alone would
read empty per frame, and the share of frames the guard turns unknown. The lane-front classifier
decides each front as the camera node runs it (``--lane-front none``: the detector alone), so
"lanes read empty" is what a camera pointed at that shelf would read, before the guard.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from restock.paths import store_file  # noqa: E402
from restock.store.description import load_store  # noqa: E402
from restock.vision.dataset import camera_from_json  # noqa: E402
from restock.vision.detector import DEFAULT_MODEL, OnnxDetector  # noqa: E402
from restock.vision.evaluate import _find_store  # noqa: E402
from restock.vision.foreign import ForeignDataset  # noqa: E402
from restock.vision.lane_front import DEFAULT_LANE_FRONT_MODEL, LaneFrontClassifier, crop_fronts  # noqa: E402
from restock.vision.lanes import MatchConfig, lane_regions, read_lanes  # noqa: E402
from restock.vision.storm import GuardConfig, StormGuard, map_boxes, off_map_empties  # noqa: E402


def judge(frames, detector: OnnxDetector, cfg: GuardConfig, classifier: LaneFrontClassifier | None) -> dict:
    """frames: (rgb, store, regions, fronts) tuples; one fresh guard per frame."""
    n = boxes = off = empty_lanes = flagged = 0
    for rgb, store, regions, fronts in frames:
        dets = detector.detect(rgb)
        o, b = off_map_empties(dets, fronts, cfg)
        probs = None
        if classifier is not None and regions:
            probs = classifier.classify(crop_fronts(rgb, [r.box for r in regions], classifier.size))
        readings = read_lanes(regions, dets, rgb, store.skus, MatchConfig(), probs)
        verdict = StormGuard(regions, fronts, cfg).check(rgb, dets, readings, {})
        n, boxes, off = n + 1, boxes + b, off + o
        empty_lanes += sum(r.evidence == "empty" for r in readings)
        flagged += verdict.storm
    return {
        "frames": n,
        "empty_front_boxes_per_frame": round(boxes / max(n, 1), 2),
        "off_map_per_frame": round(off / max(n, 1), 2),
        "lanes_read_empty_per_frame": round(empty_lanes / max(n, 1), 2),
        "frames_turned_unknown": f"{flagged} ({flagged / max(n, 1):.1%})",
    }


def render_frames(root: Path, split: str):
    stores: dict = {}
    manifest = root / "manifest.json"
    if manifest.is_file() and json.loads(manifest.read_text()).get("store_file"):
        store = load_store(ROOT / json.loads(manifest.read_text())["store_file"])
        stores[store.name] = store
    for sidecar in sorted((root / "lanes" / split).glob("*.json")):
        info = json.loads(sidecar.read_text())
        store = stores.get(info["store"]) or stores.setdefault(info["store"], _find_store(info["store"]))
        rgb = np.asarray(Image.open(root / "images" / split / f"{sidecar.stem}.jpg").convert("RGB"))
        camera = camera_from_json(info["camera"])
        yield rgb, store, lane_regions(store, info["camera_id"], camera), map_boxes(store, camera)


def photo_frames(root: Path, class_map: str, splits: list[str]):
    store = load_store(store_file("corner_store.yaml"))
    regions = lane_regions(store, "cam_left")
    cam = store.camera("cam_left")
    fronts = map_boxes(store, cam.model)
    for path in ForeignDataset.open(root, class_map).images(splits):
        rgb = np.asarray(Image.open(path).convert("RGB").resize((cam.width, cam.height)))
        yield rgb, store, regions, fronts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("renders", type=Path)
    parser.add_argument("photos", type=Path)
    parser.add_argument("--class-map", default="empty_shelf=empty_front")
    parser.add_argument("--split", default="valid,test", help="the photos' splits")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--off-map-max", type=int, default=GuardConfig.off_map_max)
    parser.add_argument("--lane-front", default=str(DEFAULT_LANE_FRONT_MODEL), help="classifier ONNX, or 'none'")
    args = parser.parse_args()
    detector = OnnxDetector(args.model, conf_threshold=0.05, iou_threshold=0.5)
    classifier = None if args.lane_front == "none" else LaneFrontClassifier(args.lane_front)
    cfg = GuardConfig(off_map_max=args.off_map_max)
    print(f"command: .venv/bin/python bench/vision_storm.py {args.renders} {args.photos} "
          f"--class-map '{args.class_map}' --split {args.split} --model {args.model} --off-map-max {args.off_map_max} --lane-front {args.lane_front}")  # fmt: skip
    print(f"guard: {cfg}")
    print("renders:", json.dumps(judge(render_frames(args.renders, "test"), detector, cfg, classifier)))
    splits = [s for s in args.split.split(",") if s]
    print("photos: ", json.dumps(judge(photo_frames(args.photos, args.class_map, splits), detector, cfg, classifier)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
