"""The shipped detector's PyTorch weights, rebuilt from its ONNX file, compute what the ONNX does.

Runs only where the training extra (ultralytics, torch, onnx) is installed; elsewhere it is
skipped and says why.
"""

from __future__ import annotations

import numpy as np
import pytest

from restock.vision.detector import DEFAULT_MODEL

pytest.importorskip("ultralytics", reason="training extra not installed (pip install 'restock[train]')")
pytest.importorskip("onnx", reason="training extra not installed (pip install 'restock[train]')")


def _frames() -> np.ndarray:
    """Two shelf-like frames drawn here: grey case, coloured upright boxes, a dark gap."""
    from restock.vision.rebuild import tensors

    rng = np.random.default_rng(3)
    out = []
    for _ in range(2):
        rgb = np.full((480, 640, 3), 90, np.uint8)
        for x in range(40, 600, 60):
            colour = rng.integers(30, 230, 3)
            rgb[200:330, x : x + 40] = colour if rng.random() > 0.3 else 20
        out.append(rgb)
    return tensors(out, 416)


def test_fused_rebuild_matches_onnx_and_unfusing_keeps_it(tmp_path) -> None:
    import torch

    from restock.vision.rebuild import RebuildError, fused_model, max_abs_diff, save_checkpoint, unfused_model
    from restock.vision.train import offline_ultralytics

    offline_ultralytics(tmp_path / "yolo")
    batch = _frames()
    fused = fused_model(DEFAULT_MODEL)
    diff = max_abs_diff(fused, DEFAULT_MODEL, batch)
    assert diff["scores"] < 1e-4 and diff["boxes_px"] < 0.01, diff
    model = unfused_model(fused, batch)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()) > 50  # trainable as Ultralytics'
    assert max_abs_diff(model, DEFAULT_MODEL, batch)["scores"] < 1e-4
    path = save_checkpoint(model, tmp_path / "d.pt", "shelf_detector.onnx")
    from ultralytics import YOLO

    assert YOLO(str(path)).names[3] == "empty_front"
    with pytest.raises(RebuildError, match=r"model\.0\.conv\.weight is"):
        fused_model(DEFAULT_MODEL, yaml="yolo11s.yaml")  # another architecture: wrong shapes, named


def test_the_shipped_checkpoint_is_the_shipped_onnx(tmp_path) -> None:
    from restock.vision.rebuild import DEFAULT_CHECKPOINT, max_abs_diff
    from restock.vision.train import offline_ultralytics

    offline_ultralytics(tmp_path / "yolo")

    assert DEFAULT_CHECKPOINT.is_file(), "python -m restock.vision.rebuild writes it"
    import torch

    model = torch.load(DEFAULT_CHECKPOINT, map_location="cpu", weights_only=False)["model"].float().eval()
    # Half-precision weights: scores within 0.01 of the ONNX model's.
    assert max_abs_diff(model, DEFAULT_MODEL, _frames())["scores"] < 0.01


def test_the_lane_front_classifier_rebuilds_and_its_shipped_checkpoint_matches(tmp_path) -> None:
    import torch

    from restock.vision.train import offline_ultralytics

    offline_ultralytics(tmp_path / "yolo")

    from restock.vision.lane_front import DEFAULT_LANE_FRONT_MODEL
    from restock.vision.rebuild import LANE_FRONT_YAML, crop_tensors, fused_model, max_abs_diff, unfused_model

    rng = np.random.default_rng(4)
    crops = crop_tensors([rng.integers(0, 255, (64, 64, 3), dtype=np.uint8) for _ in range(6)], 64)
    names = ("container", "empty", "obstruction", "unfamiliar")
    fused = fused_model(DEFAULT_LANE_FRONT_MODEL, yaml=str(LANE_FRONT_YAML), names=names)
    assert max_abs_diff(fused, DEFAULT_LANE_FRONT_MODEL, crops)["scores"] < 1e-5
    unfused = unfused_model(fused, crops, yaml=str(LANE_FRONT_YAML))
    assert max_abs_diff(unfused, DEFAULT_LANE_FRONT_MODEL, crops)["scores"] < 1e-5
    shipped = DEFAULT_LANE_FRONT_MODEL.with_suffix(".pt")
    model = torch.load(shipped, map_location="cpu", weights_only=False)["model"].float().eval()
    assert max_abs_diff(model, DEFAULT_LANE_FRONT_MODEL, crops)["scores"] < 0.01
