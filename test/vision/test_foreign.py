"""Foreign datasets: class maps, both folder layouts, strict label files, eval figures by hand.

Tiny synthetic datasets drawn in tmp_path (never real photos).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from restock.vision.classes import CLASS_ID, CLASSES, EMPTY_FRONT
from restock.vision.detector import Detections
from restock.vision.evaluate import _box_figures, _score_boxes, _Tally, read_labels
from restock.vision.foreign import (
    ForeignDataError,
    ForeignDataset,
    dataset_names,
    parse_class_map,
    pseudo_labels,
    read_label_file,
    source_photo,
    split_images,
    write_training_copy,
)

BOTTLE = CLASS_ID["bottle"]


def _roboflow(root: Path, names: list[str], labels: dict[str, dict[str, str]]) -> Path:
    """Roboflow's export layout: <split>/images + <split>/labels, data.yaml with ../<split>/images."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "data.yaml").write_text(
        f"train: ../train/images\nval: ../valid/images\ntest: ../test/images\nnc: {len(names)}\nnames: {names}\n"
    )
    for split, files in labels.items():
        (root / split / "images").mkdir(parents=True)
        (root / split / "labels").mkdir(parents=True)
        for stem, text in files.items():
            Image.new("RGB", (100, 50), (120, 120, 120)).save(root / split / "images" / f"{stem}.jpg")
            (root / split / "labels" / f"{stem}.txt").write_text(text)
    return root


def test_class_map_maps_matches_case_and_says_what_it_dropped() -> None:
    cmap = parse_class_map("Empty=empty_front, product=bottle", ["empty", "product", "price_tag"])
    assert cmap.to_ours == {0: EMPTY_FRONT, 1: BOTTLE}
    assert cmap.dropped == ("price_tag",)
    assert cmap.labelled == frozenset({EMPTY_FRONT, BOTTLE})
    text = cmap.describe()
    assert "empty -> empty_front" in text and "price_tag" in text and "'hand'" in text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("empty=gap", "'gap' is not one of restock's classes"),
        ("void=empty_front", "'void' is not the dataset's classes"),
        ("empty", "is not FOREIGN=OURS"),
        ("empty=empty_front,EMPTY=hand", "mapped twice"),
        (" , ", "maps nothing"),
    ],
)
def test_class_map_errors_name_the_pair(text: str, message: str) -> None:
    with pytest.raises(ForeignDataError, match=message):
        parse_class_map(text, ["empty", "product"])


def test_class_map_refuses_a_name_two_classes_share_but_for_case() -> None:
    with pytest.raises(ForeignDataError, match="matches several"):
        parse_class_map("empty=empty_front", ["Empty", "EMPTY"])


def test_roboflow_layout_is_read_with_valid_for_val_and_labels_mapped(tmp_path: Path) -> None:
    root = _roboflow(
        tmp_path / "rf",
        ["empty_shelf", "product"],
        {
            "train": {"a_jpg.rf.0123456789abcdef0123456789abcdef": "0 0.5 0.5 0.2 0.4\n1 0.1 0.1 0.1 0.1\n"},
            "valid": {"b": "0 0.25 0.5 0.5 1.0\n"},
        },
    )
    assert dataset_names(root) == ("empty_shelf", "product")
    ds = ForeignDataset.open(root, "empty_shelf=empty_front")
    assert [p.name for p in ds.images(["val"])] == ["b.jpg"]
    (image,) = split_images(root, "train")
    ids, boxes = ds.labels(image)
    assert ids.tolist() == [EMPTY_FRONT]  # product dropped
    np.testing.assert_allclose(boxes, [[0.5, 0.5, 0.2, 0.4]])
    assert source_photo(image) == "a_jpg"
    with pytest.raises(ForeignDataError, match="no image folder for split 'test'"):
        ds.images(["test"])


def test_a_foreign_dataset_without_a_class_map_is_refused_by_name(tmp_path: Path) -> None:
    root = _roboflow(tmp_path / "rf", ["void"], {"train": {"a": "0 0.5 0.5 0.2 0.2\n"}})
    with pytest.raises(ForeignDataError, match="give --class-map"):
        ForeignDataset.open(root, None)


def test_ultralytics_layout_with_dict_names(tmp_path: Path) -> None:
    (tmp_path / "images" / "val").mkdir(parents=True)
    Image.new("RGB", (20, 20)).save(tmp_path / "images" / "val" / "x.png")
    (tmp_path / "data.yaml").write_text("path: .\nval: images/val\nnames: {0: gap, 1: item}\n")
    assert dataset_names(tmp_path) == ("gap", "item")
    assert [p.name for p in ForeignDataset.open(tmp_path, "gap=empty_front").images(["val"])] == ["x.png"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("0 0.5 0.5 0.2", "neither 'class cx cy w h' nor a polygon"),
        ("0 0.5 0.5 0.2 0.2 0.3", "neither"),
        ("x 0.5 0.5 0.2 0.2", "not a number"),
        ("3 0.5 0.5 0.2 0.2", r"class 3 is not in 0\.\.1"),
        ("0 0.5 0.5 1.7 0.2", "not normalised"),
        ("0 0.5 0.5 0 0.2", "has no area"),
    ],
)
def test_malformed_label_lines_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "img.txt"
    path.write_text(f"0 0.5 0.5 0.2 0.2\n\n{line}\n")
    with pytest.raises(ForeignDataError, match=rf"img\.txt:3: .*{message}"):
        read_label_file(path, 2)


def test_a_polygon_label_becomes_its_bounding_box(tmp_path: Path) -> None:
    path = tmp_path / "p.txt"
    path.write_text("1 0.1 0.2 0.5 0.2 0.5 0.6 0.1 0.6\n")
    ids, boxes = read_label_file(path, 2)
    assert ids.tolist() == [1]
    np.testing.assert_allclose(boxes, [[0.3, 0.4, 0.4, 0.4]])
    cls, px = read_labels(path, 100, 50, parse_class_map("b=can", ["a", "b"]))
    assert cls.tolist() == [CLASS_ID["can"]]
    np.testing.assert_allclose(px, [[10, 10, 50, 30]])


def test_eval_figures_on_a_tiny_case_by_hand() -> None:
    """Two images; truth: image 1 has empties A (0..10) and B (20..30), image 2 one empty C.
    Detections (score): image 1: A 0.9 (hit), D 0.8 (miss), B 0.4 (hit); image 2: E 0.7 (miss),
    a bottle 0.95 (unlabelled class in an empties-only set). Ranked 0.9 H, 0.8 M, 0.7 M, 0.4 H:
    precision at recall 1/3 is 1, at 2/3 is 2/4 = 0.5, recall never reaches 1 (C is missed).
    101-point AP: points 0..0.333 (34 of them) -> 1.0, 0.34..0.666 (33) -> 0.5, the rest 0:
    (34 + 16.5) / 101 = 0.5. False empties at score >= 0.3: D and E over 2 images = 1.0 each."""
    tally = _Tally()
    box = np.array

    def dets(rows: list[tuple[list[float], float, int]]) -> Detections:
        return Detections(
            box([r[0] for r in rows], np.float32), box([r[1] for r in rows], np.float32), box([r[2] for r in rows])
        )

    e = EMPTY_FRONT
    _score_boxes(
        tally,
        dets([([0, 0, 10, 10], 0.9, e), ([40, 0, 50, 10], 0.8, e), ([20, 0, 30, 10], 0.4, e)]),
        box([e, e]),
        box([[0, 0, 10, 10], [20, 0, 30, 10]], float),
        0.3,
    )
    _score_boxes(
        tally,
        dets([([60, 0, 70, 10], 0.7, e), ([0, 20, 10, 40], 0.95, BOTTLE)]),
        box([e]),
        box([[80, 0, 90, 10]], float),
        0.3,
    )
    fig = _box_figures(tally, 2, frozenset({EMPTY_FRONT}))
    assert fig["map50_per_class"]["empty_front"] == pytest.approx(50.5 / 101, abs=1e-4)
    assert fig["map50_per_class"]["bottle"] is None  # unlabelled here: neither right nor wrong
    assert fig["map50"] == fig["map50_per_class"]["empty_front"]
    assert fig["empty_front_boxes"] == {"tp": 2, "fp": 2, "fn": 1, "precision": 0.5, "recall": 0.6667, "f1": 0.5714}
    assert fig["false_empty_front_per_image"] == 1.0
    # A set that labels no empties has no false-empty figure.
    assert _box_figures(tally, 2, frozenset({BOTTLE}))["false_empty_front_per_image"] is None


class _Teacher:
    """The shipped model's interface (detect -> Detections) with fixed boxes: a bottle, a can over
    the dataset's own empty box, a weak carton and a hand."""

    def detect(self, rgb: np.ndarray) -> Detections:
        boxes = np.array([[0, 0, 10, 20], [50, 0, 70, 50], [80, 0, 90, 10], [30, 30, 40, 40]], np.float32)
        scores = np.array([0.9, 0.8, 0.2, 0.9], np.float32)
        ids = np.array([BOTTLE, CLASS_ID["can"], CLASS_ID["carton"], CLASS_ID["hand"]])
        return Detections(boxes, scores, ids)


def test_pseudo_labels_fill_unlabelled_containers_but_not_over_the_datasets_boxes(tmp_path: Path) -> None:
    truth = np.array([[0.6, 0.5, 0.2, 1.0]])  # an empty at x 50..70 of 100
    containers = frozenset(CLASS_ID[c] for c in ("bottle", "can", "carton"))
    ids, boxes = pseudo_labels(_Teacher(), np.zeros((50, 100, 3), np.uint8), containers, truth, conf=0.5)
    assert ids.tolist() == [BOTTLE]  # the can overlaps the truth, the carton is weak, hands not asked
    np.testing.assert_allclose(boxes, [[0.05, 0.2, 0.1, 0.4]])

    root = _roboflow(tmp_path / "rf", ["empty"], {"train": {"a": "0 0.6 0.5 0.2 1.0\n"}})
    ds = ForeignDataset.open(root, "empty=empty_front")
    counts = write_training_copy(ds, tmp_path / "out", "train", _Teacher(), containers, 0.5, log=lambda _: None)
    assert counts["labels"]["empty_front"] == 1 and counts["pseudo_labels"]["bottle"] == 1
    assert counts["pseudo_labels"]["empty_front"] == 0  # the dataset labels empties itself
    lines = (tmp_path / "out" / "labels" / "train" / "a.txt").read_text().splitlines()
    assert [int(line.split()[0]) for line in lines] == [EMPTY_FRONT, BOTTLE]
    assert (tmp_path / "out" / "images" / "train" / "a.jpg").resolve() == (root / "train" / "images" / "a.jpg")
    assert dataset_names(tmp_path / "out") == CLASSES


def test_shifted_copies_are_new_photos_of_the_same_shelf_with_the_same_labels(tmp_path: Path) -> None:
    root = _roboflow(tmp_path / "rf", ["empty"], {"train": {"a": "0 0.6 0.5 0.2 1.0\n", "b": ""}})
    ds = ForeignDataset.open(root, "empty=empty_front")
    containers = frozenset({BOTTLE})
    counts = write_training_copy(ds, tmp_path / "out", "train", _Teacher(), containers, 0.5, log=lambda _: None,
                                 shifted_copies=2, seed=4)  # fmt: skip
    images, labels = tmp_path / "out" / "images" / "train", tmp_path / "out" / "labels" / "train"
    assert counts["images"] == 6 and counts["photos"] == 2
    assert sorted(p.name for p in images.iterdir()) == [
        "a.jpg", "a_shift0.jpg", "a_shift1.jpg", "b.jpg", "b_shift0.jpg", "b_shift1.jpg",
    ]  # fmt: skip
    for j in (0, 1):
        assert (labels / f"a_shift{j}.txt").read_text() == (labels / "a.txt").read_text()  # pseudo-labels too
        assert not (images / f"a_shift{j}.jpg").is_symlink()
    original = np.asarray(Image.open(images / "a.jpg"), np.float32)
    one, two = (np.asarray(Image.open(images / f"a_shift{j}.jpg"), np.float32) for j in (0, 1))
    assert one.shape == original.shape and np.abs(one - original).mean() > 1 and np.abs(one - two).mean() > 1
    # The same seed makes the same copies (a training run can be repeated).
    again = write_training_copy(ds, tmp_path / "again", "train", _Teacher(), containers, 0.5, log=lambda _: None,
                                shifted_copies=2, seed=4)  # fmt: skip
    assert again == counts
    assert (tmp_path / "again" / "images" / "train" / "a_shift1.jpg").read_bytes() == (
        images / "a_shift1.jpg"
    ).read_bytes()


def test_a_lower_box_iou_counts_a_lane_slot_inside_a_whole_empty_region() -> None:
    """A set that boxes a whole empty shelf region (0..40) against a detector that boxes one
    lane's front slot in it (0..15, IoU 0.375): a miss and a false empty at IoU 0.5, a hit at 0.3."""
    e = EMPTY_FRONT
    truth_cls, truth = np.array([e]), np.array([[0, 0, 40, 10]], float)
    slot = Detections(np.array([[0, 0, 15, 10]], np.float32), np.array([0.8], np.float32), np.array([e]))
    strict, loose = _Tally(), _Tally()
    _score_boxes(strict, slot, truth_cls, truth, 0.3)
    _score_boxes(loose, slot, truth_cls, truth, 0.3, iou=0.3)
    assert _box_figures(strict, 1)["empty_front_boxes"]["tp"] == 0
    assert _box_figures(strict, 1)["false_empty_front_per_image"] == 1.0
    assert _box_figures(loose, 1)["empty_front_boxes"]["tp"] == 1
    assert _box_figures(loose, 1)["map50_per_class"]["empty_front"] == 1.0
