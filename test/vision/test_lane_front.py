"""The lane-front classifier: crops cut the same way everywhere, the model's contract, and how
its verdict turns into lane readings."""

from __future__ import annotations

import numpy as np
import pytest

from restock.paths import store_file
from restock.store.description import load_store
from restock.vision.classes import CLASS_ID
from restock.vision.detector import Detections
from restock.vision.lane_front import (
    CROP_SIZE,
    DEFAULT_LANE_FRONT_MODEL,
    LANE_FRONT_CLASSES,
    LaneFrontClassifier,
    crop_fronts,
    crop_index,
)
from restock.vision.lanes import lane_regions, read_lanes


def test_crops_sample_the_box_with_its_margin_and_stay_inside_the_image() -> None:
    rgb = np.zeros((100, 200, 3), np.uint8)
    rgb[20:80, 50:90] = (200, 10, 10)  # the "container" fills the box
    crops = crop_fronts(rgb, [(50, 20, 90, 80), (180, 90, 200, 100)], size=32)
    assert crops.shape == (2, 32, 32, 3) and crops.dtype == np.uint8
    centre = crops[0, 8:24, 10:22].reshape(-1, 3)
    assert (centre == (200, 10, 10)).all()
    # the margin shows some of what is beside the box
    assert (crops[0, :, 0] == 0).all() and (crops[0, :, -1] == 0).all()
    # a box at the corner is clipped to the image, not wrapped around
    index = crop_index([(180, 90, 200, 100)], 200, 100, 32)
    assert index.min() >= 0 and index.max() < 200 * 100
    assert np.array_equal(crop_fronts(rgb, [], index=index), crop_fronts(rgb, [(180, 90, 200, 100)], size=32))
    assert crop_fronts(rgb, [], size=32).shape == (0, 32, 32, 3)


def test_shipped_model_has_the_classes_and_takes_any_batch() -> None:
    if not DEFAULT_LANE_FRONT_MODEL.is_file():
        pytest.fail(f"the shipped model {DEFAULT_LANE_FRONT_MODEL} is missing (restock train-lane-front)")
    clf = LaneFrontClassifier()
    assert clf.names == LANE_FRONT_CLASSES and clf.size == CROP_SIZE
    for n in (0, 1, 23):
        probs = clf.classify(np.zeros((n, CROP_SIZE, CROP_SIZE, 3), np.uint8))
        assert probs.shape == (n, len(LANE_FRONT_CLASSES))
        assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)


def _probs(**by_class: float) -> np.ndarray:
    p = np.zeros(len(LANE_FRONT_CLASSES), np.float32)
    for name, value in by_class.items():
        p[LANE_FRONT_CLASSES.index(name)] = value
    return p


def test_the_classifier_decides_the_front_and_the_detector_adds_hands() -> None:
    store = load_store(store_file("corner_store.yaml"))
    regions = lane_regions(store, "cam_left")[:5]
    hand_box = regions[4].box
    dets = Detections(
        np.array([regions[0].box, hand_box], np.float32),
        np.array([0.9, 0.8], np.float32),
        np.array([CLASS_ID["empty_front"], CLASS_ID["hand"]], np.int64),
    )
    fronts = np.stack(
        [
            _probs(container=0.9, empty=0.1),  # the detector said empty; the classifier sees a container
            _probs(empty=0.97, container=0.03),
            _probs(unfamiliar=0.8, container=0.2),
            _probs(obstruction=0.9, container=0.1),
            _probs(empty=0.6, container=0.4),  # under a hand, not sure enough to call a gap
        ]
    )
    got = {r.lane_id: r for r in read_lanes(regions, dets, fronts=fronts)}
    r0, r1, r2, r3, r4 = (got[r.id] for r in regions)
    assert r0.evidence == "present" and not r0.unfamiliar
    assert r1.evidence == "empty"
    assert r2.unfamiliar and r2.evidence == "present" and r2.flag_box == regions[2].box
    assert r3.obstruction and r3.evidence == "occluded"
    assert r4.hand and r4.evidence == "present"  # the container probability still stands
    fronts[4] = _probs(empty=0.95, container=0.05)
    assert {r.lane_id: r for r in read_lanes(regions, dets, fronts=fronts)}[regions[4].id].evidence == "empty"


def test_real_photo_windows_sit_in_the_empty_regions_or_away_from_them() -> None:
    from restock.vision.train_lane_front import photo_windows

    regions = np.array([[100.0, 50.0, 400.0, 150.0], [20.0, 300.0, 80.0, 420.0]])
    empty, full = photo_windows(640, 640, regions, np.random.default_rng(1), per_region=3)
    assert len(empty) == 4  # three along the wide region, one in the narrow one
    for x1, y1, x2, y2 in empty:
        assert y2 - y1 > x2 - x1  # taller than wide, as a container's front slot
        inside = [(x1 >= r[0] - 1e-6 and x2 <= r[2] + 1e-6 and y1 >= r[1] and y2 <= r[3]) for r in regions]
        assert any(inside)
    assert len(full) >= len(empty)
    for x1, y1, x2, y2 in full:
        assert 0 <= x1 < x2 <= 640 and 0 <= y1 < y2 <= 640
        iw = (np.minimum(x2, regions[:, 2]) - np.maximum(x1, regions[:, 0])).clip(0)
        ih = (np.minimum(y2, regions[:, 3]) - np.maximum(y1, regions[:, 1])).clip(0)
        assert (iw * ih).sum() <= 0.05 * (x2 - x1) * (y2 - y1)


def test_photo_crops_go_to_train_and_the_held_out_splits_to_test(tmp_path) -> None:
    from PIL import Image

    from restock.vision.train_lane_front import add_photo_crops

    root = tmp_path / "rf"
    (root / "data.yaml").parent.mkdir(parents=True)
    (root / "data.yaml").write_text(
        "train: ../train/images\nval: ../valid/images\ntest: ../test/images\nnames: ['gap']\n"
    )
    for split in ("train", "valid", "test"):
        (root / split / "images").mkdir(parents=True)
        (root / split / "labels").mkdir(parents=True)
        Image.new("RGB", (320, 320), (90, 90, 90)).save(root / split / "images" / f"{split}.jpg")
        (root / split / "labels" / f"{split}.txt").write_text("0 0.5 0.3 0.6 0.2\n")
    counts = add_photo_crops(root, "gap=empty_front", tmp_path / "crops", log=lambda _: None)
    assert counts["train"]["empty"] == 3 and counts["test"]["empty"] == 6  # valid + test held out
    assert counts["train"]["container"] >= 3 and counts["test"]["container"] >= 6
    crops = sorted((tmp_path / "crops" / "train" / "empty").glob("*.png"))
    assert len(crops) == 3 and Image.open(crops[0]).size == (64, 64)
