"""The false-empty storm guard: off-map empties, a row emptied at once, an image jump; and the
camera pipeline reporting such frames' lanes unknown, never empty."""

from __future__ import annotations

import numpy as np
import pytest

from restock.paths import store_file
from restock.store.description import load_store
from restock.vision.classes import CLASS_ID, EMPTY_FRONT
from restock.vision.detector import Detections, OnnxDetector, cameras_model
from restock.vision.lane_filter import FilterConfig
from restock.vision.lanes import LaneReading, lane_regions
from restock.vision.pipeline import CameraPipeline
from restock.vision.storm import GuardConfig, StormGuard, map_boxes

CAMERA = "cam_left"


@pytest.fixture(scope="module")
def corner():
    store = load_store(store_file("corner_store.yaml"))
    regions = lane_regions(store, CAMERA)
    return store, regions, map_boxes(store, store.camera(CAMERA).model)


def _dets(boxes: list[tuple[float, float, float, float]], cls: int = EMPTY_FRONT, score: float = 0.8) -> Detections:
    n = len(boxes)
    return Detections(np.asarray(boxes, np.float32).reshape(-1, 4), np.full(n, score, np.float32), np.full(n, cls))


def _frame(level: int = 120) -> np.ndarray:
    rgb = np.full((480, 640, 3), level, np.uint8)
    rgb[::40] = 200  # some structure
    return rgb


def test_empties_on_the_lane_map_are_quiet_and_off_it_make_every_lane_unknown(corner) -> None:
    store, regions, fronts = corner
    guard = StormGuard(regions, fronts)
    on_map = _dets([r.box for r in regions[:6]])
    assert not guard.check(_frame(), on_map, [], {}).storm
    # Empties where no lane front is (above the case, in a corner): a scene the detector does not know.
    h = store.camera(CAMERA).height
    off = _dets([(0, 0, 30, 20), (40, 0, 70, 20), (600, h - 20, 639, h - 1)])
    verdict = guard.check(_frame(), off, [], {})
    assert verdict.unknown == {r.id for r in regions}
    assert "3 of 3 empty-front detections sit on no lane front" in (verdict.reason or "")
    assert not guard.check(_frame(), _dets(off.boxes[:1].tolist()), [], {}).storm  # one: within off_map_max
    weak = Detections(off.boxes, np.full(3, 0.1, np.float32), off.class_ids)
    assert not guard.check(_frame(), weak, [], {}).storm  # not confident: not counted
    cans = Detections(off.boxes, off.scores, np.full(3, CLASS_ID["can"]))
    assert not guard.check(_frame(), cans, [], {}).storm  # only empties are checked against the map


def test_a_row_emptied_at_once_is_unknown_until_it_holds(corner) -> None:
    _, regions, fronts = corner
    cfg = GuardConfig(row_accept_frames=4)
    guard = StormGuard(regions, fronts, cfg)
    rows: dict[str, list[str]] = {}
    for r in regions:
        rows.setdefault(r.lane.row.id, []).append(r.id)
    row, lanes = max(rows.items(), key=lambda kv: len(kv[1]))
    present = {r.id: "present" for r in regions}
    one_gap = [LaneReading(lanes[0], "empty")] + [LaneReading(lid, "present") for lid in lanes[1:]]
    assert not guard.check(_frame(), Detections.empty(), one_gap, present).storm  # a customer took the last one
    all_gone = [LaneReading(lid, "empty") for lid in lanes]
    verdicts = [guard.check(_frame(), Detections.empty(), all_gone, present) for _ in range(5)]
    assert [v.storm for v in verdicts] == [True, True, True, False, False]  # believed on the 4th frame
    assert verdicts[0].unknown == set(lanes)  # that row only
    assert f"row {row}: {len(lanes)} of {len(lanes)} lanes went empty at once" in (verdicts[0].reason or "")
    # Lanes already confirmed empty do not count as flipping.
    assert not StormGuard(regions, fronts, cfg).check(_frame(), Detections.empty(), all_gone, {}).storm


def test_an_image_jump_is_unknown_until_the_new_look_holds(corner) -> None:
    _, regions, fronts = corner
    guard = StormGuard(regions, fronts, GuardConfig(settle_frames=2))
    for level in (120, 124, 118):  # light flicker: quiet
        assert not guard.check(_frame(level), Detections.empty(), [], {}).storm
    dark = guard.check(_frame(20), Detections.empty(), [], {})
    assert dark.unknown == {r.id for r in regions} and "image statistics jumped" in (dark.reason or "")
    assert "settling" in (guard.check(_frame(22), Detections.empty(), [], {}).reason or "")
    assert not guard.check(_frame(21), Detections.empty(), [], {}).storm  # two calm frames: the new look
    assert not guard.check(_frame(23), Detections.empty(), [], {}).storm


def test_fronts_the_detector_does_not_see_make_every_lane_unknown(corner) -> None:
    """On real photos of other shelves the detector boxed nothing at most of a camera's fronts
    while the lane-front classifier called several empty: such a frame is not understood."""
    _, regions, fronts = corner
    guard = StormGuard(regions, fronts)
    n, half = len(regions), len(regions) // 2

    def readings(blind: int) -> list[LaneReading]:  # the classifier's "empty" at unboxed fronts
        return [LaneReading(r.id, "empty" if i < blind else "present", boxed=i >= blind) for i, r in enumerate(regions)]

    assert not guard.check(_frame(), Detections.empty(), readings(half), {}).storm  # half: within blind_fraction
    verdict = guard.check(_frame(), Detections.empty(), readings(half + 1), {})
    assert verdict.unknown == {r.id for r in regions}
    assert f"the detector sees nothing at {half + 1} of {n} lane fronts" in (verdict.reason or "")
    few = StormGuard(regions[:2], fronts)  # fewer fronts than blind_min: never blind
    assert not few.check(
        _frame(), Detections.empty(), [LaneReading(r.id, "none", boxed=False) for r in regions[:2]], {}
    ).storm
    with pytest.raises(ValueError):
        GuardConfig(blind_fraction=0.0)


def test_a_reading_is_boxed_when_the_detector_boxed_a_container_or_a_gap_on_its_front(corner) -> None:
    """LaneReading.boxed: whatever decided the front (the classifier, when the camera runs one)."""
    from restock.vision.lanes import read_lanes

    _, regions, _ = corner
    a, b, c, d = (r.box for r in regions[:4])
    dets = Detections(
        np.asarray([a, b, c, d], np.float32),
        np.asarray([0.9, 0.9, 0.01, 0.9], np.float32),
        np.asarray([CLASS_ID["bottle"], EMPTY_FRONT, CLASS_ID["can"], CLASS_ID["hand"]]),
    )
    probs = np.tile(np.asarray([0.0, 1.0, 0.0, 0.0], np.float32), (4, 1))  # the classifier: all empty
    got = read_lanes(regions[:4], dets, None, None, fronts=probs)
    assert [r.boxed for r in got] == [True, True, False, False]  # a weak can and a hand box nothing
    assert [r.evidence for r in got[:3]] == ["empty", "empty", "empty"]  # boxed or not, the classifier decides


def test_the_pipeline_reports_a_moved_camera_unknown_never_empty() -> None:
    """Renders of the corner store, then the camera knocked: the frame turned upside down."""
    from restock.sim.world import World

    store = load_store(store_file("corner_store.yaml"))
    detector = OnnxDetector(cameras_model(), conf_threshold=0.1)
    pipe = CameraPipeline(store, CAMERA, detector, FilterConfig(confirm_frames=2))
    world = World(store, seed=5)
    rgb = world.render(CAMERA)
    for t in (1.0, 2.0, 3.0):
        result = pipe.process(rgb, t, t)
    assert result.guard_reason is None
    before = {lane.lane_id: lane.state for lane in result.observation.lanes}
    assert sum(s == "present" for s in before.values()) >= 0.9 * len(before)
    knocked = np.ascontiguousarray(rgb[::-1])
    for t in (4.0, 5.0, 6.0, 7.0):
        result = pipe.process(knocked, t, t)
        states = {lane.lane_id: lane.state for lane in result.observation.lanes}
        assert "empty" not in {states[lid] for lid, s in before.items() if s == "present"}, states
        assert result.guard_reason and set(states.values()) == {"unknown"}, result.guard_reason
    result = pipe.process(rgb, 8.0, 8.0)  # knocked back: held unknown while settling, then as before
    assert result.guard_reason is not None
    for t in (9.0, 10.0, 11.0, 12.0):
        result = pipe.process(rgb, t, t)
    assert {lane.lane_id: lane.state for lane in result.observation.lanes} == before
