"""A false-empty storm on DDS: the shelf camera node (a process, the shipped models), fed renders
of the corner store and then frames of a knocked camera (turned upside down, the lane map no longer
fits), reports its lanes unknown, never empty, and the planner (a process too) dispatches no task on
them; back in place, as before once the view is calm, and a lane really emptied then gets its task."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from std_msgs.msg import String
from test_camera_graph import CAMERA, CONFIRM_FRAMES, EMPTIED, Feeder

from restock import records, topics
from restock.nodes.base import RECORD_QOS
from restock.paths import store_file
from restock.store.description import load_store

pytestmark = [pytest.mark.graph, pytest.mark.slow]


def test_a_knocked_camera_reports_lanes_unknown_never_empty(ros_node, ros_graph, tmp_path: Path) -> None:
    from restock.sim.world import World

    world = World(load_store(store_file("corner_store.yaml")), seed=7)
    full = world.render(CAMERA)
    world.set_lane(EMPTIED, [])
    emptied = world.render(CAMERA)
    ros_graph(
        only=["shelf_camera", "planner"],
        params={
            "shelf_camera": {"confirm_frames": CONFIRM_FRAMES, "flag_frames": 2},
            "planner": {"database_path": str(tmp_path / "planner.db"), "replan_period_s": 0.5},
        },
    )
    tasks: list[records.RestockTask] = []
    ros_node.create_subscription(
        String, topics.RESTOCK_TASKS, lambda m: tasks.append(records.decode(m.data, records.RestockTask)), RECORD_QOS
    )
    feed = Feeder(ros_node)
    feed.first_frame(full)
    for _ in range(CONFIRM_FRAMES + 1):
        lanes = feed.frame(full)
    present = {lid for lid, lane in lanes.items() if lane.state == "present"}
    assert len(present) >= 0.9 * len(lanes), lanes
    before = len(tasks)  # what the planner made of its start (its own estimate, not this camera's view)

    knocked = np.ascontiguousarray(full[::-1])
    for _ in range(2 * CONFIRM_FRAMES + 6):  # longer than the filter needs to confirm a change
        lanes = feed.frame(knocked)
        assert {lane.state for lane in lanes.values()} == {"unknown"}, lanes
    assert tasks[before:] == [], f"the planner dispatched the arm during the storm: {tasks[before:]}"

    for _ in range(3 + CONFIRM_FRAMES):  # the guard's settling frames, then the filter's
        lanes = feed.frame(full)
    assert {lid for lid, lane in lanes.items() if lane.state == "present"} == present
    assert not any(lane.state == "empty" for lane in lanes.values())
    assert tasks[before:] == [], f"the planner dispatched the arm on a calm full shelf: {tasks[before:]}"

    # The planner listens all along: a lane really emptied, seen by the camera back in place, gets its task.
    for _ in range(CONFIRM_FRAMES + 1):
        lanes = feed.frame(emptied)
    assert lanes[EMPTIED].state == "empty", lanes[EMPTIED]
    for _ in range(40):
        if any(t.lane_id == EMPTIED for t in tasks[before:]):
            break
        feed.frame(emptied)  # sim time moves on only with frames: the planner replans on it
    assert any(t.lane_id == EMPTIED for t in tasks[before:]), tasks[before:]
