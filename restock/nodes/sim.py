"""The simulator node: the MuJoCo store as a robot's drivers would present it.

Inputs: arm_controller/joint_trajectory, gripper_controller/commands.
Outputs: /clock, joint_states, cameras/<id>/image_raw + camera_info, sim/ground_truth.
"""

from __future__ import annotations

from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Float64MultiArray, String
from trajectory_msgs.msg import JointTrajectory

from restock import topics
from restock.nodes.base import STORE_FILE, WARN, RestockNode, run_node


class SimNode(RestockNode):
    NODE_NAME = "sim"
    PARAMS = (STORE_FILE,)

    def __init__(self) -> None:
        super().__init__()
        self.store = self.load_store()
        self.clock_pub = self.create_publisher(Clock, topics.CLOCK, 10)
        self.joint_pub = self.create_publisher(JointState, topics.JOINT_STATES, 10)
        self.truth_pub = self.create_publisher(String, topics.SIM_GROUND_TRUTH, 10)
        self.image_pubs = {
            c.id: (
                self.create_publisher(Image, topics.camera_image(c.id), 2),
                self.create_publisher(CameraInfo, topics.camera_info(c.id), 2),
            )
            for c in self.store.cameras
        }
        self.create_subscription(JointTrajectory, topics.JOINT_TRAJECTORY, self.on_trajectory, 10)
        self.create_subscription(Float64MultiArray, topics.GRIPPER_COMMAND, self.on_gripper, 10)
        self.set_health(WARN, "not implemented yet: no physics, no rendering (issue: store and simulator)")

    def on_trajectory(self, msg: JointTrajectory) -> None:
        self.get_logger().warning("trajectory ignored: the simulator is not implemented yet")

    def on_gripper(self, msg: Float64MultiArray) -> None:
        self.get_logger().warning("gripper command ignored: the simulator is not implemented yet")


def main() -> None:
    raise SystemExit(run_node(SimNode))


if __name__ == "__main__":
    main()
