"""Detector pre- and post-processing without a model: letterbox, NMS, head decoding, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from restock.vision.classes import CLASSES, class_for_label, yolo_label_line
from restock.vision.detector import DetectorError, OnnxDetector, box_iou, check_frame, letterbox, nms, postprocess
from restock.vision.lane_front import LaneFrontClassifier


def _head(rows: list[tuple[float, float, float, float, int, float]], n_anchors: int = 50) -> np.ndarray:
    """A fake head output (1, 4 + C, N): the given boxes (cx, cy, w, h, class, score), the rest near zero."""
    out = np.full((1, 4 + len(CLASSES), n_anchors), 1e-4, np.float32)
    out[0, :4, :] = 5.0
    for i, (cx, cy, w, h, c, s) in enumerate(rows):
        out[0, :4, i] = (cx, cy, w, h)
        out[0, 4 + c, i] = s
    return out


def test_letterbox_640x480_into_320_pads_top_and_bottom() -> None:
    rgb = np.zeros((480, 640, 3), np.uint8)
    rgb[:, :, 0] = 255
    tensor, lb = letterbox(rgb, 320, 320)
    assert tensor.shape == (1, 3, 320, 320) and tensor.dtype == np.float32
    assert lb.scale == pytest.approx(0.5) and lb.pad_x == 0 and lb.pad_y == 40
    assert tensor[0, 0, 0, 0] == pytest.approx(114 / 255)  # padding
    assert tensor[0, 0, 160, 160] == pytest.approx(1.0)  # image
    back = lb.to_image(np.array([[0, 40, 320, 280]], np.float32), 640, 480)
    np.testing.assert_allclose(back, [[0, 0, 640, 480]])


def _bilinear_half_pixel(rgb: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Reference resize, as OpenCV's INTER_LINEAR (and Ultralytics' training) resize: pixel centres at
    +0.5, source coordinates clamped to the image, two taps a direction, no antialiasing."""
    h, w = rgb.shape[:2]

    def taps(n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        src = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
        lo = np.floor(src).astype(int)
        return lo, np.minimum(lo + 1, n_in - 1), src - lo

    y0, y1, wy = taps(out_h, h)
    x0, x1, wx = taps(out_w, w)
    img = rgb.astype(np.float64)
    rows = img[y0] * (1 - wy)[:, None, None] + img[y1] * wy[:, None, None]
    return rows[:, x0] * (1 - wx)[None, :, None] + rows[:, x1] * wx[None, :, None]


def test_letterbox_resizes_as_the_model_was_trained() -> None:
    rgb = np.random.default_rng(3).integers(0, 256, (30, 44, 3), np.uint8)
    tensor, lb = letterbox(rgb, 24, 32)  # scale 32/44: 22 rows, one row of padding above and below
    assert (lb.pad_x, lb.pad_y) == (0, 1)
    image = tensor[0, :, 1:23, :].transpose(1, 2, 0) * 255
    np.testing.assert_allclose(image, _bilinear_half_pixel(rgb, 22, 32), atol=1e-3)
    assert np.all(tensor[0, :, 0, :] == np.float32(114 / 255)) and np.all(tensor[0, :, 23, :] == np.float32(114 / 255))


def test_nms_keeps_best_of_overlapping_boxes_and_separate_ones() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], float)
    keep = nms(boxes, np.array([0.8, 0.9, 0.5]), 0.5)
    assert keep.tolist() == [1, 2]
    assert box_iou(boxes[:1], boxes[2:]).item() == 0.0


def test_postprocess_decodes_boxes_and_is_class_aware() -> None:
    out = _head([(100, 100, 20, 40, 0, 0.9), (101, 100, 20, 40, 0, 0.6), (100, 100, 20, 40, 5, 0.7)])
    dets = postprocess(out, conf_threshold=0.25, iou_threshold=0.5)
    assert len(dets) == 2  # the duplicate bottle is suppressed, the hand on top of it is kept
    assert sorted(dets.class_ids.tolist()) == [0, 5]
    bottle = dets.of_class(0)
    np.testing.assert_allclose(bottle.boxes[0], [90, 80, 110, 120])
    assert bottle.scores[0] == pytest.approx(0.9)


def test_postprocess_below_threshold_is_empty_and_bad_shape_is_an_error() -> None:
    assert len(postprocess(_head([(10, 10, 5, 5, 1, 0.1)]), conf_threshold=0.25)) == 0
    with pytest.raises(DetectorError, match="output shape"):
        postprocess(np.zeros((1, 5, 10), np.float32))


@pytest.mark.parametrize(
    "frame",
    [np.zeros((480, 640), np.uint8), np.zeros((480, 640, 4), np.uint8), np.zeros((480, 640, 3), np.float32), None],
)
def test_bad_frames_are_refused_with_the_reason(frame: object) -> None:
    with pytest.raises(DetectorError, match="RGB uint8"):
        check_frame(frame)  # type: ignore[arg-type]


@pytest.mark.parametrize("model_class", [OnnxDetector, LaneFrontClassifier])
def test_missing_and_unreadable_models_are_clear_errors(tmp_path, model_class) -> None:
    with pytest.raises(DetectorError, match="does not exist"):
        model_class(tmp_path / "nope.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model at all")
    with pytest.raises(DetectorError, match="cannot be loaded"):
        model_class(bad)


def test_labels_and_classes() -> None:
    kinds = {"cola_500": "bottle", "coffee_can": "can"}
    assert CLASSES[class_for_label("coffee_can", kinds)] == "can"
    assert CLASSES[class_for_label("foreign_item", kinds)] == "unfamiliar_item"
    with pytest.raises(ValueError, match="neither a SKU"):
        class_for_label("banana", kinds)
    assert yolo_label_line(0, (-10, 0, 64, 48), 640, 480) == "0 0.050000 0.050000 0.100000 0.100000"
    with pytest.raises(ValueError, match="no area"):
        yolo_label_line(0, (700, 0, 800, 48), 640, 480)
