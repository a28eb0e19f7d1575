"""Render realism in image space: print stays on its containers' pixels, the camera's look keeps the frame."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from restock.vision.realism import camera_look, print_packaging
from restock.vision.train import recipe_overrides


def _scene() -> tuple[np.ndarray, np.ndarray]:
    rgb = np.full((120, 160, 3), 90, np.uint8)
    seg = np.full((120, 160), -1, np.int32)
    rgb[20:100, 30:60] = (200, 40, 40)  # a flat red container, body id 7
    seg[20:100, 30:60] = 7
    rgb[30:100, 90:120] = (30, 60, 200)  # a flat blue one, body id 9, its top hidden by id 3
    seg[30:100, 90:120] = 9
    seg[30:45, 90:120] = 3
    return rgb, seg


def test_print_lands_only_on_the_containers_it_is_given() -> None:
    rgb, seg = _scene()
    out = print_packaging(rgb, seg, [7, 9], np.random.default_rng(1))
    assert out.shape == rgb.shape and out.dtype == np.uint8
    changed = np.any(out != rgb, axis=2)
    assert not changed[~np.isin(seg, [7, 9])].any()  # background and the hiding object untouched
    # Flat colour became print: far more detail on each container than before.
    for oid in (7, 9):
        assert out[seg == oid].std(axis=0).mean() > rgb[seg == oid].std(axis=0).mean() + 10
    only_red = print_packaging(rgb, seg, [7], np.random.default_rng(1))
    assert not np.any(only_red[seg == 9] != rgb[seg == 9])


def test_print_is_repeatable_for_a_seed_and_differs_across_seeds() -> None:
    rgb, seg = _scene()
    a = print_packaging(rgb, seg, [7], np.random.default_rng(4))
    assert np.array_equal(a, print_packaging(rgb, seg, [7], np.random.default_rng(4)))
    assert not np.array_equal(a, print_packaging(rgb, seg, [7], np.random.default_rng(5)))


def test_camera_look_keeps_the_frame_and_changes_its_pixels() -> None:
    rgb, _ = _scene()
    looks = [camera_look(rgb, np.random.default_rng(s)) for s in range(6)]
    assert all(x.shape == rgb.shape and x.dtype == np.uint8 for x in looks)
    assert all(np.abs(x.astype(int) - rgb).mean() > 1 for x in looks)
    # A colour cast differs between draws (white balance / LED colour temperature).
    casts = [x[20:100, 30:60].reshape(-1, 3).mean(axis=0) for x in looks]
    assert np.ptp([c[0] / max(c[2], 1) for c in casts]) > 0.05


def test_fine_tune_recipe_names_what_ultralytics_needs() -> None:
    args = argparse.Namespace(freeze=10, lr0=0.002, warmup_epochs=0.0, nbs=16)
    out = recipe_overrides(args)
    # lr0 only counts with a named optimizer; nbs = batch steps the optimizer every batch.
    assert out == {"freeze": 10, "optimizer": "AdamW", "lr0": 0.002, "warmup_epochs": 0.0, "nbs": 16}
    assert recipe_overrides(argparse.Namespace(freeze=0, lr0=0.0, warmup_epochs=None)) == {}


def test_realism_changes_the_pixels_not_the_scene_or_its_labels(tmp_path: Path) -> None:
    from restock.paths import store_file
    from restock.sim.dataset_render import generate
    from restock.vision.dataset import SceneConfig

    seeds = {"test": [1_000_003]}
    plain = generate(tmp_path / "plain", store_file("corner_store.yaml"), seeds, 1, SceneConfig(), log=lambda _m: None)
    real = SceneConfig(p_print=1.0, p_camera=1.0)
    looks = generate(tmp_path / "real", store_file("corner_store.yaml"), seeds, 1, real, log=lambda _m: None)
    assert plain["labels_per_class"] == looks["labels_per_class"] and sum(plain["labels_per_class"].values()) > 0
    for label in (tmp_path / "plain" / "labels" / "test").glob("*.txt"):
        assert label.read_text() == (tmp_path / "real" / "labels" / "test" / label.name).read_text()
        a = np.asarray(Image.open(tmp_path / "plain" / "images" / "test" / f"{label.stem}.jpg"), np.float32)
        b = np.asarray(Image.open(tmp_path / "real" / "images" / "test" / f"{label.stem}.jpg"), np.float32)
        assert a.shape == b.shape and np.abs(a - b).mean() > 2


def test_a_dataset_without_val_validates_on_a_few_of_its_training_images(tmp_path: Path) -> None:
    from restock.vision.train import merge_datasets

    folder = tmp_path / "ds" / "images"
    folder.mkdir(parents=True)
    for i in range(40):
        Image.new("RGB", (8, 8)).save(folder / f"p{i:02d}.jpg")
    data = merge_datasets([tmp_path / "ds"], tmp_path / "run" / "d.yaml")
    listed = Path(data["val"][0]).read_text().split()
    # A list of 16, not the whole folder: Ultralytics validates it three times after the budget.
    assert len(listed) == 16 and len(set(listed)) == 16 and all(Path(p).parent == folder for p in listed)


def test_from_shipped_fills_only_what_the_command_line_left_unset() -> None:
    from restock.vision.train import apply_fine_tune_recipe

    args = argparse.Namespace(freeze=None, lr0=0.0005, warmup_epochs=None, nbs=None, batch=8)
    apply_fine_tune_recipe(args)
    # The batch is the step (nbs); the given rate wins; 0 would mean Ultralytics' own choice.
    assert (args.freeze, args.lr0, args.warmup_epochs, args.nbs) == (10, 0.0005, 0.0, 8)
    assert recipe_overrides(args)["lr0"] == 0.0005
