"""The Gazebo adapter (restock-sim --gz-adapter) in this process: joint_states with the gripper opening, finger commands."""

from __future__ import annotations

import time

import pytest
from rclpy.executors import SingleThreadedExecutor
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64, Float64MultiArray

from restock import topics
from restock.nodes.gz_adapter import GzAdapterNode

pytestmark = pytest.mark.graph


def test_adapter_relays_joint_states_and_gripper(ros_node) -> None:
    adapter = GzAdapterNode()
    executor = SingleThreadedExecutor()
    executor.add_node(adapter)
    executor.add_node(ros_node)
    states: list[JointState] = []
    fingers: dict[str, list[float]] = {"l": [], "r": []}
    ros_node.create_subscription(JointState, topics.JOINT_STATES, states.append, 10)
    for side in fingers:
        ros_node.create_subscription(
            Float64, f"gz/finger_{side}/cmd_pos", lambda m, s=side: fingers[s].append(m.data), 10
        )
    gz_pub = ros_node.create_publisher(JointState, "gz/joint_states", 10)
    grip_pub = ros_node.create_publisher(Float64MultiArray, topics.GRIPPER_COMMAND, 10)
    names = ["rail_x", "lift_z", "shoulder", "elbow", "wrist", "finger_l", "finger_r"]
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (states and fingers["l"] and fingers["r"]):
            gz_pub.publish(JointState(name=names, position=[0.5, 0.2, 0.1, -0.2, 0.3, 0.02, 0.015]))
            grip_pub.publish(Float64MultiArray(data=[0.5]))  # beyond max_opening: clamped
            executor.spin_once(timeout_sec=0.1)
        assert states, "no joint_states from the adapter"
        msg = states[-1]
        assert list(msg.name) == ["rail_x", "lift_z", "shoulder", "elbow", "wrist", "gripper"]
        assert list(msg.position) == pytest.approx([0.5, 0.2, 0.1, -0.2, 0.3, 0.035])
        half_max = adapter.store.robot.gripper.max_opening / 2
        assert fingers["l"][-1] == pytest.approx(half_max) and fingers["r"][-1] == pytest.approx(half_max)
    finally:
        executor.remove_node(adapter)
        executor.remove_node(ros_node)
        adapter.destroy_node()
