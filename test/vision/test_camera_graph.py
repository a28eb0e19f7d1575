"""The shelf camera node as a process on real DDS, fed by the simulator, with the shipped model.

The test process plays the simulator's camera: it renders the corner store with
:class:`restock.sim.world.World` (the same renders the sim node publishes), changes the world
(a lane is emptied, a hand passes, an unfamiliar item is put at a lane front), and publishes
each frame on cameras/cam_left/image_raw in lock-step with the node's observations, so the
bound on frames is checked exactly and no timing is asserted.
"""

from __future__ import annotations

import base64

import pytest
from builtin_interfaces.msg import Time
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import Image
from std_msgs.msg import String

from restock import records, topics
from restock.convert import sec_nanosec
from restock.paths import store_file
from restock.store.description import load_store
from restock.testing.graph import spin_until
from restock.vision.detector import DEFAULT_MODEL
from restock.vision.lanes import lane_regions

pytestmark = [pytest.mark.graph, pytest.mark.slow]

CAMERA = "cam_left"
EMPTIED = "r1_l03"  # green tea bottles, bottom row
HAND_LANE = "r1_l05"  # energy drink cans; judged by cam_left (the camera in front of it)
UNFAMILIAR_LANE = "r2_l04"
CONFIRM_FRAMES = 3


def _image(rgb, t: float, camera: str = CAMERA) -> Image:
    msg = Image()
    msg.header.stamp.sec, msg.header.stamp.nanosec = sec_nanosec(t)
    msg.header.frame_id = camera
    msg.height, msg.width = rgb.shape[:2]
    msg.encoding = "rgb8"
    msg.step = msg.width * 3
    msg.data = rgb.tobytes()
    return msg


class Feeder:
    """Publishes frames one at a time and waits for the node's observation of each."""

    def __init__(self, node, camera: str = CAMERA) -> None:
        self.node = node
        self.camera = camera
        self.t = 1_000.0
        self.observations: dict[float, records.ShelfObservation] = {}
        self.handoffs: list[records.HandoffRequest] = []
        self.image_pub = node.create_publisher(Image, topics.camera_image(camera), 2)
        self.clock_pub = node.create_publisher(Clock, topics.CLOCK, 10)
        node.create_subscription(String, topics.SHELF_OBSERVATIONS, self._on_obs, 50)
        node.create_subscription(String, topics.HANDOFF_REQUESTS, self._on_handoff, 50)

    def _on_obs(self, msg: String) -> None:
        obs = records.decode(msg.data, records.ShelfObservation)
        if obs.camera_id == self.camera and not obs.stale:
            self.observations[round(obs.frame_stamp, 3)] = obs

    def _on_handoff(self, msg: String) -> None:
        self.handoffs.append(records.decode(msg.data, records.HandoffRequest))

    def frame(self, rgb, timeout: float = 60.0) -> dict[str, records.LaneObservation]:
        self.t += 0.2
        key = round(self.t, 3)
        sec, nanosec = sec_nanosec(self.t)
        self.clock_pub.publish(Clock(clock=Time(sec=sec, nanosec=nanosec)))
        self.image_pub.publish(_image(rgb, self.t, self.camera))
        spin_until(self.node, lambda: key in self.observations, timeout, f"the observation of frame {key}")
        return {lane.lane_id: lane for lane in self.observations[key].lanes}

    def first_frame(self, rgb) -> dict[str, records.LaneObservation]:
        """The first frame, retried: the node's subscription must be matched before frames count."""
        for _ in range(30):
            try:
                return self.frame(rgb, timeout=3.0)
            except TimeoutError:
                continue
        pytest.fail(f"the camera node of {self.camera} never answered a frame")


def _renders():
    from restock.sim.world import World

    store = load_store(store_file("corner_store.yaml"))
    world = World(store, seed=7)
    full = world.render(CAMERA)
    hand = world.show_hand(CAMERA, HAND_LANE)
    with_hand = world.render(CAMERA)
    world.hide_hand(hand)
    world.set_lane(EMPTIED, [])
    emptied = world.render(CAMERA)
    world.put_unfamiliar(UNFAMILIAR_LANE, slot=0)
    unfamiliar = world.render(CAMERA)
    return full, with_hand, emptied, unfamiliar


def _start(ros_node, ros_graph, first_frame) -> Feeder:
    if not DEFAULT_MODEL.is_file():
        pytest.fail(f"the shipped model {DEFAULT_MODEL} is missing (restock train-detector)")
    ros_graph(only=["shelf_camera"], params={"shelf_camera": {"confirm_frames": CONFIRM_FRAMES, "flag_frames": 2}})
    feed = Feeder(ros_node)
    feed.first_frame(first_frame)
    return feed


def test_gap_reported_within_bound_and_a_hand_is_not_a_gap(ros_node, ros_graph) -> None:
    full, with_hand, emptied, _ = _renders()
    feed = _start(ros_node, ros_graph, full)
    for _ in range(CONFIRM_FRAMES + 1):
        lanes = feed.frame(full)
    assert lanes[EMPTIED].state == "present", lanes[EMPTIED]
    assert lanes[HAND_LANE].state == "present", lanes[HAND_LANE]

    # A hand in front of a stocked lane for several frames: never a gap.
    for _ in range(6):
        lanes = feed.frame(with_hand)
        assert lanes[HAND_LANE].state != "empty", lanes[HAND_LANE]

    # The lane is emptied: said on the CONFIRM_FRAMES-th frame that shows it, and from then on.
    states = [feed.frame(emptied)[EMPTIED].state for _ in range(CONFIRM_FRAMES + 2)]
    assert states[CONFIRM_FRAMES - 1 :] == ["empty"] * 3, states


def test_unfamiliar_item_raises_one_handoff_with_a_crop(ros_node, ros_graph) -> None:
    full, _, _, unfamiliar = _renders()
    feed = _start(ros_node, ros_graph, full)
    before = len(feed.handoffs)
    for _ in range(6):
        lanes = feed.frame(unfamiliar)
    spin_until(ros_node, lambda: len(feed.handoffs) > before, 10.0, "a handoff request")
    mine = [h for h in feed.handoffs[before:] if h.lane_id == UNFAMILIAR_LANE and h.kind == "unfamiliar_item"]
    assert len(mine) == 1, feed.handoffs[before:]
    assert lanes[UNFAMILIAR_LANE].unfamiliar
    request = mine[0]
    assert request.camera_id == CAMERA and request.bbox is not None
    assert base64.b64decode(request.image_jpeg_b64 or "")[:2] == b"\xff\xd8"  # a JPEG


def _collect_observations(node) -> list[records.ShelfObservation]:
    """Every fresh (not stale) observation of CAMERA, in arrival order, while the node spins."""
    observations: list[records.ShelfObservation] = []

    def on_obs(msg: String) -> None:
        obs = records.decode(msg.data, records.ShelfObservation)
        if obs.camera_id == CAMERA and not obs.stale:
            observations.append(obs)

    node.create_subscription(String, topics.SHELF_OBSERVATIONS, on_obs, 50)
    return observations


def test_sim_node_and_camera_node_empty_lanes_reported_within_bound(ros_node, ros_graph) -> None:
    """The real sim node renders an emptied case; the camera node says empty within CONFIRM_FRAMES frames."""
    store = load_store(store_file("corner_store.yaml"))
    seen = {r.id for r in lane_regions(store, CAMERA)}
    observations = _collect_observations(ros_node)
    ros_graph(
        only=["sim", "shelf_camera"],
        params={
            "sim": {"initial_fill": 0.0, "customers": "none", "real_time_factor": 1.0, "camera_rate_hz": 2.0},
            "shelf_camera": {"confirm_frames": CONFIRM_FRAMES},
        },
    )
    spin_until(ros_node, lambda: len(observations) >= CONFIRM_FRAMES + 1, 90.0, "camera observations")
    first = observations[0]
    assert {lane.lane_id for lane in first.lanes} == seen
    decided = observations[CONFIRM_FRAMES - 1]
    states = {lane.lane_id: lane.state for lane in decided.lanes}
    assert all(state == "empty" for state in states.values()), states


def test_sim_node_unfamiliar_item_raises_a_handoff(ros_node, ros_graph) -> None:
    """The real sim node puts an item the store does not sell at a stocked lane's front; the
    camera node flags that lane and raises one unfamiliar-item handoff with a crop."""
    observations = _collect_observations(ros_node)
    handoffs: list[records.HandoffRequest] = []
    ros_node.create_subscription(
        String, topics.HANDOFF_REQUESTS, lambda m: handoffs.append(records.decode(m.data, records.HandoffRequest)), 50
    )
    graph = ros_graph(
        only=["sim", "shelf_camera"],
        params={
            "sim": {
                "initial_fill": 1.0,
                "customers": "none",
                "real_time_factor": 1.0,
                "camera_rate_hz": 2.0,
                # A full lane has no room for the item: take two first.
                "scripted_events": f"+2 take {UNFAMILIAR_LANE} 2; +4 unfamiliar {UNFAMILIAR_LANE} 0",
            },
            "shelf_camera": {"confirm_frames": CONFIRM_FRAMES, "flag_frames": 2},
        },
    )
    try:
        spin_until(
            ros_node,
            lambda: any(h.lane_id == UNFAMILIAR_LANE and h.kind == "unfamiliar_item" for h in handoffs),
            120.0,
            f"an unfamiliar-item handoff for {UNFAMILIAR_LANE}",
        )
    except TimeoutError:
        seen = [(o.frame_stamp, {la.lane_id: la.state for la in o.lanes}.get(UNFAMILIAR_LANE)) for o in observations]
        pytest.fail(f"no handoff; {len(observations)} observations {seen[-5:]}; sim log: {graph.log('sim')[-2000:]}")
    mine = [h for h in handoffs if h.lane_id == UNFAMILIAR_LANE]
    assert len(mine) == 1 and mine[0].source == "shelf_camera_cam_left", handoffs
    assert base64.b64decode(mine[0].image_jpeg_b64 or "")[:2] == b"\xff\xd8"
    flagged = [o for o in observations if any(la.lane_id == UNFAMILIAR_LANE and la.unfamiliar for la in o.lanes)]
    assert flagged, "no observation flagged the lane"
    # Before the item came, nothing was flagged: the flag is the item, not the lane.
    first = {la.lane_id: la for la in observations[0].lanes}
    assert not first[UNFAMILIAR_LANE].unfamiliar
    assert not [h for h in handoffs if h.lane_id != UNFAMILIAR_LANE], handoffs


def test_bad_frames_and_a_missing_model_never_crash_the_node(ros_node, ros_graph, tmp_path) -> None:
    """No model: ERROR diagnostic, lanes unknown; bad frames are dropped; a stale camera is reported."""
    import numpy as np
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus

    from restock.testing.graph import wait_for_message, wait_for_record

    graph = ros_graph(
        only=["shelf_camera"],
        params={"shelf_camera": {"model_path": str(tmp_path / "missing.onnx"), "stale_timeout_s": 1.0}},
    )
    diag = wait_for_message(
        ros_node,
        DiagnosticArray,
        topics.DIAGNOSTICS,
        lambda m: any("shelf_camera_cam_left" in s.name and s.level == DiagnosticStatus.ERROR for s in m.status),
        timeout=30.0,
    )
    status = next(s for s in diag.status if "shelf_camera_cam_left" in s.name)
    assert "missing.onnx" in status.message and "does not exist" in status.message
    stale = wait_for_record(
        ros_node, records.ShelfObservation, topics.SHELF_OBSERVATIONS, lambda o: o.camera_id == CAMERA, timeout=30.0
    )
    assert stale.stale and {lane.state for lane in stale.lanes} == {"unknown"}

    pub = ros_node.create_publisher(Image, topics.camera_image(CAMERA), 2)
    bad = _image(np.zeros((480, 640, 3), np.uint8), 5.0)
    bad.encoding = "mono16"
    truncated = _image(np.zeros((480, 640, 3), np.uint8), 5.2)
    truncated.data = bytes(truncated.data)[:1000]
    good = _image(np.zeros((480, 640, 3), np.uint8), 5.4)

    def frame_answered(o: records.ShelfObservation) -> bool:
        return o.camera_id == CAMERA and not o.stale and abs(o.frame_stamp - 5.4) < 1e-6

    got: list[records.ShelfObservation] = []
    for _ in range(20):
        pub.publish(bad)
        pub.publish(truncated)
        pub.publish(good)
        try:
            got.append(
                wait_for_record(ros_node, records.ShelfObservation, topics.SHELF_OBSERVATIONS, frame_answered, 2.0)
            )
            break
        except TimeoutError:
            continue
    assert got, "the node never answered a good frame"
    assert {lane.state for lane in got[0].lanes} == {"unknown"}  # no model: never empty
    assert graph.pids()  # the node processes are still up
    assert "Traceback" not in graph.log("shelf_camera_cam_left")
