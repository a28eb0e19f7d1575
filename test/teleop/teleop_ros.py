"""The test's side of the ROS graph for teleop graph and browser tests: a spinning node that
raises handoff requests and records what the bridge publishes (real DDS, real topics)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from geometry_msgs.msg import PoseStamped
from rclpy.executors import SingleThreadedExecutor
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float64, String

from restock import records, topics
from restock.nodes.base import LATCHED_QOS, RECORD_QOS


class RosSide:
    def __init__(self, node: Any) -> None:
        self.node = node
        self.targets: list[PoseStamped] = []
        self.grippers: list[float] = []
        self.statuses: list[records.TeleopStatus] = []
        self.resolutions: list[records.HandoffResolution] = []
        self.estops: list[bool] = []
        self.requests: list[records.HandoffRequest] = []
        self.joint_state: JointState | None = None  # the newest, where a sim or driver publishes
        self._lock = threading.Lock()
        self.handoff_pub = node.create_publisher(String, topics.HANDOFF_REQUESTS, RECORD_QOS)
        node.create_subscription(PoseStamped, topics.TELEOP_TARGET, self._keep(self.targets), 50)
        node.create_subscription(Float64, topics.TELEOP_GRIPPER, lambda m: self._keep(self.grippers)(m.data), 50)
        node.create_subscription(Bool, topics.ESTOP, lambda m: self._keep(self.estops)(m.data), LATCHED_QOS)
        node.create_subscription(
            String, topics.TELEOP_STATUS, self._record(records.TeleopStatus, self.statuses), LATCHED_QOS
        )
        node.create_subscription(
            String, topics.HANDOFF_RESOLUTIONS, self._record(records.HandoffResolution, self.resolutions), RECORD_QOS
        )
        node.create_subscription(
            String, topics.HANDOFF_REQUESTS, self._record(records.HandoffRequest, self.requests), RECORD_QOS
        )
        node.create_subscription(JointState, topics.JOINT_STATES, lambda m: setattr(self, "joint_state", m), 10)
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(node)
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._thread.start()

    def _keep(self, into: list) -> Callable[[Any], None]:
        def keep(item: Any) -> None:
            with self._lock:
                into.append(item)

        return keep

    def _record(self, kind: type[records.Record], into: list) -> Callable[[String], None]:
        def keep(msg: String) -> None:
            with self._lock:
                into.append(records.decode(msg.data, kind))

        return keep

    def raise_handoff(self, request: records.HandoffRequest) -> None:
        self.handoff_pub.publish(String(data=records.encode(request)))

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=2.0)
        self.executor.remove_node(self.node)


def wait(
    predicate: Callable[[], object],
    timeout: float = 20.0,
    what: str = "condition",
    every: Callable[[], None] | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        if every is not None:
            every()
        time.sleep(0.05)


def bridge_url(graph: Any, timeout: float = 30.0) -> str:
    """The operator app's URL from the bridge's log (it listens on port 0: any free port)."""
    found: list[str] = []

    def look() -> bool:
        m = re.search(r"operator app at (https?://[0-9.]+:\d+/)", graph.log("teleop_bridge"))
        if m:
            found.append(m.group(1))
        return bool(found)

    wait(look, timeout, "the bridge's URL in its log")
    return found[0].rstrip("/")


def bridge_params(tmp: Path, operators: Path) -> dict[str, dict[str, object]]:
    return {"teleop_bridge": {"port": 0, "operators_file": str(operators), "state_dir": str(tmp / "teleop")}}
