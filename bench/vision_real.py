"""Detectors on real shelf photos under cameras and lights they were never trained on.

    .venv/bin/python bench/vision_real.py PHOTOS [--class-map 'empty_shelf=empty_front']
        [--split valid,test] [--model NAME=PATH ...] [--shift none,warm_light,...] [--conf 0.3]

PHOTOS: a foreign YOLO dataset (restock.vision.foreign). Every model is run as
`restock eval-detector PHOTOS --class-map ... --split ... --lane-front none --conf ...` does, on
the photos as they are and under each imaging shift of restock.vision.imaging (one change at a
fixed strength: warm or cool light, dim or bright exposure, sensor noise, JPEG, blur, a glass
door's glare). It prints, per model and shift, false ``empty_front`` boxes per photo (score >=
--conf), empty AP50 and the regions found; then per model the worst shift and the mean over
shifts. A model that learned one store's look loses its figures here first: the figure that
predicts a held-out store is the worst shift, not the photos as they are. The load average is
printed beside the figures (a shared machine); the figures themselves do not depend on it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from restock.vision.detector import cameras_model  # noqa: E402
from restock.vision.evaluate import evaluate  # noqa: E402
from restock.vision.imaging import SHIFTS, apply_shift  # noqa: E402


def figures(photos: Path, model: Path, shift: str, args: argparse.Namespace) -> dict:
    spec = SHIFTS[shift]

    def transform(rgb: np.ndarray, k: int) -> np.ndarray:
        return apply_shift(rgb, spec, np.random.default_rng([k, 7]))  # the same noise for every model

    r = evaluate(photos, model, split=args.split, conf=args.conf, log=lambda *_: None, class_map=args.class_map,
                 transform=None if shift == "none" else transform)  # fmt: skip
    box = r["empty_front_boxes"]
    return {
        "false_per_photo": r["false_empty_front_per_image"],
        "empty_ap50": r["map50_per_class"]["empty_front"],
        "found": box["tp"],
        "regions": box["tp"] + box["fn"],
        "photos": r["images"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("photos", type=Path)
    parser.add_argument("--class-map", default="empty_shelf=empty_front")
    parser.add_argument("--split", default="valid,test")
    parser.add_argument("--model", action="append", default=[], help="NAME=PATH (repeatable; default: the cameras')")
    parser.add_argument("--shift", default=",".join(SHIFTS), help=f"comma-separated, of {', '.join(SHIFTS)}")
    parser.add_argument("--conf", type=float, default=0.3)
    args = parser.parse_args()
    models = [m.split("=", 1) if "=" in m else (Path(m).stem, m) for m in args.model] or [
        ("cameras", str(cameras_model()))
    ]
    shifts = [s for s in args.shift.split(",") if s]
    unknown = [s for s in shifts if s not in SHIFTS]
    if unknown:
        parser.error(f"unknown shift(s) {unknown}; known: {list(SHIFTS)}")
    model_args = " ".join(f"--model {n}={p}" for n, p in models)
    print(f"command: .venv/bin/python bench/vision_real.py {args.photos} --class-map '{args.class_map}' "
          f"--split {args.split} {model_args} --shift {','.join(shifts)} --conf {args.conf}")  # fmt: skip
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    print(f"{'model':<14} {'shift':<12} {'false/photo':>11} {'empty AP50':>10} {'found':>9}")
    summary = {}
    for name, path in models:
        rows = {}
        for shift in shifts:
            f = rows[shift] = figures(args.photos, Path(path), shift, args)
            print(f"{name:<14} {shift:<12} {f['false_per_photo']:>11.3f} {f['empty_ap50']:>10.3f} "
                  f"{f['found']:>4}/{f['regions']:<4}", flush=True)  # fmt: skip
        worst_false = max(rows, key=lambda s: rows[s]["false_per_photo"])
        worst_ap = min(rows, key=lambda s: rows[s]["empty_ap50"])
        summary[name] = {
            "worst_false_per_photo": [worst_false, rows[worst_false]["false_per_photo"]],
            "worst_empty_ap50": [worst_ap, rows[worst_ap]["empty_ap50"]],
            "mean_false_per_photo": round(float(np.mean([r["false_per_photo"] for r in rows.values()])), 3),
            "mean_empty_ap50": round(float(np.mean([r["empty_ap50"] for r in rows.values()])), 3),
        }
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    for name, s in summary.items():
        print(f"summary {name}: {json.dumps(s)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
