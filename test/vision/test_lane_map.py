"""Lane mapping and the temporal lane filter, on both stores' real descriptions."""

from __future__ import annotations

import numpy as np
import pytest

from restock.paths import SOURCE_ROOT, store_file
from restock.store.description import load_store
from restock.vision.classes import CLASS_ID
from restock.vision.detector import Detections
from restock.vision.lane_filter import FilterConfig, LaneFilter
from restock.vision.lanes import LaneReading, head_on, judging_cameras, lane_regions, match_sku, read_lanes


@pytest.fixture(scope="module")
def corner():
    return load_store(store_file("corner_store.yaml"))


@pytest.fixture(scope="module")
def kiosk():
    return load_store(store_file("station_kiosk.yaml"))


def _dets(*items: tuple[str, tuple[float, float, float, float], float]) -> Detections:
    if not items:
        return Detections.empty()
    return Detections(
        np.array([b for _, b, _ in items], np.float32),
        np.array([s for _, _, s in items], np.float32),
        np.array([CLASS_ID[c] for c, _, _ in items], np.int64),
    )


def test_every_lane_is_judged_by_one_camera_the_most_head_on(corner, kiosk) -> None:
    cooler = load_store(SOURCE_ROOT / "config" / "stores" / "walk_in_cooler.yaml")
    for store in (corner, kiosk, cooler):
        judged = [r.id for cam in store.cameras for r in lane_regions(store, cam.id)]
        assert sorted(judged) == sorted(lv.id for lv in store.lanes)  # each lane once
    # A lane in view of two cameras goes to the one in front of it.
    middle = corner.lane_by_id["r2_l06"]  # x = 1.12, between cam_left (0.65) and cam_right (1.75)
    assert all(middle.id in {lv.id for lv in corner.lanes_seen_by(c.id)} for c in corner.cameras)
    assert judging_cameras(corner)[middle.id] == "cam_left"
    assert head_on(corner.camera("cam_left").model.position, middle) > head_on(
        corner.camera("cam_right").model.position, middle
    )


def test_every_camera_sees_its_lanes_as_separate_boxes(corner, kiosk) -> None:
    for store in (corner, kiosk):
        for cam in store.cameras:
            regions = lane_regions(store, cam.id)
            assert {r.id for r in regions} <= {lv.id for lv in store.lanes_seen_by(cam.id)}
            boxes = np.array([r.box for r in regions])
            assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()
            # fronts of different lanes barely overlap, so a detection maps to one lane
            from restock.vision.detector import box_iou

            iou = box_iou(boxes, boxes)
            np.fill_diagonal(iou, 0)
            assert iou.max() < 0.3


def test_read_lanes_present_empty_hidden_and_unseen(corner) -> None:
    regions = lane_regions(corner, "cam_left")[:4]
    a, b, c, _d = (r.box for r in regions)
    dets = _dets(("bottle", a, 0.9), ("empty_front", b, 0.8), ("hand", c, 0.7), ("empty_front", c, 0.2))
    readings = {r.lane_id: r for r in read_lanes(regions, dets)}
    assert readings[regions[0].id].evidence == "present" and readings[regions[0].id].kind_seen == "bottle"
    assert readings[regions[1].id].evidence == "empty"
    assert readings[regions[2].id].evidence == "occluded" and readings[regions[2].id].hand
    assert readings[regions[3].id].evidence == "none"


def test_clear_view_under_a_hand_still_counts(corner) -> None:
    regions = lane_regions(corner, "cam_left")[:2]
    a, b = (r.box for r in regions)
    dets = _dets(("hand", a, 0.8), ("empty_front", a, 0.9), ("hand", b, 0.8), ("bottle", b, 0.5))
    first, second = read_lanes(regions, dets)
    assert first.evidence == "empty" and first.hand
    assert second.evidence == "present" and second.hand


def test_a_small_unfamiliar_item_inside_a_front_is_flagged(corner) -> None:
    (region,) = lane_regions(corner, "cam_left")[:1]
    x1, y1, x2, y2 = region.box
    item = (x1 + 0.3 * (x2 - x1), y1 + 0.6 * (y2 - y1), x2 - 0.2 * (x2 - x1), y2)
    (reading,) = read_lanes([region], _dets(("unfamiliar_item", item, 0.7)))
    assert reading.unfamiliar and reading.evidence == "present"


def test_unfamiliar_item_and_obstruction_are_flagged(corner) -> None:
    regions = lane_regions(corner, "cam_left")[:2]
    a, b = (r.box for r in regions)
    readings = read_lanes(regions, _dets(("unfamiliar_item", a, 0.8), ("obstruction", b, 0.9)))
    assert readings[0].unfamiliar and readings[0].evidence == "present" and readings[0].flag_box is not None
    assert readings[1].obstruction and readings[1].evidence == "occluded"


def test_sku_from_colour(corner) -> None:
    rgb = np.zeros((100, 100, 3), np.uint8)
    rgb[:, :50] = (np.array(corner.skus["cola_500"].color) * 255).astype(np.uint8)
    rgb[:, 50:] = (np.array(corner.skus["water_500"].color) * 200).astype(np.uint8)  # darker: lighting
    assert match_sku(rgb, (0, 0, 50, 100), "bottle", corner.skus) == "cola_500"
    assert match_sku(rgb, (50, 0, 100, 100), "bottle", corner.skus) == "water_500"
    assert match_sku(rgb, (0, 0, 50, 100), "carton", corner.skus) == "orange_juice"  # the only carton


def _r(evidence: str, **kw) -> list[LaneReading]:
    return [LaneReading("l1", evidence, confidence=0.9, **kw)]  # type: ignore[arg-type]


def test_filter_reports_a_gap_within_confirm_frames_and_a_hand_is_not_a_gap() -> None:
    f = LaneFilter(["l1"], FilterConfig(confirm_frames=3, flag_frames=2, hold_s=5.0))
    t = 0.0
    for _ in range(3):
        t += 0.2
        (s,) = f.update(_r("present", sku_seen="cola_500"), t)
    assert s.state == "present" and s.sku_seen == "cola_500"
    # a hand passes for many frames: still present, flagged hand
    for _ in range(10):
        t += 0.2
        (s,) = f.update(_r("occluded", hand=True), t)
        assert s.state == "present" and s.hand
    # one misread empty frame between present ones changes nothing
    for ev in ("empty", "present", "empty", "present"):
        t += 0.2
        (s,) = f.update(_r(ev), t)
        assert s.state == "present"
    # a real gap: reported after exactly confirm_frames frames
    states = []
    for _ in range(3):
        t += 0.2
        states.append(f.update(_r("empty"), t)[0].state)
    assert states == ["present", "present", "empty"]


def test_filter_hidden_too_long_is_unknown_and_reset_forgets() -> None:
    f = LaneFilter(["l1", "l2"], FilterConfig(confirm_frames=1, flag_frames=1, hold_s=1.0))
    assert f.update(_r("empty"), 0.0)[0].state == "empty"
    assert [s.state for s in f.update([], 0.5)] == ["empty", "unknown"]  # l2 was never seen
    assert f.update(_r("occluded", hand=True), 1.6)[0].state == "unknown"
    f.update(_r("present"), 2.0)
    f.reset()
    assert f.update([], 2.1)[0].state == "unknown"


def test_filter_raises_each_incident_once() -> None:
    f = LaneFilter(["l1"], FilterConfig(confirm_frames=1, flag_frames=2, hold_s=5.0))
    seq = [True, True, True, True, False, False, True, True]
    incidents = [f.update(_r("present", unfamiliar=u), i * 0.2)[0].new_incidents for i, u in enumerate(seq)]
    assert [i for i in incidents if i] == [("unfamiliar",), ("unfamiliar",)]
    assert incidents[1] == ("unfamiliar",) and incidents[7] == ("unfamiliar",)


def test_filter_config_is_checked() -> None:
    with pytest.raises(ValueError):
        FilterConfig(confirm_frames=0)
