"""What the gripper's opening says about the shipped corner store's items (restock.motion.grip), without a simulator."""

from __future__ import annotations

import pytest

from restock.motion.executor import ExecutorSettings
from restock.motion.grip import Grip
from restock.paths import SOURCE_ROOT
from restock.store.description import load_store


@pytest.fixture(scope="module")
def grip() -> Grip:
    store = load_store(SOURCE_ROOT / "config" / "stores" / "corner_store.yaml")
    st = ExecutorSettings()
    return Grip(store, store.robot.gripper.max_opening, st.min_hold_fraction, st.grasp_margin, st.release_margin)


def test_pick_opening_is_the_item_and_a_margin_capped_by_the_gripper(grip: Grip) -> None:
    for sku, spec in grip.store.skus.items():
        assert grip.pick_opening(sku) == min(spec.across + grip.grasp_margin, grip.max_opening)
    narrow = Grip(grip.store, 0.01, grip.min_hold_fraction, grip.grasp_margin, grip.release_margin)
    assert all(narrow.pick_opening(sku) == 0.01 for sku in grip.store.skus)


def test_a_grip_is_fingers_stopped_on_the_item(grip: Grip) -> None:
    sku, spec = next(iter(grip.store.skus.items()))
    assert grip.holds(sku, spec.across)  # stopped at the item's width
    assert not grip.holds(sku, 0.0)  # shut on nothing
    assert not grip.holds(sku, grip.min_hold_fraction * spec.across)  # the boundary is a miss
    assert not grip.holds(sku, None)
    assert grip.grasp_unmoved(sku, grip.pick_opening(sku))  # the close command not carried out yet
    assert not grip.grasp_unmoved(sku, spec.across)


def test_release_fits_the_lane_and_a_hand_on_the_item_is_not_let_go(grip: Grip) -> None:
    for lane in grip.store.lanes:
        opening = grip.release_opening(lane.id)
        assert lane.sku.across < opening <= lane.lane.width - 0.004
        assert opening <= grip.max_opening
        threshold = grip.released_above(lane.id)
        assert lane.sku.across < threshold < opening  # halfway: fingers still at the item's width hold it
        assert not grip.released(lane.id, lane.sku.across)
        assert grip.released(lane.id, opening)
        assert grip.released(lane.id, None)  # no reading: taken as let go
