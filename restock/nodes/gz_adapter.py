"""The Gazebo adapter node: with Gazebo instead of the embedded sim, the same joint_states and gripper interface.

Subscribes: gz/joint_states (bridged from gz-sim's JointStatePublisher, fingers as two joints),
gripper_controller/commands (std_msgs/Float64MultiArray, data[0] = opening in m). Publishes:
joint_states (with ``gripper`` = the fingers' opening), gz/finger_{l,r}/cmd_pos (std_msgs/Float64,
each finger opening / 2), diagnostics. Serves nothing. Settings: NodeSettings (store_file only).

Started as ``restock-sim --gz-adapter`` (launch/gazebo.launch.py), named gz_adapter.
"""

from __future__ import annotations

from sensor_msgs.msg import JointState
from std_msgs.msg import Float64, Float64MultiArray

from restock import topics
from restock.convert import gripper_opening
from restock.nodes.base import OK, RestockNode
from restock.params import NodeSettings, param_specs
from restock.sim.world import JOINT_NAMES


class GzAdapterNode(RestockNode):
    """With Gazebo instead of the embedded sim: the same joint_states and gripper interface.

    gz/joint_states (bridged from gz-sim's JointStatePublisher, fingers as two joints) becomes
    joint_states with ``gripper`` = opening; gripper_controller/commands (data[0] = opening m)
    becomes each finger's position command (opening / 2) on gz/finger_{l,r}/cmd_pos.
    """

    NODE_NAME = "gz_adapter"
    PARAMS = param_specs(NodeSettings)

    def __init__(self) -> None:
        super().__init__()
        self.store = self.load_store()
        self.half_max = self.store.robot.gripper.max_opening / 2
        self.joint_pub = self.create_publisher(JointState, topics.JOINT_STATES, 10)
        self.finger_pubs = [self.create_publisher(Float64, f"gz/finger_{s}/cmd_pos", 10) for s in ("l", "r")]
        self.create_subscription(JointState, "gz/joint_states", self.on_gz_joints, 10)
        self.create_subscription(Float64MultiArray, topics.GRIPPER_COMMAND, self.on_gripper, 10)
        self.set_health(OK, "relaying Gazebo joint states and gripper commands")

    def on_gz_joints(self, msg: JointState) -> None:
        pos = dict(zip(msg.name, msg.position, strict=False))
        vel = dict(zip(msg.name, msg.velocity, strict=False))
        if not all(n in pos for n in (*JOINT_NAMES[:-1], "finger_l", "finger_r")):
            self.get_logger().warning(f"gz/joint_states without the robot's joints: {list(msg.name)}")
            return
        out = JointState(name=list(JOINT_NAMES))
        out.header = msg.header
        out.position = [pos[n] for n in JOINT_NAMES[:-1]] + [pos["finger_l"] + pos["finger_r"]]
        out.velocity = [vel.get(n, 0.0) for n in JOINT_NAMES[:-1]] + [
            vel.get("finger_l", 0.0) + vel.get("finger_r", 0.0)
        ]
        self.joint_pub.publish(out)

    def on_gripper(self, msg: Float64MultiArray) -> None:
        opening = gripper_opening(msg.data)
        if opening is None:
            self.get_logger().warning(
                f"gripper command refused: expected data[0] = opening >= 0 m, got {list(msg.data)}"
            )
            return
        half = min(opening / 2, self.half_max)
        for pub in self.finger_pubs:
            pub.publish(Float64(data=half))
