"""Training smoke test: 1 epoch on a handful of drawn images, then ONNX export and ONNX Runtime inference.

Runs only where the training extra (ultralytics, torch, onnx) is installed; elsewhere it is
skipped and says why. It checks the plumbing (offline Ultralytics, dataset merge, export, the
runtime reading the exported model), not accuracy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from restock.vision.classes import CLASS_ID, yolo_label_line
from restock.vision.train import TrainError, merge_datasets


def _draw_dataset(root: Path, n: int, split: str | None) -> None:
    rng = np.random.default_rng(n)
    images = root / "images" / (split or "")
    labels = root / "labels" / (split or "")
    images.mkdir(parents=True, exist_ok=True)
    labels.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        img = Image.new("RGB", (160, 120), (90, 90, 100))
        draw = ImageDraw.Draw(img)
        lines = []
        for _ in range(3):
            x, y = int(rng.integers(5, 120)), int(rng.integers(5, 70))
            box = (x, y, x + 25, y + 40)
            draw.rectangle(box, fill=(200, 30, 30))
            lines.append(yolo_label_line(CLASS_ID["bottle"], box, 160, 120))
        img.save(images / f"im{i}.jpg")
        (labels / f"im{i}.txt").write_text("\n".join(lines) + "\n")


def test_merge_refuses_foreign_class_lists(tmp_path: Path) -> None:
    (tmp_path / "data.yaml").write_text("path: .\ntrain: images\nnames: {0: person, 1: car}\n")
    with pytest.raises(TrainError, match="not restock's"):
        merge_datasets([tmp_path / "data.yaml"], tmp_path / "merged.yaml")
    with pytest.raises(TrainError, match="neither"):
        merge_datasets([tmp_path / "nothing_here"], tmp_path / "merged.yaml")


def test_merge_sim_and_teleop_labels(tmp_path: Path) -> None:
    from restock.vision.dataset import write_data_yaml

    sim, teleop = tmp_path / "sim", tmp_path / "teleop"
    _draw_dataset(sim, 2, "train")
    _draw_dataset(sim, 2, "val")
    write_data_yaml(sim, ("train", "val"))
    _draw_dataset(teleop, 2, None)
    data = merge_datasets([sim, teleop], tmp_path / "merged.yaml")
    assert data["train"] == [str((sim / "images/train").resolve()), str((teleop / "images").resolve())]
    assert data["val"] == [str((sim / "images/val").resolve())]


def test_one_epoch_trains_exports_and_runs_in_onnxruntime(tmp_path: Path) -> None:
    pytest.importorskip("ultralytics", reason="training extra not installed (pip install 'restock[train]')")
    pytest.importorskip("onnx", reason="training extra not installed (pip install 'restock[train]')")
    import subprocess
    import sys

    from restock.paths import SOURCE_ROOT
    from restock.vision.dataset import write_data_yaml
    from restock.vision.detector import OnnxDetector

    data = tmp_path / "data"
    _draw_dataset(data, 6, "train")
    _draw_dataset(data, 2, "val")
    write_data_yaml(data, ("train", "val"))
    export = tmp_path / "model" / "tiny.onnx"
    # Its own process, as users run it (torch and a MuJoCo GL context in one process do not mix).
    run = subprocess.run(
        [sys.executable, "-m", "restock.cli", "train-detector", str(data), "--epochs", "1", "--imgsz", "64",
         "--batch", "4", "--workers", "0", "--device", "cpu", "--project", str(tmp_path / "runs"),
         "--export", str(export), "--config-dir", str(tmp_path / "yolo")],
        cwd=SOURCE_ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert export.is_file() and export.with_suffix(".md").is_file()
    assert "bottle" in export.with_suffix(".md").read_text()
    det = OnnxDetector(export, conf_threshold=0.001)
    assert (det.input_h, det.input_w) == (64, 64)
    dets = det.detect(np.zeros((120, 160, 3), np.uint8))
    assert dets.boxes.shape[1] == 4


def test_lane_front_crops_need_lane_sidecars(tmp_path: Path) -> None:
    from restock.vision.train_lane_front import build_crops

    _draw_dataset(tmp_path / "plain", 2, "train")
    with pytest.raises(TrainError, match="no lanes/<split>/"):
        build_crops([tmp_path / "plain"], tmp_path / "crops")


def test_lane_front_classifier_one_epoch_from_a_rendered_dataset(tmp_path: Path) -> None:
    pytest.importorskip("ultralytics", reason="training extra not installed (pip install 'restock[train]')")
    pytest.importorskip("onnx", reason="training extra not installed (pip install 'restock[train]')")
    import json
    import subprocess
    import sys

    from restock.paths import SOURCE_ROOT
    from restock.vision.lane_front import LANE_FRONT_CLASSES, LaneFrontClassifier

    data, export = tmp_path / "sim", tmp_path / "model" / "lane_front.onnx"
    # Their own processes, as users run them (torch and a MuJoCo GL context in one process do not mix).
    for args in (
        ["make-dataset", str(data), "--train-seeds", "1", "--val-seeds", "1", "--test-seeds", "0",
         "--images-per-seed", "1", "--p-unfamiliar", "1.0", "--p-reshape", "1.0"],
        ["train-lane-front", str(data), "--crops", str(tmp_path / "crops"), "--epochs", "1", "--batch", "16",
         "--workers", "0", "--device", "cpu", "--project", str(tmp_path / "runs"), "--export", str(export),
         "--config-dir", str(tmp_path / "yolo")],
    ):  # fmt: skip
        run = subprocess.run(
            [sys.executable, "-m", "restock.cli", *args], cwd=SOURCE_ROOT, capture_output=True, text=True, timeout=600
        )
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    counts = json.loads((tmp_path / "crops" / "counts.json").read_text())
    assert counts["train"]["container"] > 0 and counts["train"]["unfamiliar"] > 0
    card = export.with_suffix(".md").read_text()
    assert "unfamiliar" in card and "restock train-lane-front" in card
    clf = LaneFrontClassifier(export)
    assert clf.names == LANE_FRONT_CLASSES
    assert clf.classify(np.zeros((3, clf.size, clf.size, 3), np.uint8)).shape == (3, len(LANE_FRONT_CLASSES))
