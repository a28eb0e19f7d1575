"""An operator's label sticks: the camera node as a process learns a SKU's look and keeps it across a restart.

The store is the walk-in cooler (config/stores/walk_in_cooler.yaml) as its renders show it, but
the camera node reads a copy whose description has the coconut water's colours wrong (a real
description can be): the shipped models call its plain cream bottles unfamiliar and the
description cannot say otherwise. The test process plays the simulator's camera (frames of
:class:`restock.sim.world.World` in lock-step with the node's observations) and the teleop bridge
(a HandoffResolution labelling the request), so nothing is timed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from std_msgs.msg import String
from test_camera_graph import Feeder  # the frame feeder of the camera node's graph tests (same folder)

from restock import records, topics
from restock.paths import SOURCE_ROOT
from restock.testing.graph import spin_until

pytestmark = [pytest.mark.graph, pytest.mark.slow]

COOLER = SOURCE_ROOT / "config" / "stores" / "walk_in_cooler.yaml"
CAMERA = "cam_4"
SKU = "coconut_water_330"
LANES = {"r1_l20", "r4_l23"}  # coconut water in the bottom and the top row, both judged by cam_4


def _misdescribed(tmp_path: Path) -> Path:
    data = yaml.safe_load(COOLER.read_text())
    data["skus"][SKU].update(color=[0.2, 0.3, 0.8], label_color=[0.8, 0.2, 0.2])
    path = tmp_path / "walk_in_cooler_misdescribed.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _flagged(lanes: dict[str, records.LaneObservation]) -> set[str]:
    return {lid for lid, lane in lanes.items() if lane.unfamiliar}


def test_a_label_sticks_across_a_restart_of_the_camera_node(ros_node, ros_graph, tmp_path: Path) -> None:
    from restock.sim.world import World
    from restock.store.description import load_store

    rgb = World(load_store(COOLER), seed=5).render(CAMERA)
    store = str(_misdescribed(tmp_path))
    params = {"shelf_camera": {"appearance_path": str(tmp_path / "appearance.sqlite"), "flag_frames": 2}}
    resolve = ros_node.create_publisher(String, topics.HANDOFF_RESOLUTIONS, 50)

    graph = ros_graph(only=[f"shelf_camera_{CAMERA}"], store=store, params=params)
    feed = Feeder(ros_node, CAMERA)
    feed.first_frame(rgb)
    for _ in range(3):
        lanes = feed.frame(rgb)
    assert _flagged(lanes) == LANES, _flagged(lanes)
    spin_until(ros_node, lambda: bool(feed.handoffs), 10.0, "a handoff")
    for _ in range(2):
        feed.frame(rgb)
    # One question for the SKU: the other lane's front waits for its answer.
    assert [h.kind for h in feed.handoffs] == ["unfamiliar_item"], feed.handoffs
    (question,) = feed.handoffs

    # The operator answers: "this is coconut water".
    answer = records.HandoffResolution(
        request_id=question.request_id, operator="op", action="labelled", label=SKU, stamp=feed.t
    )
    resolve.publish(String(data=records.encode(answer)))
    flags = [_flagged(feed.frame(rgb)) for _ in range(8)]
    # The label lands between two frames; from the flag_frames-th frame after it, nothing is flagged,
    # the other row's lane neither (the same look).
    assert flags[-4:] == [set()] * 4, flags
    assert "joins its look" in graph.log(f"shelf_camera_{CAMERA}")

    graph.stop()
    ros_graph(only=[f"shelf_camera_{CAMERA}"], store=store, params=params)
    feed.first_frame(rgb)
    for _ in range(4):
        assert not _flagged(feed.frame(rgb))
    assert len(feed.handoffs) == 1  # nothing raised again, before or after the restart
