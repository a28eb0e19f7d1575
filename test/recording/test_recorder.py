"""The recorder writes an MCAP that the mcap readers open and decode."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcap.reader import make_reader
from mcap_ros2.decoder import DecoderFactory
from std_msgs.msg import Bool, String

from restock import records, topics
from restock.nodes.base import ALERT_QOS, LATCHED_QOS, RECORD_QOS
from restock.recording.ros2msg import schema_text
from restock.testing.graph import spin_until


def test_schema_text_lists_each_dependency_once() -> None:
    text = schema_text("visualization_msgs/msg/MarkerArray")
    deps = [line for line in text.splitlines() if line.startswith("MSG: ")]
    assert len(deps) == len(set(deps))
    assert "MSG: visualization_msgs/Marker" in deps and "MSG: builtin_interfaces/Time" in deps


@pytest.mark.graph
def test_recorded_mcap_opens_and_decodes(ros_graph, ros_node, tmp_path: Path) -> None:
    out = tmp_path / "day.mcap"
    graph = ros_graph(
        only=["recorder", "teleop_bridge"],
        params={"recorder": {"output_path": str(out), "use_sim_time": False}, "teleop_bridge": {"use_sim_time": False}},
    )
    estop = ros_node.create_publisher(Bool, topics.ESTOP, LATCHED_QOS)
    spin_until(ros_node, lambda: estop.get_subscription_count() > 0, 20, "recorder subscribed to estop")
    estop.publish(Bool(data=True))
    # The back room's alert and the staff's top-up (the Foxglove layout's alert panel reads them).
    alert = records.BackroomAlert(
        alert_id="a1", stamp=9.0, sku="cola_500", state="raised", back_room=3, lead_s=90.0, message="cola_500 runs dry"
    )
    restock = records.BackroomRestock(stamp=10.0, sku="cola_500", stock_location="s1", added=20, quantity=23)
    alerts = ros_node.create_publisher(String, topics.BACKROOM_ALERTS, ALERT_QOS)
    restocks = ros_node.create_publisher(String, topics.BACKROOM_RESTOCKS, RECORD_QOS)
    spin_until(ros_node, lambda: restocks.get_subscription_count() > 0, 20, "recorder subscribed to restocks")
    alerts.publish(String(data=records.encode(alert)))
    restocks.publish(String(data=records.encode(restock)))
    spin_until(ros_node, lambda: False if not out.exists() else out.stat().st_size > 0, 5, "file started")
    # Diagnostics arrive once a second from both nodes; give them a few.
    deadline = ros_node.get_clock().now().nanoseconds + 3_000_000_000
    spin_until(ros_node, lambda: ros_node.get_clock().now().nanoseconds > deadline, 10, "a few seconds")
    assert graph.stop() == 0
    seen: dict[str, int] = {}
    back_room: list[records.Record] = []
    with out.open("rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        for _schema, channel, _message, decoded in reader.iter_decoded_messages():
            seen[channel.topic] = seen.get(channel.topic, 0) + 1
            if channel.topic == "/estop":
                assert decoded.data is True
            if channel.topic == "/teleop/status":
                assert records.decode(decoded.data, records.TeleopStatus).control in ("autonomy", "operator")
            if channel.topic == "/planner/backroom_alerts":
                back_room.append(records.decode(decoded.data, records.BackroomAlert))
            if channel.topic == "/backroom/restocks":
                back_room.append(records.decode(decoded.data, records.BackroomRestock))
    assert seen.get("/estop") == 1
    assert sorted(back_room, key=lambda r: r.KIND) == [alert, restock]  # backroom_alert < backroom_restock
    assert seen.get("/diagnostics", 0) >= 2


def test_a_restarted_recorder_keeps_its_predecessors_file(tmp_path) -> None:
    from restock.nodes.recorder import keep_earlier_segment

    path = tmp_path / "restock.mcap"
    assert keep_earlier_segment(path) is None  # nothing there yet
    path.write_bytes(b"first")
    assert keep_earlier_segment(path) == tmp_path / "restock.part1.mcap"
    path.write_bytes(b"second")
    assert keep_earlier_segment(path) == tmp_path / "restock.part2.mcap"
    assert (tmp_path / "restock.part1.mcap").read_bytes() == b"first"
    assert not path.exists()


@pytest.mark.graph
def test_recording_is_cut_into_whole_files_at_each_period(ros_graph, ros_node, tmp_path: Path) -> None:
    """split_period_s: each earlier file is a complete MCAP and, together, nothing is lost."""
    from restock.recording.recover import earlier_segments, is_complete

    out = tmp_path / "week.mcap"
    graph = ros_graph(
        only=["recorder"],
        params={"recorder": {"output_path": str(out), "use_sim_time": False, "split_period_s": 1.0}},
    )
    estop = ros_node.create_publisher(Bool, topics.ESTOP, LATCHED_QOS)
    spin_until(ros_node, lambda: estop.get_subscription_count() > 0, 20, "recorder subscribed to estop")
    spin_until(ros_node, lambda: (tmp_path / "week.part3.mcap").exists(), 15, "three files closed")
    estop.publish(Bool(data=True))
    deadline = ros_node.get_clock().now().nanoseconds + 1_500_000_000
    spin_until(ros_node, lambda: ros_node.get_clock().now().nanoseconds > deadline, 10, "the estop recorded")
    assert graph.stop() == 0
    files = [*earlier_segments(out), out]
    estops, stamps = 0, []
    for path in files:
        assert is_complete(path), path
        with path.open("rb") as f:
            reader = make_reader(f)
            times = [m.log_time for _s, c, m in reader.iter_messages() if c.topic == "/diagnostics"]
            estops += sum(1 for _s, c, _m in reader.iter_messages() if c.topic == "/estop")
        # Each file holds one period of the clock: no message from another second.
        assert len({t // 1_000_000_000 for t in times}) <= 1, path
        stamps += times
    assert estops == 1
    assert stamps == sorted(stamps) and len(stamps) >= 3  # one diagnostics message a second, in order
