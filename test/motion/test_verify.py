"""The camera check after a placement."""

from __future__ import annotations

from restock import records
from restock.motion.verify import PlacementVerifier


def _obs(stamp: float, **states: str) -> records.ShelfObservation:
    return records.ShelfObservation(
        stamp=stamp,
        camera_id="cam_left",
        frame_stamp=stamp,
        lanes=[records.LaneObservation(lane_id=k, state=v) for k, v in states.items()],
    )


def test_a_lane_seen_empty_must_be_seen_stocked_after_loading() -> None:
    v = PlacementVerifier(timeout_s=10.0, min_looks=1)
    v.observe(_obs(0.0, r1_l01="empty", r1_l02="empty", r1_l03="present"))
    v.placed("r1_l01", 1.0)
    v.placed("r1_l02", 1.0)
    v.placed("r1_l03", 1.0)  # was stocked already: the camera cannot tell, not checked
    v.observe(_obs(4.5, r1_l01="present", r1_l02="empty"))
    assert v.overdue(5.0) == []
    assert v.overdue(11.5) == ["r1_l02"]
    assert v.overdue(30.0) == []  # reported once


def test_time_alone_raises_nothing_a_look_since_the_placement_must_say_so() -> None:
    # Cameras every 30 s and a 10 s check: no look yet at the deadline is not a failed placement.
    v = PlacementVerifier(timeout_s=10.0, min_looks=1)
    v.observe(_obs(0.0, r1_l01="empty", r1_l02="empty"))
    v.placed("r1_l01", 1.0)
    v.placed("r1_l02", 1.0)
    v.observe(_obs(2.0, r1_l01="empty", r1_l02="empty"))  # before the container could slide: no look
    assert v.overdue(20.0) == [] and v.wake_at() == []
    v.observe(_obs(31.0, r1_l01="present", r1_l02="empty"))
    assert v.overdue(31.0) == ["r1_l02"]
    assert v.pending == {}


def test_unknown_and_stale_observations_do_not_count() -> None:
    v = PlacementVerifier(timeout_s=10.0, min_looks=1)
    v.observe(_obs(0.0, r1_l01="empty"))
    v.placed("r1_l01", 1.0)
    v.observe(_obs(2.0, r1_l01="unknown"))
    stale = _obs(3.0, r1_l01="present").model_copy(update={"stale": True})
    v.observe(stale)
    assert v.overdue(12.0) == []  # nothing seen: nothing to report yet
    v.observe(_obs(13.0, r1_l01="empty"))
    assert v.overdue(13.0) == ["r1_l01"]


def test_a_camera_that_confirms_over_three_frames_gets_three_looks() -> None:
    # The camera reports a lane's new state after 3 agreeing frames: its first two looks after a
    # placement still say "empty" although the lane is stocked.
    v = PlacementVerifier(timeout_s=10.0, min_looks=3)
    v.observe(_obs(0.0, r1_l01="empty", r1_l02="empty"))
    v.placed("r1_l01", 1.0)
    v.placed("r1_l02", 1.0)
    v.observe(_obs(30.0, r1_l01="empty", r1_l02="empty"))
    v.observe(_obs(60.0, r1_l01="empty", r1_l02="empty"))
    assert v.overdue(60.0) == []
    v.observe(_obs(90.0, r1_l01="present", r1_l02="empty"))  # confirmed at last; r1_l02 never came
    assert v.overdue(90.0) == ["r1_l02"]
