"""Topic and service names of the graph, in one place (relative names: a robot namespace applies)."""

from __future__ import annotations

# Standard messages (hardware drivers, Gazebo bridges, RViz and Foxglove plug in unchanged).
CLOCK = "/clock"  # rosgraph_msgs/Clock, from the simulator
DIAGNOSTICS = "/diagnostics"  # diagnostic_msgs/DiagnosticArray, every node
JOINT_STATES = "joint_states"  # sensor_msgs/JointState, driver or sim
JOINT_TRAJECTORY = "arm_controller/joint_trajectory"  # trajectory_msgs/JointTrajectory, to driver or sim
GRIPPER_COMMAND = "gripper_controller/commands"  # std_msgs/Float64MultiArray [opening m], to driver or sim
ESTOP = "estop"  # std_msgs/Bool, latched; True holds the arm
TELEOP_TARGET = "teleop/ee_target"  # geometry_msgs/PoseStamped, operator's end-effector target
TELEOP_GRIPPER = "teleop/gripper"  # std_msgs/Float64, operator's gripper opening (m)
PLAN_MARKERS = "planner/markers"  # visualization_msgs/MarkerArray


def camera_image(camera_id: str) -> str:
    return f"cameras/{camera_id}/image_raw"  # sensor_msgs/Image


def camera_info(camera_id: str) -> str:
    return f"cameras/{camera_id}/camera_info"  # sensor_msgs/CameraInfo


def camera_depth(camera_id: str) -> str:
    return f"cameras/{camera_id}/depth/image_raw"  # sensor_msgs/Image 32FC1 (m), an RGB-D camera's


def camera_trigger(camera_id: str) -> str:
    return f"cameras/{camera_id}/trigger"  # std_msgs/Header: take one frame now (frame_id says why)


def camera_debug_image(camera_id: str) -> str:
    return f"cameras/{camera_id}/detections_image"  # sensor_msgs/Image, annotated


# Domain records (restock.records, JSON in std_msgs/String).
SHELF_OBSERVATIONS = "shelf/observations"  # ShelfObservation, per camera frame
RESTOCK_TASKS = "planner/tasks"  # RestockTask
TASK_RESULTS = "arm_controller/results"  # TaskResult
HANDOFF_REQUESTS = "handoff/requests"  # HandoffRequest, from cameras, arm and planner
HANDOFF_RESOLUTIONS = "handoff/resolutions"  # HandoffResolution, from the teleop bridge
TELEOP_STATUS = "teleop/status"  # TeleopStatus, latched
SALES = "pos/sales"  # SaleEvent, from a point-of-sale feed (optional, outside the graph)
SIM_GROUND_TRUTH = "sim/ground_truth"  # evaluation only: never read by the stack
BACKROOM_ALERTS = "planner/backroom_alerts"  # BackroomAlert, from the planner to staff (transient local)
BACKROOM_RESTOCKS = "backroom/restocks"  # BackroomRestock, staff (or the simulator's staff) to the planner
LOCKSTEP_ACKS = "lockstep/acks"  # LockstepAck, participants to the simulator (restock.graph.lockstep)

# Services.
PLAN_SERVICE = "planner/get_plan"  # std_srvs/Trigger: message holds the PlanSnapshot JSON
