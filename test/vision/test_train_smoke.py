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
