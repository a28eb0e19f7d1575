"""A false-empty storm on DDS: the shelf camera node (a process, the shipped models), fed renders
of the corner store and then frames of a knocked camera (turned upside down, the lane map no longer
fits), reports its lanes unknown, never empty; back in place, as before once the view is calm."""

from __future__ import annotations

import numpy as np
import pytest
from test_camera_graph import CAMERA, CONFIRM_FRAMES, _start

from restock.paths import store_file
from restock.store.description import load_store

pytestmark = [pytest.mark.graph, pytest.mark.slow]


def test_a_knocked_camera_reports_lanes_unknown_never_empty(ros_node, ros_graph) -> None:
    from restock.sim.world import World

    full = World(load_store(store_file("corner_store.yaml")), seed=7).render(CAMERA)
    feed = _start(ros_node, ros_graph, full)
    for _ in range(CONFIRM_FRAMES + 1):
        lanes = feed.frame(full)
    present = {lid for lid, lane in lanes.items() if lane.state == "present"}
    assert len(present) >= 0.9 * len(lanes), lanes

    knocked = np.ascontiguousarray(full[::-1])
    for _ in range(2 * CONFIRM_FRAMES + 2):  # longer than the filter needs to confirm a change
        lanes = feed.frame(knocked)
        assert {lane.state for lane in lanes.values()} == {"unknown"}, lanes

    for _ in range(3 + CONFIRM_FRAMES):  # the guard's settling frames, then the filter's
        lanes = feed.frame(full)
    assert {lid for lid, lane in lanes.items() if lane.state == "present"} == present
    assert not any(lane.state == "empty" for lane in lanes.values())
