"""Imaging shifts (restock.vision.imaging): what each does to a frame, and eval-detector under one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from restock.vision.imaging import SHIFTS, Shift, apply_shift, random_shift


def _frame() -> np.ndarray:
    rng = np.random.default_rng(3)
    rgb = np.full((120, 160, 3), 128, np.uint8)
    rgb[20:60, 30:90] = (200, 180, 60)  # a yellow carton
    rgb[70:110, 100:150] = (40, 90, 200)  # a blue can
    rgb += rng.integers(0, 8, rgb.shape, dtype=np.uint8)
    return rgb


def test_none_is_the_frame_itself_and_every_shift_keeps_its_size_and_type() -> None:
    rgb = _frame()
    assert apply_shift(rgb, SHIFTS["none"]) is rgb
    for name, shift in SHIFTS.items():
        out = apply_shift(rgb, shift)
        assert out.shape == rgb.shape and out.dtype == np.uint8, name
        if name != "none":
            assert np.abs(out.astype(int) - rgb).mean() > 1.0, f"{name} changed nothing"


def test_shifts_are_repeatable_with_the_same_generator() -> None:
    rgb = _frame()
    for shift in (SHIFTS["noise"], SHIFTS["glass_glare"], random_shift(np.random.default_rng(5))):
        a = apply_shift(rgb, shift, np.random.default_rng(11))
        b = apply_shift(rgb, shift, np.random.default_rng(11))
        assert np.array_equal(a, b)


def test_light_colour_and_exposure_move_the_channels_the_way_light_does() -> None:
    rgb = _frame()
    mean = rgb.reshape(-1, 3).mean(axis=0)
    warm = apply_shift(rgb, SHIFTS["warm_light"]).reshape(-1, 3).mean(axis=0)
    cool = apply_shift(rgb, SHIFTS["cool_light"]).reshape(-1, 3).mean(axis=0)
    assert warm[0] / warm[2] > mean[0] / mean[2] * 1.15  # redder than blue
    assert cool[2] / cool[0] > mean[2] / mean[0] * 1.15  # bluer than red
    assert apply_shift(rgb, SHIFTS["dim"]).mean() < rgb.mean() * 0.8
    assert apply_shift(rgb, SHIFTS["bright"]).mean() > rgb.mean() * 1.15
    glare = apply_shift(rgb, SHIFTS["glass_glare"])
    assert glare.mean() > rgb.mean() and glare.std() < rgb.std()  # a veil: brighter, less contrast


def test_blur_softens_edges_and_noise_adds_grain_of_its_sigma() -> None:
    rgb = _frame()
    edge = lambda a: np.abs(np.diff(a.astype(int), axis=1)).mean()  # noqa: E731
    assert edge(apply_shift(rgb, SHIFTS["blur"])) < edge(rgb) * 0.8
    noisy = apply_shift(rgb, Shift("n", noise=10.0)).astype(int) - rgb
    assert 8.0 < noisy.std() < 12.0


def test_bad_shifts_are_refused() -> None:
    for bad in (dict(gains=(1.0, 0.0, 1.0)), dict(exposure=0.0), dict(noise=-1.0), dict(jpeg=101), dict(glare=1.0)):
        with pytest.raises(ValueError):
            Shift("bad", **bad)  # type: ignore[arg-type]


def test_random_shifts_stay_in_their_ranges() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        s = random_shift(rng)
        assert 0.5 <= s.exposure <= 1.7 and 25 <= s.jpeg <= 95 and s.noise <= 12 and s.glare < 0.31
        assert all(0.75 < g < 1.25 for g in s.gains)


def test_eval_detector_runs_each_photo_through_the_transform(tmp_path: Path) -> None:
    """evaluate(transform=...) hands every photo, in order, to the transform before the detector."""
    from restock.vision.detector import cameras_model
    from restock.vision.evaluate import evaluate

    root = tmp_path / "photos"
    (root / "valid" / "images").mkdir(parents=True)
    (root / "valid" / "labels").mkdir(parents=True)
    (root / "data.yaml").write_text("train: train/images\nval: valid/images\nnames: ['empty_shelf']\n")
    for name in ("a", "b"):
        Image.fromarray(_frame()).save(root / "valid" / "images" / f"{name}.jpg")
        (root / "valid" / "labels" / f"{name}.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    seen: list[tuple[int, tuple[int, ...]]] = []

    def grey(rgb: np.ndarray, k: int) -> np.ndarray:
        seen.append((k, rgb.shape))
        return np.full_like(rgb, 128)

    r = evaluate(root, cameras_model(), split="valid", class_map="empty_shelf=empty_front", transform=grey,
                 log=lambda *_: None)  # fmt: skip
    assert seen == [(0, (120, 160, 3)), (1, (120, 160, 3))]
    assert r["images"] == 2 and r["truth_boxes_per_class"]["empty_front"] == 2
