"""Teleop latency of the arm controller: PoseStamped target -> JointTrajectory, p50/p99 (goal: p99 <= 20 ms).

1. Over DDS: the simulator and the arm controller run as processes (`restock up`, confined
   domain); this process takes operator control (teleop/status), then sends teleop/ee_target
   poses on a small circle around the arm's grasp centre at --rate Hz and times, on one clock,
   each target from publish to the arrival of the JointTrajectory it caused (IK, ruckig from
   the commanded state, the envelope, serialisation and DDS both ways).
2. In process: the same pipeline (TeleopFollower.on_target + step) without DDS, per target.

Usage: .venv/bin/python bench/arm_teleop_latency.py [--targets 500] [--rate 100] [--store corner_store]
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from restock.rosenv import claim_domain_id, ros_environment  # noqa: E402
from restock.testing.graph import RosGraph  # noqa: E402


def pct(ms: list[float]) -> str:
    a = np.array(ms)
    return f"n={a.size} p50 {np.percentile(a, 50):.2f} ms, p90 {np.percentile(a, 90):.2f} ms, p99 {np.percentile(a, 99):.2f} ms, max {a.max():.2f} ms"


def circle(centre, i: int, rate: float) -> tuple[float, float, float]:
    t = i / rate
    return centre[0] + 0.05 * math.cos(t), centre[1] + 0.03 * math.sin(t), centre[2] + 0.02 * math.sin(0.5 * t)


def in_process(store_name: str, n: int, rate: float) -> list[float]:
    from restock.motion.envelope import Envelope
    from restock.motion.kinematics import ArmModel, Pose
    from restock.motion.moves import Mover
    from restock.motion.teleop import TeleopFollower
    from restock.paths import store_file
    from restock.store.description import load_store

    store = load_store(store_file(f"{store_name}.yaml"))
    model = ArmModel.from_store(store)
    follower = TeleopFollower(Mover(store, Envelope(model)), Envelope(model, 0.5))
    q = model.inverse(Pose(1.0, -0.02, 0.7, math.pi / 2))
    v = a = np.zeros(5)
    centre = model.forward(q).as_array()
    out = []
    for i in range(n):
        x, y, z = circle(centre, i, rate)
        t0 = time.perf_counter()
        follower.on_target(x, y, z, math.pi / 2, i / rate, q)
        cmd = follower.step(i / rate, q, v, a, held=False)
        out.append((time.perf_counter() - t0) * 1e3)
        if cmd is not None and hasattr(cmd, "trajectory"):
            q, v, a = cmd.trajectory.state_at(1.0 / rate)
    return out


def over_dds(store_name: str, n: int, rate: float) -> list[float]:
    domain, _lock = claim_domain_id()
    os.environ.update(ros_environment(domain))
    # The node processes import this checkout, not an older installed copy.
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    import rclpy
    from geometry_msgs.msg import PoseStamped
    from sensor_msgs.msg import JointState
    from std_msgs.msg import String
    from trajectory_msgs.msg import JointTrajectory

    from restock import records, topics
    from restock.motion.kinematics import ArmModel
    from restock.nodes.base import LATCHED_QOS
    from restock.paths import store_file
    from restock.store.description import load_store

    store = load_store(store_file(f"{store_name}.yaml"))
    model = ArmModel.from_store(store)
    tmp = Path(tempfile.mkdtemp(prefix="arm-latency-"))
    graph = RosGraph(
        tmp / "graph",
        only=["sim", "arm_controller"],
        store=f"{store_name}.yaml",
        params={
            "sim": {"customers": "none", "camera_rate_hz": 0.1, "joint_state_rate_hz": 100.0},
            "arm_controller": {"state_dir": str(tmp / "arm")},
        },
    ).start()
    rclpy.init()
    node = rclpy.create_node("arm_latency_bench")
    try:
        graph.wait_for_nodes(node, ["sim", "arm_controller"], 90)
        state: dict[str, object] = {"joints": None, "traj": None}
        node.create_subscription(JointState, topics.JOINT_STATES, lambda m: state.__setitem__("joints", m), 10)

        def on_traj(msg: JointTrajectory) -> None:
            if msg.points:
                state["traj"] = time.perf_counter()

        node.create_subscription(JointTrajectory, topics.JOINT_TRAJECTORY, on_traj, 10)
        status_pub = node.create_publisher(String, topics.TELEOP_STATUS, LATCHED_QOS)
        target_pub = node.create_publisher(PoseStamped, topics.TELEOP_TARGET, 10)
        end = time.monotonic() + 30
        while (state["joints"] is None or target_pub.get_subscription_count() == 0) and time.monotonic() < end:
            rclpy.spin_once(node, timeout_sec=0.05)
        status = records.TeleopStatus(stamp=0.0, operator="bench", control="operator")
        status_pub.publish(String(data=records.encode(status)))
        for _ in range(40):  # let the controller take the status before the first target
            rclpy.spin_once(node, timeout_sec=0.025)
        js = state["joints"]
        q = np.array([js.position[list(js.name).index(n)] for n in ("rail_x", "lift_z", "shoulder", "elbow", "wrist")])
        centre = model.forward(q).as_array()
        yaw = centre[3]
        out = []
        period = 1.0 / rate
        next_t = time.perf_counter()
        for i in range(n):
            x, y, z = circle(centre, i, rate)
            msg = PoseStamped()
            msg.header.frame_id = "store"
            msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = x, y, z
            msg.pose.orientation.z, msg.pose.orientation.w = math.sin(yaw / 2), math.cos(yaw / 2)
            state["traj"] = None
            t0 = time.perf_counter()
            target_pub.publish(msg)
            while state["traj"] is None and time.perf_counter() - t0 < 0.5:
                rclpy.spin_once(node, timeout_sec=0.001)
            if state["traj"] is not None:
                out.append((state["traj"] - t0) * 1e3)
            next_t += period
            while time.perf_counter() < next_t:
                rclpy.spin_once(node, timeout_sec=max(0.0, next_t - time.perf_counter()))
        return out
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
        graph.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", type=int, default=500)
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--store", default="corner_store")
    args = ap.parse_args()
    print(f"command: .venv/bin/python bench/arm_teleop_latency.py {shlex.join(sys.argv[1:])}")
    local = in_process(args.store, args.targets, args.rate)
    print(f"in process (IK + ruckig + envelope): {pct(local)}")
    dds = over_dds(args.store, args.targets, args.rate)
    print(f"over DDS (target published -> JointTrajectory received): {pct(dds)}, answered {len(dds)}/{args.targets}")


if __name__ == "__main__":
    main()
