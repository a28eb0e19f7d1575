"""The dataset generator's lane columns on a store whose lanes hold SKUs of different lengths.

A misplaced container longer than the lane's own SKU once stopped `restock make-dataset` with
"lane ...: no room for ..." when the lane was filled to capacity.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from restock.paths import SOURCE_ROOT
from restock.sim.dataset_render import generate
from restock.store.description import load_store
from restock.vision.dataset import SceneConfig, fits_lane, plan_lanes

MIXED = SOURCE_ROOT / "test" / "data" / "stores" / "mixed_lengths.yaml"


def test_the_mixed_store_has_lanes_of_different_pitches_in_one_row() -> None:
    store = load_store(MIXED)
    for row in store.case.rows:
        pitches = {store.skus[lane.sku].along for lane in row.lanes}
        assert min(pitches) <= 0.05 and max(pitches) >= 0.095, row.id


def test_a_misplaced_container_takes_the_room_it_needs_and_fits_the_lane() -> None:
    store = load_store(MIXED)
    cfg = SceneConfig(p_empty=0.0, p_misplaced=1.0)
    bodies = {sku: 10_000 for sku in store.skus}
    shortened = 0
    for seed in range(200):
        columns = plan_lanes(store, np.random.default_rng(seed), cfg, bodies)
        for lv in store.lanes:
            items = columns[lv.id]
            assert items, lv.id
            assert sum(store.skus[s].along for s in items) <= lv.row.depth + 1e-9, (seed, lv.id, items)
            front = items[0]
            assert front != lv.lane.sku, (seed, lv.id)  # some other SKU fits every lane of this store
            assert fits_lane(store.skus[front], lv), (seed, lv.id, front)
            assert all(s == lv.lane.sku for s in items[1:])
            if len(items) < lv.lane.capacity and store.skus[front].along > lv.sku.along:
                shortened += 1
    assert shortened > 0
    # A lane of narrow cans never gets a carton wider than its dividers allow.
    narrow = next(lv for lv in store.lanes if lv.lane.sku == "coffee_can")
    assert not fits_lane(store.skus["soy_milk"], narrow)


def test_no_sku_is_used_more_often_than_the_world_has_bodies_for_it() -> None:
    store = load_store(MIXED)
    own = {sku: 0 for sku in store.skus}
    for lv in store.lanes:
        own[lv.lane.sku] += lv.lane.capacity
    bodies = dict(own)  # no spares: a misplaced container can only use what a lane left over
    cfg = SceneConfig(p_empty=0.3, p_misplaced=1.0)
    for seed in range(200):
        columns = plan_lanes(store, np.random.default_rng(seed), cfg, bodies)
        used = {sku: 0 for sku in store.skus}
        for items in columns.values():
            for s in items:
                used[s] += 1
        assert all(used[s] <= bodies[s] for s in store.skus), (seed, used)


def test_make_dataset_renders_the_mixed_store_with_every_lane_misplaced(tmp_path: Path) -> None:
    # Every filled lane gets another SKU at its front: the old rule stopped on the first image.
    cfg = SceneConfig(p_misplaced=1.0, p_empty=0.1)
    manifest = generate(tmp_path, MIXED, {"test": [1_000_000, 1_000_001]}, 1, cfg, log=lambda _msg: None)
    assert manifest["images"] == {"test": 4}
    assert len(list((tmp_path / "images" / "test").glob("*.jpg"))) == 4
    store = load_store(MIXED)
    misplaced = 0
    for sidecar in (tmp_path / "lanes" / "test").glob("*.json"):
        for lane_id, truth in json.loads(sidecar.read_text())["lanes"].items():
            if truth["state"] == "present" and truth["sku"] != store.lane_by_id[lane_id].lane.sku:
                misplaced += 1
    assert misplaced > 0
