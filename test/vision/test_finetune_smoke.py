"""Fine-tuning what ships on a foreign dataset: one epoch, plumbing only (not accuracy).

Runs only where the training extra (ultralytics, torch, onnx) is installed; elsewhere it is
skipped and says why. The foreign set is drawn here (Roboflow's layout, one class 'Empty').
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from restock.paths import SOURCE_ROOT


def _foreign(root: Path) -> Path:
    rng = np.random.default_rng(5)
    (root / "data.yaml").parent.mkdir(parents=True, exist_ok=True)
    (root / "data.yaml").write_text("train: ../train/images\nval: ../valid/images\nnc: 1\nnames: ['Empty']\n")
    for split, n in (("train", 4), ("valid", 1)):
        (root / split / "images").mkdir(parents=True)
        (root / split / "labels").mkdir(parents=True)
        for i in range(n):
            rgb = rng.integers(60, 200, (120, 160, 3), dtype=np.uint8)
            rgb[40:80, 60:100] = 15  # the gap its label marks
            Image.fromarray(rgb).save(root / split / "images" / f"p{i}.jpg")
            (root / split / "labels" / f"p{i}.txt").write_text("0 0.5 0.5 0.25 0.333\n")
    return root


def test_fine_tune_from_shipped_on_a_foreign_set(tmp_path: Path) -> None:
    pytest.importorskip("ultralytics", reason="training extra not installed (pip install 'restock[train]')")
    pytest.importorskip("onnx", reason="training extra not installed (pip install 'restock[train]')")
    from restock.vision.detector import OnnxDetector

    data, export = _foreign(tmp_path / "rf"), tmp_path / "model" / "ft.onnx"
    base = [sys.executable, "-m", "restock.cli", "train-detector", str(data)]
    opts = ["--from", "shipped", "--epochs", "1", "--imgsz", "64", "--batch", "4", "--workers", "0", "--device",
            "cpu", "--project", str(tmp_path / "runs"), "--export", str(export), "--config-dir", str(tmp_path / "yolo")]  # fmt: skip
    # Its own process, as users run it (torch and a MuJoCo GL context in one process do not mix).
    refused = subprocess.run(base + opts, cwd=SOURCE_ROOT, capture_output=True, text=True, timeout=600)
    assert refused.returncode == 2 and "give --class-map" in refused.stderr
    run = subprocess.run(
        [*base, *opts, "--class-map", "empty=empty_front"], cwd=SOURCE_ROOT, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "Empty -> empty_front" in run.stdout and "[train] epoch 1:" in run.stdout
    card = export.with_suffix(".md").read_text()
    assert "fine-tuned from" in card and "pseudo-labels from the shipped model" in card
    assert export.with_suffix(".pt").is_file()  # the next --from starts from it
    det = OnnxDetector(export, conf_threshold=0.001)
    assert det.names[3] == "empty_front" and (det.input_h, det.input_w) == (64, 64)
