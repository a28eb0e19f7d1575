"""The arm controller with the simulator, as separate processes on DDS: a task moves a real container."""

from __future__ import annotations

import pytest
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, String
from trajectory_msgs.msg import JointTrajectory

from restock import records, topics
from restock.nodes.base import LATCHED_QOS, RECORD_QOS
from restock.paths import SOURCE_ROOT
from restock.records import SimGroundTruth
from restock.store.description import load_store
from restock.testing.graph import wait_for_message, wait_for_record

STORE = "corner_store.yaml"
SIM = {"initial_fill": 0.25, "customers": "none", "real_time_factor": 2.0, "camera_rate_hz": 0.2}


def _publish_when_matched(node, pub, msg, timeout: float = 20.0) -> None:
    import time

    import rclpy

    end = time.monotonic() + timeout
    while pub.get_subscription_count() == 0 and time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.05)
    pub.publish(msg)


@pytest.mark.graph
@pytest.mark.slow
def test_a_task_moves_a_container_from_stock_into_its_lane(ros_graph, ros_node, tmp_path) -> None:
    store = load_store(SOURCE_ROOT / "config" / "stores" / STORE)
    lane = store.lane_by_id["r2_l06"]
    loc = store.stock_for_sku(lane.lane.sku)[0]
    graph = ros_graph(
        only=["sim", "arm_controller"],
        store=STORE,
        params={"sim": SIM, "arm_controller": {"state_dir": str(tmp_path / "arm")}},
    )
    truth = wait_for_record(ros_node, SimGroundTruth, topics.SIM_GROUND_TRUTH)
    before = truth.lanes[lane.id].count
    task = records.RestockTask(
        task_id="graph-t1", lane_id=lane.id, sku=lane.lane.sku, quantity=1, stock_location=loc.id, created=0.0
    )
    pub = ros_node.create_publisher(String, topics.RESTOCK_TASKS, RECORD_QOS)
    _publish_when_matched(ros_node, pub, String(data=records.encode(task)))
    result = wait_for_record(
        ros_node, records.TaskResult, topics.TASK_RESULTS, lambda r: r.task_id == task.task_id, timeout=90
    )
    assert result.outcome == "done" and result.placed == 1, result
    truth = wait_for_record(
        ros_node, SimGroundTruth, topics.SIM_GROUND_TRUTH, lambda r: r.lanes[lane.id].count == before + 1, timeout=30
    )
    assert truth.stock[loc.id] == loc.quantity - 1 or truth.stock[loc.id] < loc.quantity
    assert "Traceback" not in graph.log("arm_controller")


@pytest.mark.graph
def test_estop_holds_and_cancels_the_trajectory(ros_graph, ros_node, tmp_path) -> None:
    store = load_store(SOURCE_ROOT / "config" / "stores" / STORE)
    lane = store.lane_by_id["r1_l11"]
    loc = store.stock_for_sku(lane.lane.sku)[0]
    ros_graph(
        only=["sim", "arm_controller"],
        store=STORE,
        params={"sim": SIM, "arm_controller": {"state_dir": str(tmp_path / "arm")}},
    )
    task = records.RestockTask(
        task_id="graph-t2", lane_id=lane.id, sku=lane.lane.sku, quantity=1, stock_location=loc.id, created=0.0
    )
    pub = ros_node.create_publisher(String, topics.RESTOCK_TASKS, RECORD_QOS)
    _publish_when_matched(ros_node, pub, String(data=records.encode(task)))
    wait_for_message(ros_node, JointTrajectory, topics.JOINT_TRAJECTORY, lambda m: len(m.points) > 0, timeout=60)
    estop = ros_node.create_publisher(Bool, topics.ESTOP, LATCHED_QOS)
    _publish_when_matched(ros_node, estop, Bool(data=True))
    held = wait_for_message(
        ros_node, JointTrajectory, topics.JOINT_TRAJECTORY, lambda m: len(m.points) == 0, timeout=10
    )
    assert held.joint_names
    # The arm stands still from then on: two joint_states a while apart read the same.
    first = wait_for_message(ros_node, JointState, topics.JOINT_STATES)
    stamp = first.header.stamp.sec + first.header.stamp.nanosec * 1e-9
    later = wait_for_message(
        ros_node,
        JointState,
        topics.JOINT_STATES,
        lambda m: m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 > stamp + 1.0,
        timeout=20,
    )
    assert list(first.position)[:5] == list(later.position)[:5]
