"""The teleop bridge node: handoff requests to a remote operator, the operator's targets back.

Inputs: handoff/requests, cameras/<id>/image_raw, joint_states, arm_controller/results.
Outputs: teleop/ee_target, teleop/gripper, teleop/status, handoff/resolutions, estop.
"""

from __future__ import annotations

from geometry_msgs.msg import PoseStamped
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Bool, Float64

from restock import records, topics
from restock.nodes.base import LATCHED_QOS, STORE_FILE, WARN, RestockNode, run_node


class TeleopBridgeNode(RestockNode):
    NODE_NAME = "teleop_bridge"
    PARAMS = (STORE_FILE,)

    def __init__(self) -> None:
        super().__init__()
        self.store = self.load_store()
        self.target_pub = self.create_publisher(PoseStamped, topics.TELEOP_TARGET, 10)
        self.gripper_pub = self.create_publisher(Float64, topics.TELEOP_GRIPPER, 10)
        self.estop_pub = self.create_publisher(Bool, topics.ESTOP, LATCHED_QOS)
        self.publish_status = self.create_record_publisher(topics.TELEOP_STATUS, LATCHED_QOS)
        self.publish_resolution = self.create_record_publisher(topics.HANDOFF_RESOLUTIONS)
        self.create_record_subscription(records.HandoffRequest, topics.HANDOFF_REQUESTS, lambda _r: None)
        self.create_record_subscription(records.TaskResult, topics.TASK_RESULTS, lambda _r: None)
        self.create_subscription(JointState, topics.JOINT_STATES, lambda _m: None, 10)
        for cam in self.store.cameras:
            self.create_subscription(Image, topics.camera_image(cam.id), lambda _m: None, 2)
        self.publish_status(records.TeleopStatus(stamp=self.now_s(), control="autonomy"))
        self.set_health(WARN, "not implemented yet: no operator server (issue: teleop bridge)")


def main() -> None:
    raise SystemExit(run_node(TeleopBridgeNode))


if __name__ == "__main__":
    main()
