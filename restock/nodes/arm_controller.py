"""The arm controller node: restock tasks in, safe joint trajectories out.

Inputs: planner/tasks, joint_states, estop, teleop/ee_target, teleop/gripper, teleop/status,
handoff/resolutions. Outputs: arm_controller/joint_trajectory, gripper_controller/commands,
arm_controller/results, handoff/requests.
"""

from __future__ import annotations

from geometry_msgs.msg import PoseStamped
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float64, Float64MultiArray
from trajectory_msgs.msg import JointTrajectory

from restock import records, topics
from restock.nodes.base import LATCHED_QOS, STORE_FILE, WARN, RestockNode, run_node


class ArmControllerNode(RestockNode):
    NODE_NAME = "arm_controller"
    PARAMS = (STORE_FILE,)

    def __init__(self) -> None:
        super().__init__()
        self.store = self.load_store()
        self.trajectory_pub = self.create_publisher(JointTrajectory, topics.JOINT_TRAJECTORY, 10)
        self.gripper_pub = self.create_publisher(Float64MultiArray, topics.GRIPPER_COMMAND, 10)
        self.publish_result = self.create_record_publisher(topics.TASK_RESULTS)
        self.publish_handoff = self.create_record_publisher(topics.HANDOFF_REQUESTS)
        self.create_record_subscription(records.RestockTask, topics.RESTOCK_TASKS, self.on_task)
        self.create_record_subscription(records.HandoffResolution, topics.HANDOFF_RESOLUTIONS, lambda _r: None)
        self.create_record_subscription(records.TeleopStatus, topics.TELEOP_STATUS, lambda _r: None, LATCHED_QOS)
        self.create_subscription(JointState, topics.JOINT_STATES, lambda _m: None, 10)
        self.create_subscription(Bool, topics.ESTOP, lambda _m: None, LATCHED_QOS)
        self.create_subscription(PoseStamped, topics.TELEOP_TARGET, lambda _m: None, 10)
        self.create_subscription(Float64, topics.TELEOP_GRIPPER, lambda _m: None, 10)
        self.set_health(WARN, "not implemented yet: tasks are rejected (issue: arm controller)")

    def on_task(self, task: records.RestockTask) -> None:
        now = self.now_s()
        self.publish_result(
            records.TaskResult(
                task_id=task.task_id,
                lane_id=task.lane_id,
                outcome="rejected",
                placed=0,
                reason="the arm controller is not implemented yet",
                started=now,
                finished=now,
            )
        )


def main() -> None:
    raise SystemExit(run_node(ArmControllerNode))


if __name__ == "__main__":
    main()
