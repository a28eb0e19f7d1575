"""Evaluation maths: AP at IoU 0.5, greedy matching, P/R/F1, YOLO label reading."""

from __future__ import annotations

import numpy as np
import pytest

from restock.vision.detector import Detections
from restock.vision.evaluate import average_precision, match_image, prf, read_labels


def test_average_precision_perfect_half_and_none() -> None:
    assert average_precision(np.array([0.9, 0.8]), np.array([True, True]), 2) == pytest.approx(1.0)
    # one of two found, ranked first: precision 1 up to recall 0.5
    assert average_precision(np.array([0.9]), np.array([True]), 2) == pytest.approx(51 / 101)
    assert average_precision(np.zeros(0), np.zeros(0, bool), 3) == 0.0
    assert np.isnan(average_precision(np.zeros(0), np.zeros(0, bool), 0))


def test_match_image_needs_class_and_iou_and_matches_once() -> None:
    dets = Detections(
        np.array([[0, 0, 10, 10], [1, 0, 11, 10], [0, 0, 10, 10], [50, 50, 60, 60]], np.float32),
        np.array([0.9, 0.8, 0.7, 0.6], np.float32),
        np.array([0, 0, 1, 0]),
    )
    matched = match_image(dets, np.array([0, 0]), np.array([[0, 0, 10, 10], [80, 80, 90, 90]], float))
    assert matched.tolist() == [True, False, False, False]


def test_prf_and_labels(tmp_path) -> None:
    assert prf(9, 1, 0) == {"tp": 9, "fp": 1, "fn": 0, "precision": 0.9, "recall": 1.0, "f1": pytest.approx(0.9474)}
    path = tmp_path / "a.txt"
    path.write_text("3 0.5 0.5 0.1 0.2\n")
    cls, boxes = read_labels(path, 640, 480)
    assert cls.tolist() == [3]
    np.testing.assert_allclose(boxes, [[288, 192, 352, 288]])
    assert read_labels(tmp_path / "missing.txt", 640, 480)[0].size == 0
