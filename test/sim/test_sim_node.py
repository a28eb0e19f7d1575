"""The sim node as a process: a test client moves a container from back-room stock into a lane."""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
from pathlib import Path

import numpy as np
import pytest
from builtin_interfaces.msg import Duration
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Float64MultiArray, String
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from restock import topics
from restock.convert import sec_nanosec
from restock.motion.envelope import Envelope
from restock.motion.kinematics import JOINT_NAMES, ArmModel, Pose
from restock.motion.moves import Mover
from restock.motion.trajectory import Trajectory
from restock.nodes.base import SALES_HISTORY_QOS
from restock.paths import SOURCE_ROOT
from restock.records import RecordError, SaleEvent, SimGroundTruth, decode
from restock.store.description import load_store
from restock.testing.graph import spin_until, wait_for_message, wait_for_record

sys.path.insert(0, str(Path(__file__).parent))

pytestmark = pytest.mark.graph

STORE = "station_kiosk.yaml"
# The arm low at the rail's start, folded in the corridor, out of the customer-facing cameras' view.
PARKED = Pose(0.5, -0.03, 0.3, 0.0)


class Client:
    """Keeps the latest joint state, image and ground truth; sends trajectories and gripper commands."""

    def __init__(self, node: object, camera_id: str) -> None:
        self.node = node
        self.joints: JointState | None = None
        self.images: list[Image] = []
        self.traj = node.create_publisher(JointTrajectory, topics.JOINT_TRAJECTORY, 10)  # type: ignore[attr-defined]
        self.grip = node.create_publisher(Float64MultiArray, topics.GRIPPER_COMMAND, 10)  # type: ignore[attr-defined]
        node.create_subscription(JointState, topics.JOINT_STATES, self._on_joints, 10)  # type: ignore[attr-defined]
        node.create_subscription(Image, topics.camera_image(camera_id), self.images.append, 2)  # type: ignore[attr-defined]

    def _on_joints(self, msg: JointState) -> None:
        self.joints = msg

    def position(self) -> dict[str, float]:
        assert self.joints is not None
        return dict(zip(self.joints.name, self.joints.position, strict=True))

    def sim_time(self) -> float:
        assert self.joints is not None
        return self.joints.header.stamp.sec + self.joints.header.stamp.nanosec * 1e-9

    def move(self, q: dict[str, float], seconds: float = 1.5) -> None:
        msg = JointTrajectory(joint_names=list(q))
        secs = math.floor(seconds)
        msg.points = [
            JointTrajectoryPoint(
                positions=list(q.values()), time_from_start=Duration(sec=secs, nanosec=int((seconds - secs) * 1e9))
            )
        ]
        self.traj.publish(msg)  # header.stamp 0: from receipt
        spin_until(
            self.node,
            lambda: all(abs(self.position()[n] - v) < 1e-6 for n, v in q.items()),
            60,
            f"arm at {q}",
        )

    def arm(self) -> np.ndarray:
        return np.array([self.position()[n] for n in JOINT_NAMES])

    def follow(self, traj: Trajectory) -> np.ndarray:
        """Send a planned trajectory; returns its end once the arm is there."""
        msg = JointTrajectory(joint_names=list(JOINT_NAMES))
        for t, p, v in zip(traj.times, traj.positions, traj.velocities, strict=True):
            sec, nanosec = sec_nanosec(float(t))
            msg.points.append(
                JointTrajectoryPoint(
                    positions=[float(x) for x in p],
                    velocities=[float(x) for x in v],
                    time_from_start=Duration(sec=sec, nanosec=nanosec),
                )
            )
        self.traj.publish(msg)  # header.stamp 0: from receipt
        end = np.asarray(traj.final, dtype=float)
        spin_until(self.node, lambda: np.allclose(self.arm(), end, atol=1e-6), 60, f"arm at {np.round(end, 3)}")
        return end

    def gripper(self, opening: float, until: float | None = None) -> None:
        self.grip.publish(Float64MultiArray(data=[opening]))
        goal = opening if until is None else until
        # Stopped on a container, the fingers press a fraction of a millimetre into it (contact physics).
        tol = 1e-4 if until is None else 1e-3
        spin_until(self.node, lambda: abs(self.position()["gripper"] - goal) < tol, 60, f"gripper at {goal}")

    def image_after(self, t: float) -> np.ndarray:
        def fresh() -> bool:
            return any(m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 > t for m in self.images)

        spin_until(self.node, fresh, 60, f"an image after sim time {t}")
        msg = next(m for m in reversed(self.images) if m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 > t)
        assert msg.encoding == "rgb8"
        return np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.width, 3)


def test_pick_from_stock_into_a_lane_counts_and_shows(ros_graph, ros_node) -> None:
    store = load_store(SOURCE_ROOT / "config" / "stores" / STORE)
    cam = store.cameras[0]
    lane = store.lanes_seen_by(cam.id)[1]
    loc = store.stock_for_sku(lane.lane.sku)[0]
    graph = ros_graph(
        only=["sim"],
        store=STORE,
        params={
            "sim": {"initial_fill": 0.0, "customers": "none", "real_time_factor": 0.0, "camera_rate_hz": 2.0}
        },  # racing; commands cap it at active_real_time_factor
    )
    client = Client(ros_node, cam.id)
    clock = wait_for_message(ros_node, Clock, topics.CLOCK)
    assert clock.clock.sec >= 1_783_317_600  # 2026-07-06T06:00Z, sim time since the epoch
    info = wait_for_message(ros_node, CameraInfo, topics.camera_info(cam.id))
    assert info.header.frame_id == f"{cam.id}_optical_frame"
    assert np.allclose(np.array(info.k).reshape(3, 3), cam.model.intrinsics)
    truth = wait_for_record(ros_node, SimGroundTruth, topics.SIM_GROUND_TRUTH)
    assert truth.lanes[lane.id].count == 0
    spin_until(ros_node, lambda: client.joints is not None, 30, "joint_states")
    assert list(client.joints.name) == ["rail_x", "lift_z", "shoulder", "elbow", "wrist", "gripper"]
    before = client.image_after(client.sim_time())
    # Bad commands are refused with a reason and never move anything.
    bad = JointTrajectory(joint_names=["rail_x", "no_such_joint"])
    bad.points = [JointTrajectoryPoint(positions=[1.0, 0.0], time_from_start=Duration(sec=1))]
    client.traj.publish(bad)
    client.grip.publish(Float64MultiArray(data=[]))
    spin_until(ros_node, lambda: "trajectory refused" in graph.log("sim"), 30, "the bad trajectory refused")
    spin_until(ros_node, lambda: "gripper command refused" in graph.log("sim"), 30, "the bad gripper command refused")
    assert client.position()["rail_x"] == 0.0

    # The arm's own planner (the envelope admits every move) plans the moves, the simulator carries
    # them out: a straight joint move through the case would touch its shelves, and the simulator
    # stops the arm on any touch.
    mover = Mover(store, Envelope(ArmModel.from_store(store)))
    across = store.skus[lane.lane.sku].across
    held, at_stock, at_lane = mover.held_for(lane.lane.sku), mover.stock_openings(loc.id), mover.lane_openings(lane.id)
    client.gripper(across + 0.02)
    q = client.follow(mover.joint_move(client.arm(), mover.pre_pick(loc.id), None, at_stock, across + 0.02))
    q = client.follow(mover.line(q, mover.pick(loc.id), None, at_stock, across + 0.02))
    client.gripper(0.0, until=across)  # the fingers stop on the container: it is held
    q = client.follow(mover.line(q, mover.pre_pick(loc.id, lifted=True), held, at_stock))
    q = client.follow(mover.joint_move(q, mover.pre_place(lane.id), held, at_lane))
    q = client.follow(mover.line(q, mover.place(lane.id), held, at_lane))
    client.gripper(across + 0.01)  # let go, the fingers still inside the lane
    truth = wait_for_record(
        ros_node, SimGroundTruth, topics.SIM_GROUND_TRUTH, lambda r: r.lanes[lane.id].count == 1, timeout=60
    )
    assert truth.stock[loc.id] == loc.quantity - 1
    q = client.follow(mover.line(q, mover.pre_place(lane.id), None, at_lane, across + 0.01))
    client.follow(mover.joint_move(q, PARKED, None, [], across + 0.01))  # out of the camera's way
    after = client.image_after(client.sim_time())

    (u, v), _ = cam.model.project(np.array(lane.front_point()))[0][0], None
    patch = (slice(max(int(v) - 15, 0), int(v) + 15), slice(max(int(u) - 10, 0), int(u) + 10))
    assert np.abs(after[patch].astype(int) - before[patch].astype(int)).mean() > 20, "the new container is not seen"
    assert "Traceback" not in graph.log("sim")


def test_sales_log_replay_counts_sales_and_lost_sales(ros_graph, ros_node, tmp_path: Path) -> None:
    from restock.demand.generator import Sale
    from restock.demand.saleslog import write_sales_log
    from restock.sim.world import DEFAULT_START, parse_time

    store = load_store(SOURCE_ROOT / "config" / "stores" / STORE)
    sku = "sparkling_water_500"
    stocked = sum(round(lv.lane.capacity * 0.1) for lv in store.lanes if lv.lane.sku == sku)
    log = tmp_path / "sales.csv"
    t0 = parse_time(DEFAULT_START)
    write_sales_log(log, [Sale(t0 + 5, sku, stocked), Sale(t0 + 8, sku, 2), Sale(t0 + 9, "milk_tea_can", 1)])
    ros_graph(
        only=["sim"],
        store=STORE,
        params={
            "sim": {
                "customers": "sales_log",
                "sales_log": str(log),
                "initial_fill": 0.1,
                "real_time_factor": 0.0,  # as fast as it goes
                "camera_rate_hz": 0.1,
                "scripted_events": "+3 unfamiliar r1_l01 0; +4 hand cam_front",
            }
        },
    )
    truth = wait_for_record(ros_node, SimGroundTruth, topics.SIM_GROUND_TRUTH, lambda r: r.stamp > t0 + 10, timeout=60)
    assert truth.sales[sku] == stocked and truth.lost_sales[sku] == 2
    assert truth.sales["milk_tea_can"] == 1
    assert truth.lanes["r1_l01"].items[0] == "unfamiliar"  # the scripted event happened
    assert all(t.count == 0 for lid, t in truth.lanes.items() if store.lane_by_id[lid].lane.sku == sku)


def test_demand_model_customers_buy_and_lose_sales(ros_graph, ros_node) -> None:
    ros_graph(
        only=["sim"],
        store=STORE,
        params={
            "sim": {
                "customers": "demand",
                "containers_per_day": 5000.0,
                "initial_fill": 0.2,
                "real_time_factor": 0.0,
                "camera_rate_hz": 0.01,
            }
        },
    )
    truth = wait_for_record(
        ros_node,
        SimGroundTruth,
        topics.SIM_GROUND_TRUTH,
        lambda r: sum(r.sales.values()) > 10 and sum(r.lost_sales.values()) > 0,
        timeout=90,
    )
    assert sum(t.count for t in truth.lanes.values()) < sum(
        lv.lane.capacity for lv in load_store(SOURCE_ROOT / "config" / "stores" / STORE).lanes
    )


def test_joint_states_slow_down_at_rest_and_come_back_on_a_command(ros_graph, ros_node) -> None:
    ros_graph(
        only=["sim"],
        store=STORE,
        params={
            "sim": {
                "customers": "none",
                "real_time_factor": 0.0,
                "camera_rate_hz": 0.01,
                "joint_state_rate_hz": 10.0,
                "idle_joint_state_rate_hz": 1.0,
                "active_hold_s": 5.0,
            }
        },
    )
    stamps: list[float] = []
    ros_node.create_subscription(
        JointState, topics.JOINT_STATES, lambda m: stamps.append(m.header.stamp.sec + m.header.stamp.nanosec * 1e-9), 50
    )
    spin_until(ros_node, lambda: len(stamps) > 20, 60, "idle joint_states")
    idle = np.diff(stamps[-10:])
    assert np.all(idle > 0.9), idle  # at rest: about one a sim second
    grip = ros_node.create_publisher(Float64MultiArray, topics.GRIPPER_COMMAND, 10)
    spin_until(ros_node, lambda: grip.get_subscription_count() > 0, 30, "the sim hears gripper commands")
    n = len(stamps)
    grip.publish(Float64MultiArray(data=[0.05]))

    def full_rate() -> bool:  # the sim may have raced on a few idle seconds before it read the command
        return int(np.sum(np.abs(np.diff(stamps[n:]) - 0.1) < 0.02)) >= 20

    spin_until(ros_node, full_rate, 60, "joint_states at 10 Hz after a command")


def test_a_killed_sim_resumes_the_store_from_its_checkpoint(ros_graph, ros_node, tmp_path: Path) -> None:
    state = tmp_path / "sim_state.db"
    graph = ros_graph(
        only=["sim"],
        store=STORE,
        params={
            "sim": {
                "customers": "demand",
                "containers_per_day": 20000.0,
                "initial_fill": 0.5,
                "real_time_factor": 50.0,
                "camera_rate_hz": 0.01,
                "ground_truth_period_s": 10.0,
                "state_path": str(state),
            }
        },
    )
    sales: list[SaleEvent] = []

    def on_sale(msg: String) -> None:
        with contextlib.suppress(RecordError):
            sales.append(decode(msg.data, SaleEvent))

    ros_node.create_subscription(String, topics.SALES, on_sale, SALES_HISTORY_QOS)
    before = wait_for_record(
        ros_node, SimGroundTruth, topics.SIM_GROUND_TRUTH, lambda r: sum(r.sales.values()) >= 5, timeout=60
    )
    old_pid = graph.pids()["sim"]
    os.kill(old_pid, signal.SIGKILL)
    spin_until(ros_node, lambda: graph.pids().get("sim", old_pid) != old_pid, 60.0, "the sim restarted")
    after = wait_for_record(
        ros_node, SimGroundTruth, topics.SIM_GROUND_TRUTH, lambda r: r.stamp > before.stamp, timeout=60
    )
    assert "resumed the store from" in graph.log("sim")
    # The store went on where it was: the tills' counts and the lanes' contents carried over.
    assert sum(after.sales.values()) >= sum(before.sales.values())
    spin_until(ros_node, lambda: len({s.seq for s in sales}) > 0, 10.0, "sales on the till feed")
    # Every receipt number stands for one sale: none reused after the restart, and the feed
    # holds as many distinct receipts as the tills counted by the time of the last one heard.
    last = wait_for_record(
        ros_node,
        SimGroundTruth,
        topics.SIM_GROUND_TRUTH,
        lambda r: sum(r.sales.values()) > sum(after.sales.values()),
        timeout=60,
    )
    spin_until(ros_node, lambda: max(s.seq or 0 for s in sales) >= sum(last.sales.values()), 10.0, "the feed")
    by_seq: dict[int, SaleEvent] = {}
    for s in sales:
        assert by_seq.setdefault(s.seq or 0, s) == s, f"receipt {s.seq} reused"
    assert set(by_seq) == set(range(1, max(by_seq) + 1))  # no gap: no sale lost from the feed
