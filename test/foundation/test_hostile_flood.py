"""A flood of hostile messages on every record topic (pos/sales included) and on estop: no node
exits, the planner's sales history and task queue are as they were, and the arm holds while the
e-stop is on, then still answers it (issue 22).

The simulator, planner, arm controller and teleop bridge run as processes on DDS; the test is the
till, the e-stop button and an attacker on the same graph.
"""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import psutil
import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import Bool, String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from restock import records, topics
from restock.nodes.base import LATCHED_QOS
from restock.paths import SOURCE_ROOT
from restock.store.description import load_store
from restock.testing import hostile
from restock.testing.graph import spin_until, wait_for_record

pytestmark = [pytest.mark.graph, pytest.mark.slow]

STORE = "corner_store.yaml"
NODES = ["sim", "planner", "arm_controller", "teleop_bridge"]
SIM = {"initial_fill": 0.25, "customers": "none", "real_time_factor": 2.0, "camera_rate_hz": 0.2}
HOSTILE_TOTAL = 1000  # messages in the flood, e-stop presses besides
# What each record topic carries (the flood aims at it); a String topic not listed gets raw fragments.
TOPIC_KINDS = {
    "/" + topics.SHELF_OBSERVATIONS: "shelf_observation",
    "/" + topics.RESTOCK_TASKS: "restock_task",
    "/" + topics.TASK_RESULTS: "task_result",
    "/" + topics.HANDOFF_REQUESTS: "handoff_request",
    "/" + topics.HANDOFF_RESOLUTIONS: "handoff_resolution",
    "/" + topics.TELEOP_STATUS: "teleop_status",
    "/" + topics.SALES: "sale_event",
    "/" + topics.BACKROOM_ALERTS: "backroom_alert",
    "/" + topics.BACKROOM_RESTOCKS: "backroom_restock",
}


def hostile_messages(topic_kinds: dict[str, str | None], total: int) -> list[tuple[str, str]]:
    """``total`` (topic, text) pairs, round robin over the topics: the issue's cases first, then
    seeded mutations; each one a record its topic's readers refuse, and sendable as a String."""
    rng = random.Random(22)
    pools: dict[str, list[str]] = {}
    for topic, kind in sorted(topic_kinds.items(), key=lambda item: item[0]):
        if kind is None:
            pools[topic] = [f for f in hostile.FRAGMENTS if sendable(f)]
            continue
        candidates = [*hostile.table_cases(kind).values(), *hostile.fuzz_inputs(rng, kind, 4 * total)]
        pools[topic] = [t for t in candidates if isinstance(t, str) and sendable(t) and refused(t, kind)]
    out: list[tuple[str, str]] = []
    while len(out) < total:
        for topic, pool in pools.items():
            out.append((topic, pool[len(out) // len(pools) % len(pool)]))
    return out[:total]


def sendable(text: str) -> bool:
    try:
        text.encode("utf-8")  # a String travels as UTF-8: a raw lone surrogate cannot be sent
    except UnicodeEncodeError:
        return False
    return True


def refused(text: str, kind: str) -> bool:
    try:
        records.decode(text, records.RECORD_TYPES[kind])
    except records.RecordError:
        return True
    return False


def string_topics(node: rclpy.node.Node, names: list[str]) -> dict[str, list[str]]:
    """The std_msgs/String topics each named node subscribes to."""
    out: dict[str, list[str]] = {}
    for name in names:
        for topic, types in node.get_subscriber_names_and_types_by_node(name, "/"):
            if "std_msgs/msg/String" in types:
                out.setdefault(topic, []).append(name)
    return out


# Transient local: latched readers (teleop/status, the till's history on pos/sales) match it too.
WRITER_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)


def publisher_for(node: rclpy.node.Node, topic: str, readers: int) -> object:
    pub = node.create_publisher(String, topic, WRITER_QOS)
    spin_until(node, lambda: pub.get_subscription_count() >= readers, 20.0, f"{readers} readers of {topic} matched")
    return pub


def journaled_sales(db: Path) -> list[int]:
    """Receipt numbers of the sales the planner has saved to its journal, in order."""
    if not db.exists():
        return []
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        try:
            rows = conn.execute("SELECT body FROM events WHERE kind = 'sale_event' ORDER BY id").fetchall()
        except sqlite3.OperationalError:  # not created yet
            return []
    return [records.decode(body, records.SaleEvent).seq for (body,) in rows]  # type: ignore[misc]


def plan_tasks(node: rclpy.node.Node) -> list[str]:
    client = node.create_client(Trigger, topics.PLAN_SERVICE)
    try:
        spin_until(node, client.service_is_ready, 20.0, "the plan service")
        future = client.call_async(Trigger.Request())
        spin_until(node, future.done, 20.0, "the plan service's answer")
        return [records.encode(t) for t in records.decode(future.result().message, records.PlanSnapshot).tasks]
    finally:
        node.destroy_client(client)


def test_hostile_flood_leaves_every_node_up_and_the_arm_held(ros_graph, ros_node) -> None:
    store = load_store(SOURCE_ROOT / "config" / "stores" / STORE)
    lane = store.lane_by_id["r1_l11"]
    graph = ros_graph(only=NODES, store=STORE, params={"sim": SIM, "planner": {"save_period_s": 1.0}})
    pids = graph.pids()
    db = graph.log_dir / "planner.db"

    trajectories: list[JointTrajectory] = []
    ros_node.create_subscription(JointTrajectory, topics.JOINT_TRAJECTORY, trajectories.append, 50)
    dropped: dict[str, int] = {}

    def on_diagnostics(msg: DiagnosticArray) -> None:
        for status in msg.status:
            values = {kv.key: kv.value for kv in status.values}
            if "records_dropped" in values:
                dropped[status.name.rsplit("/", 1)[-1]] = int(values["records_dropped"])

    ros_node.create_subscription(DiagnosticArray, topics.DIAGNOSTICS, on_diagnostics, 50)

    # The till's first sale, counted.
    truth = wait_for_record(ros_node, records.SimGroundTruth, topics.SIM_GROUND_TRUTH, timeout=60)
    sales = publisher_for(ros_node, "/" + topics.SALES, 2)  # the planner reads the till twice
    sale = records.SaleEvent(stamp=truth.stamp, sku=lane.lane.sku, quantity=1, seq=9001)
    sales.publish(String(data=records.encode(sale)))
    spin_until(ros_node, lambda: journaled_sales(db) == [9001], 30, "the first sale in the planner's journal")

    # The arm on a task, then e-stopped: it holds (an empty trajectory).
    loc = store.stock_for_sku(lane.lane.sku)[0]
    task = records.RestockTask(
        task_id="flood-t1", lane_id=lane.id, sku=lane.lane.sku, quantity=1, stock_location=loc.id, created=0.0
    )
    publisher_for(ros_node, "/" + topics.RESTOCK_TASKS, 1).publish(String(data=records.encode(task)))
    spin_until(ros_node, lambda: any(t.points for t in trajectories), 60, "the task's first trajectory")
    estop = ros_node.create_publisher(Bool, topics.ESTOP, LATCHED_QOS)
    spin_until(ros_node, lambda: estop.get_subscription_count() >= 2, 20, "the e-stop's readers matched")
    estop.publish(Bool(data=True))
    spin_until(ros_node, lambda: not trajectories[-1].points, 10, "the hold (an empty trajectory)")
    held_from = len(trajectories)
    queue = plan_tasks(ros_node)

    # The flood: every record topic our nodes read, and the e-stop pressed again and again.
    targets = string_topics(ros_node, NODES)
    assert set(TOPIC_KINDS) <= set(targets), f"record topics nobody reads: {set(TOPIC_KINDS) - set(targets)}"
    # Mostly malformed records; and well-formed sales the planner must refuse (an unknown SKU or
    # lane, a stamp a day ahead): the till is outside the graph.
    lies = [
        sale.model_copy(update={"seq": 10_000 + i, **change})
        for i, change in enumerate(
            [{"sku": "no_such_sku"}, {"lane_id": "no_such_lane"}, {"stamp": truth.stamp + 86_400}] * 33
        )
    ]
    messages = hostile_messages({t: TOPIC_KINDS.get(t) for t in targets}, HOSTILE_TOTAL - len(lies))
    messages += [("/" + topics.SALES, records.encode(lie)) for lie in lies]
    pubs = {topic: publisher_for(ros_node, topic, len(readers)) for topic, readers in targets.items()}
    for i, (topic, text) in enumerate(messages):
        pubs[topic].publish(String(data=text))
        if i % 10 == 0:
            estop.publish(Bool(data=True))
            rclpy.spin_once(ros_node, timeout_sec=0.01)

    # The till's second sale comes after the flood on the same topic: once it is journaled, the
    # planner has read the whole flood on pos/sales.
    truth = wait_for_record(ros_node, records.SimGroundTruth, topics.SIM_GROUND_TRUTH, timeout=30)
    sales.publish(String(data=records.encode(sale.model_copy(update={"seq": 9002, "stamp": truth.stamp}))))
    spin_until(ros_node, lambda: journaled_sales(db) == [9001, 9002], 30, "the second sale in the journal")
    spin_until(ros_node, lambda: all(dropped.get(n, 0) > 0 for n in NODES), 20, "every node counted drops")

    assert plan_tasks(ros_node) == queue, "the planner's task queue changed under the flood"
    moved = [t for t in trajectories[held_from:] if t.points]
    assert not moved, f"{len(moved)} trajectories published while the e-stop was on"
    # Logged in few lines: one per kind of problem per period (the planner heard ~500 bad sales).
    lines = graph.log("planner").count("dropped")
    assert lines > 0 and 4 * lines < dropped["planner"], (lines, dropped)
    for name, pid in pids.items():
        assert graph.pids()[name] == pid, f"{name} was restarted: it crashed"
        assert psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE, f"{name} exited"
        log = graph.log(name)
        assert "Traceback" not in log, f"{name} logged a traceback:\n{log[-2000:]}"

    # Still answering: released, the arm moves again; pressed, it holds again.
    estop.publish(Bool(data=False))
    spin_until(ros_node, lambda: any(t.points for t in trajectories[held_from:]), 60, "a trajectory after release")
    estop.publish(Bool(data=True))
    spin_until(ros_node, lambda: not trajectories[-1].points, 10, "the hold after the flood")
