"""The camera pipeline on simulator renders with the shipped model, and frames that cannot be used."""

from __future__ import annotations

import numpy as np
import pytest

from restock.paths import store_file
from restock.store.description import load_store
from restock.vision.detector import RUNTIME_MODEL, DetectorError, OnnxDetector, cameras_model, int8_is_exact_here
from restock.vision.lane_filter import FilterConfig
from restock.vision.pipeline import CameraPipeline


@pytest.fixture(scope="module")
def detector() -> OnnxDetector:
    if not RUNTIME_MODEL.is_file():
        pytest.fail(f"the shipped model {RUNTIME_MODEL} is missing (python -m restock.vision.quantize)")
    return OnnxDetector(cameras_model(), conf_threshold=0.1)


def test_wrong_size_frame_is_refused(detector: OnnxDetector) -> None:
    pipe = CameraPipeline(load_store(store_file("corner_store.yaml")), "cam_left", detector)
    with pytest.raises(DetectorError, match="calibrated for 640x480"):
        pipe.process(np.zeros((240, 320, 3), np.uint8), 0.0, 0.0)
    obs = pipe.unknown_observation(1.0, 1.0, stale=True)
    assert obs.stale and {lane.state for lane in obs.lanes} == {"unknown"}


@pytest.mark.parametrize("store_name", ["corner_store.yaml", "station_kiosk.yaml"])
def test_pipeline_reads_a_render_of_each_store(detector: OnnxDetector, store_name: str) -> None:
    from restock.sim.world import World

    store = load_store(store_file(store_name))
    camera_id = store.cameras[0].id
    pipe = CameraPipeline(store, camera_id, detector, FilterConfig(confirm_frames=2))
    world = World(store, seed=5)
    lanes = pipe.lane_ids  # the lanes this camera judges
    emptied = lanes[len(lanes) // 2]
    world.set_lane(emptied, [])
    rgb = world.render(camera_id)
    for t in (0.2, 0.4):
        result = pipe.process(rgb, t, t)
    states = {lane.lane_id: lane.state for lane in result.observation.lanes}
    assert states[emptied] == "empty"
    present = [lid for lid in lanes if lid != emptied]
    assert sum(states[lid] == "present" for lid in present) >= 0.9 * len(present), states
    assert sum(states[lid] == "empty" for lid in present) == 0, states
    annotated = pipe.annotate(rgb, result)
    assert annotated.shape == rgb.shape and not np.array_equal(annotated, rgb)


@pytest.mark.parametrize("store_name", ["corner_store.yaml", "station_kiosk.yaml"])
def test_an_unfamiliar_item_at_a_front_is_flagged_once_in_each_store(detector: OnnxDetector, store_name: str) -> None:
    from restock.sim.world import World
    from restock.vision.lane_front import LaneFrontClassifier

    store = load_store(store_file(store_name))
    camera_id = store.cameras[0].id
    pipe = CameraPipeline(
        store, camera_id, detector, FilterConfig(confirm_frames=2, flag_frames=2), lane_front=LaneFrontClassifier()
    )
    world = World(store, seed=9)
    lanes = pipe.lane_ids
    target = lanes[len(lanes) // 3]
    before = world.render(camera_id)
    world.put_unfamiliar(target, slot=0)
    after = world.render(camera_id)
    results = [pipe.process(rgb, t, t) for t, rgb in enumerate([before, before, after, after, after], start=1)]
    assert not any(r.handoffs for r in results[:2]), [h.lane_id for r in results[:2] for h in r.handoffs]
    raised = [h for r in results for h in r.handoffs]
    assert [(h.lane_id, h.kind) for h in raised] == [(target, "unfamiliar_item")]
    flagged = {lane.lane_id for lane in results[-1].observation.lanes if lane.unfamiliar}
    assert flagged == {target}


def test_int8_runs_only_where_it_is_exact(tmp_path, monkeypatch) -> None:
    """x86 without VNNI: the float model (INT8 sums could saturate there); with it, or on ARM: INT8."""
    import platform

    from restock.vision.detector import DEFAULT_MODEL

    cpuinfo = tmp_path / "cpuinfo"
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f\n")
    assert not int8_is_exact_here(cpuinfo)
    for vnni in ("avx512_vnni", "avx_vnni"):
        cpuinfo.write_text(f"processor\t: 0\nflags\t\t: fpu sse2 avx2 {vnni}\n")
        assert int8_is_exact_here(cpuinfo)
    assert not int8_is_exact_here(tmp_path / "absent")
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    assert int8_is_exact_here(tmp_path / "absent")
    monkeypatch.setattr("restock.vision.detector.int8_is_exact_here", lambda: False)
    assert cameras_model() == DEFAULT_MODEL


@pytest.mark.skipif(not int8_is_exact_here(), reason="no VNNI on this CPU: the cameras run the float model here")
def test_the_cameras_int8_model_finds_what_the_float_model_finds(detector: OnnxDetector) -> None:
    """The runtime detector (INT8, 416x320) against the float32 416x416 one it was made from, on a
    corner-store render with a quarter of cam_left's lanes emptied: the same confident boxes, and
    the same lane states through the pipeline."""
    from restock.sim.world import World
    from restock.vision.detector import DEFAULT_MODEL, box_iou

    assert (detector.input_w, detector.input_h) == (416, 320)
    reference = OnnxDetector(DEFAULT_MODEL, conf_threshold=0.1)
    store = load_store(store_file("corner_store.yaml"))
    world = World(store, seed=3)
    lanes = CameraPipeline(store, "cam_left", detector).lane_ids
    for lane_id in lanes[::4]:
        world.set_lane(lane_id, [])
    rgb = world.render("cam_left")
    ours, theirs = detector.detect(rgb), reference.detect(rgb)
    confident = theirs.scores >= 0.5
    assert confident.sum() >= 20
    found = [
        box_iou(box, ours.of_class(int(cid)).boxes).max(initial=0.0) >= 0.5
        for box, cid in zip(theirs.boxes[confident], theirs.class_ids[confident], strict=True)
    ]
    assert sum(found) >= 0.95 * len(found), f"{sum(found)} of {len(found)} confident boxes found again"
    states = []
    for model in (detector, reference):
        pipe = CameraPipeline(store, "cam_left", model, FilterConfig(confirm_frames=2))
        for t in (0.2, 0.4):
            result = pipe.process(rgb, t, t)
        states.append({lane.lane_id: lane.state for lane in result.observation.lanes})
    assert states[0] == states[1]
    assert {states[0][lane_id] for lane_id in lanes[::4]} == {"empty"}


def test_frames_prepared_ahead_read_as_frames_processed_whole(detector: OnnxDetector) -> None:
    """The camera node letterboxes a frame as it arrives, while the models still work on the one
    before, and drops a prepared frame a newer one replaced: the same observations as processing
    each frame it keeps whole, in order."""
    from restock.sim.world import World
    from restock.vision.lane_front import LaneFrontClassifier

    store = load_store(store_file("corner_store.yaml"))
    world = World(store, seed=3)
    full = world.render("cam_left")
    world.set_lane(CameraPipeline(store, "cam_left", None).lane_ids[2], [])
    emptied = world.render("cam_left")
    frames = [full, full, emptied, full, emptied, emptied, emptied]
    dropped = 3  # replaced by the next frame before the models were free

    def pipeline() -> CameraPipeline:
        return CameraPipeline(
            store, "cam_left", detector, FilterConfig(confirm_frames=2), lane_front=LaneFrontClassifier()
        )

    whole = pipeline()
    expected = [whole.process(rgb, t, t).observation for t, rgb in enumerate(frames) if t != dropped]
    ahead = pipeline()
    prepared = [ahead.prepare(rgb, float(t)) for t, rgb in enumerate(frames)]
    got = [ahead.finish(p, p.frame_stamp).observation for t, p in enumerate(prepared) if t != dropped]
    assert got == expected
    assert any(lane.state == "empty" for lane in got[-1].lanes)  # the frames were read, not all unknown
    with pytest.raises(DetectorError, match="calibrated for 640x480"):
        ahead.prepare(np.zeros((240, 320, 3), np.uint8), 9.0)
