"""The arm controller with the simulator, as separate processes on DDS: a task moves a real container."""

from __future__ import annotations

import contextlib

import pytest
from diagnostic_msgs.msg import DiagnosticArray
from lockstep_arm import lockstep_params
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, String
from trajectory_msgs.msg import JointTrajectory

from restock import records, topics
from restock.convert import stamp_s
from restock.nodes.base import LATCHED_QOS, RECORD_QOS
from restock.paths import SOURCE_ROOT
from restock.records import SimGroundTruth
from restock.store.description import load_store
from restock.testing.graph import spin_until, wait_for_message, wait_for_record

STORE = "corner_store.yaml"
SIM = {"initial_fill": 0.25, "customers": "none", "real_time_factor": 2.0, "camera_rate_hz": 0.2}


def _publish_when_matched(node, pub, msg, timeout: float = 20.0) -> None:
    import time

    import rclpy

    end = time.monotonic() + timeout
    while pub.get_subscription_count() == 0 and time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.05)
    pub.publish(msg)


def _take_control(ros_node) -> None:
    """Operator "op" takes control (the teleop status the bridge latches)."""
    status = ros_node.create_publisher(String, topics.TELEOP_STATUS, LATCHED_QOS)
    _publish_when_matched(
        ros_node,
        status,
        String(data=records.encode(records.TeleopStatus(stamp=0.0, operator="op", control="operator"))),
    )


@pytest.mark.graph
@pytest.mark.slow
def test_a_task_moves_a_container_from_stock_into_its_lane(ros_graph, ros_node, tmp_path) -> None:
    store = load_store(SOURCE_ROOT / "config" / "stores" / STORE)
    lane = store.lane_by_id["r2_l06"]
    loc = store.stock_for_sku(lane.lane.sku)[0]
    # In lockstep (lockstep_arm.py): racing, a late trajectory's catch-up yanks the container out.
    graph = ros_graph(only=["sim", "arm_controller"], store=STORE, params=lockstep_params(SIM, str(tmp_path / "arm")))
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
    seen: list[JointTrajectory] = []
    ros_node.create_subscription(JointTrajectory, topics.JOINT_TRAJECTORY, seen.append, 10)
    sim_now = [0.0]  # the newest joint_states stamp: the simulator's time as this test last heard it
    ros_node.create_subscription(
        JointState, topics.JOINT_STATES, lambda m: sim_now.__setitem__(0, stamp_s(m.header.stamp)), 10
    )
    pub = ros_node.create_publisher(String, topics.RESTOCK_TASKS, RECORD_QOS)
    _publish_when_matched(ros_node, pub, String(data=records.encode(task)))
    spin_until(ros_node, lambda: any(m.points for m in seen), 60, "the task's first trajectory")
    estop = ros_node.create_publisher(Bool, topics.ESTOP, LATCHED_QOS)
    _publish_when_matched(ros_node, estop, Bool(data=True))
    # Any empty trajectory will not do: a hold for stale joint_states (a loaded machine) looks the
    # same, and the arm may resume after it until the e-stop arrives. The arm says when it has the
    # e-stop (its diagnostics); from then on it sends nothing that moves.
    acked = wait_for_message(
        ros_node,
        DiagnosticArray,
        topics.DIAGNOSTICS,
        lambda m: any(s.name.endswith("arm_controller") and s.message.startswith("e-stop") for s in m.status),
        timeout=20,
    )
    # Anything the arm sent before the e-stop comes before its hold on the topic: wait for that hold.
    spin_until(ros_node, lambda: bool(seen) and not seen[-1].points, 10, "the e-stop's hold")
    after_hold = len(seen)
    # The hold reached the sim when it reached this test; the sim's clock may be ahead of the arm's.
    held_at = max(stamp_s(acked.header.stamp), stamp_s(seen[-1].header.stamp), sim_now[0])
    # The arm stands still from then on: two joint_states a while apart read the same.
    first = wait_for_message(
        ros_node,
        JointState,
        topics.JOINT_STATES,
        lambda m: stamp_s(m.header.stamp) > held_at + 0.5,
        timeout=20,
    )
    stamp = stamp_s(first.header.stamp)
    later = wait_for_message(
        ros_node,
        JointState,
        topics.JOINT_STATES,
        lambda m: stamp_s(m.header.stamp) > stamp + 1.0,
        timeout=20,
    )
    assert not [m for m in seen[after_hold:] if m.points], "a trajectory that moves went out under the e-stop"
    assert list(first.position)[:5] == list(later.position)[:5]


@pytest.mark.graph
def test_teleop_follows_a_target_and_holds_when_targets_stop(ros_graph, ros_node, tmp_path) -> None:
    import math

    import numpy as np
    from geometry_msgs.msg import PoseStamped

    from restock.motion.kinematics import ArmModel

    store = load_store(SOURCE_ROOT / "config" / "stores" / STORE)
    model = ArmModel.from_store(store)
    ros_graph(
        only=["sim", "arm_controller"],
        store=STORE,
        params={"sim": SIM, "arm_controller": {"state_dir": str(tmp_path / "arm")}},
    )
    seen: list[JointTrajectory] = []
    ros_node.create_subscription(JointTrajectory, topics.JOINT_TRAJECTORY, seen.append, 10)
    _take_control(ros_node)
    # Taking control holds the arm first.
    spin_until(ros_node, lambda: any(not m.points for m in seen), 20, "hold on taking control")
    target = ros_node.create_publisher(PoseStamped, topics.TELEOP_TARGET, 10)
    msg = PoseStamped()
    msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = 1.0, -0.02, 0.7
    msg.pose.orientation.z, msg.pose.orientation.w = math.sin(math.pi / 4), math.cos(math.pi / 4)  # yaw +pi/2
    seen.clear()
    _publish_when_matched(ros_node, target, msg)
    spin_until(ros_node, lambda: any(m.points for m in seen), 20, "a trajectory to the target")
    traj = next(m for m in seen if m.points)
    end = model.forward(np.array(traj.points[-1].positions))
    assert np.allclose([end.x, end.y, end.z, end.yaw], [1.0, -0.02, 0.7, math.pi / 2], atol=1e-6)
    # No more targets: the controller holds (an empty trajectory) after the target timeout.
    spin_until(ros_node, lambda: bool(seen) and not seen[-1].points, 20, "hold after the targets stopped")


@pytest.mark.graph
@pytest.mark.slow
def test_an_operator_driving_into_a_shelf_edge_is_stopped_by_the_envelope_before_any_contact(
    ros_graph, ros_node, tmp_path
) -> None:
    """The operator brings the gripper in front of a lane and then steers it into the lane's board edge:
    the envelope refuses that target and the arm holds short, so the simulator, which stops the arm and
    logs ``arm_collision`` at any touch of the case or a shelf, never reports one."""
    import math
    import time

    import rclpy
    from geometry_msgs.msg import PoseStamped

    from restock.motion.kinematics import ArmModel

    store = load_store(SOURCE_ROOT / "config" / "stores" / STORE)
    model = ArmModel.from_store(store)
    lane = store.lane_by_id["r2_l05"]
    graph = ros_graph(
        only=["sim", "arm_controller"],
        store=STORE,
        # In real time: the operator's targets come every 50 ms of wall time, and the arm holds when none
        # came for 0.25 s of sim time.
        params={"sim": {**SIM, "real_time_factor": 1.0}, "arm_controller": {"state_dir": str(tmp_path / "arm")}},
    )
    events: list[records.SimEvent] = []

    def on_truth(msg: String) -> None:
        with contextlib.suppress(records.RecordError):
            events.extend(records.decode(msg.data, SimGroundTruth).events)

    ros_node.create_subscription(String, topics.SIM_GROUND_TRUTH, on_truth, 10)
    states: list[JointState] = []
    ros_node.create_subscription(JointState, topics.JOINT_STATES, states.append, 10)
    _take_control(ros_node)
    spin_until(ros_node, lambda: bool(states), 30, "joint_states")
    spin_until(ros_node, lambda: "operator op in control" in graph.log("arm_controller"), 30, "the operator in control")
    target = ros_node.create_publisher(PoseStamped, topics.TELEOP_TARGET, 10)
    spin_until(ros_node, lambda: target.get_subscription_count() > 0, 30, "the arm listening for targets")
    # In front of the lane, then straight on into it with the grasp centre 1 cm under its board's
    # back edge: the fingers (2 cm below the grasp centre) would hit the board's edge and the dividers.
    z = lane.row.height - 0.01
    start_y = store.case.back_y - 0.05
    msg = PoseStamped()

    def send(x: float, y: float, z: float, yaw: float) -> None:
        """One target, then 50 ms (the arm holds when none came for 0.25 s)."""
        msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = x, y, z
        msg.pose.orientation.z, msg.pose.orientation.w = math.sin(yaw / 2), math.cos(yaw / 2)
        target.publish(msg)
        stop = time.monotonic() + 0.05
        while time.monotonic() < stop:
            rclpy.spin_once(ros_node, timeout_sec=0.01)

    # As an operator's hand moves: from where the gripper is, in small steps, to in front of the lane.
    here = model.forward(list(states[-1].position)[:5])
    front = (lane.lane.x, start_y, z, math.pi / 2)
    for k in range(1, 81):
        w = k / 80
        send(*(a + w * (b - a) for a, b in zip((here.x, here.y, here.z, here.yaw), front, strict=True)))
    for _ in range(40):
        send(*front)
    at = model.forward(list(states[-1].position)[:5])
    assert abs(at.y - start_y) < 0.01 and abs(at.x - lane.lane.x) < 0.01, at  # the arm follows the operator
    for _ in range(60):  # straight on into the board's edge
        send(lane.lane.x, lane.back_y + 0.06, z, math.pi / 2)
    spin_until(ros_node, lambda: "teleop target refused" in graph.log("arm_controller"), 20, "the target refused")
    settle = stamp_s(states[-1].header.stamp) + 2.0
    spin_until(ros_node, lambda: stamp_s(states[-1].header.stamp) > settle, 30, "two more sim seconds")
    q = list(states[-1].position)[:5]
    grasp = model.forward(q)
    assert grasp.y < lane.back_y + 0.01, f"the grasp centre got to y={grasp.y:.3f}, into the board's edge"
    assert [e.detail for e in events if e.kind == "arm_collision"] == []
    assert "Traceback" not in graph.log("arm_controller")
