"""The planner node as a real process: tasks from observations, the plan service, and a SIGKILL
mid-day: the restarted node restores its pending task and learned state from SQLite and never
issues a task id twice."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from diagnostic_msgs.msg import DiagnosticArray
from std_msgs.msg import String
from std_srvs.srv import Trigger

from restock import records, topics
from restock.nodes.base import RECORD_QOS
from restock.testing.graph import spin_until, wait_for_message

pytestmark = pytest.mark.graph


def get_plan(node, predicate, timeout: float = 30.0) -> records.PlanSnapshot:
    """Ask planner/get_plan until the answer satisfies ``predicate``, with a fresh client each
    time: after a kill, discovery may still list the dead process's service for a while."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        client = node.create_client(Trigger, topics.PLAN_SERVICE)
        try:
            spin_until(node, client.service_is_ready, max(1.0, deadline - time.monotonic()), "plan service")
            future = client.call_async(Trigger.Request())
            try:
                spin_until(node, future.done, 5.0, "the plan service's answer")
            except TimeoutError:
                continue
            last = records.decode(future.result().message, records.PlanSnapshot)
            if predicate(last):
                return last
        finally:
            node.destroy_client(client)
        time.sleep(0.5)
    raise TimeoutError(f"no matching plan within {timeout} s; last: {last}")


def now_s(node) -> float:
    return node.get_clock().now().nanoseconds * 1e-9


def dropped(msg: DiagnosticArray, node_name: str) -> int:
    """The records_dropped count a node's diagnostics report (-1 if this message is not its)."""
    for status in msg.status:
        if status.name.endswith(f"/{node_name}"):
            return next((int(kv.value) for kv in status.values if kv.key == "records_dropped"), -1)
    return -1


def test_planner_survives_sigkill_without_reissuing_tasks(ros_graph, ros_node, tmp_path: Path) -> None:
    db = tmp_path / "planner.db"
    graph = ros_graph(
        only=["planner"],
        profile="robot",
        params={"planner": {"database_path": str(db), "replan_period_s": 0.5, "save_period_s": 1.0}},
    )
    seen: list[records.RestockTask] = []
    ros_node.create_subscription(
        String, topics.RESTOCK_TASKS, lambda m: seen.append(records.decode(m.data, records.RestockTask)), RECORD_QOS
    )
    obs_pub = ros_node.create_publisher(String, topics.SHELF_OBSERVATIONS, RECORD_QOS)
    result_pub = ros_node.create_publisher(String, topics.TASK_RESULTS, RECORD_QOS)

    def publish_empty(lanes: list[str]) -> None:
        t = now_s(ros_node)
        obs = records.ShelfObservation(
            stamp=t,
            camera_id="cam_left",
            frame_stamp=t,
            lanes=[records.LaneObservation(lane_id=lane, state="empty") for lane in lanes],
        )
        obs_pub.publish(String(data=records.encode(obs)))

    def first_task() -> bool:
        publish_empty(["r1_l01", "r1_l02", "r1_l03"])
        return bool(seen)

    spin_until(ros_node, first_task, 30.0, "a restock task for the empty lanes")
    task = seen[0]
    assert task.lane_id in {"r1_l01", "r1_l02", "r1_l03"}
    get_plan(ros_node, lambda p: bool(p.tasks) and p.tasks[0].task_id == task.task_id)

    # Bad input is dropped (counted in the node's diagnostics) and the node keeps serving.
    bad = records.SaleEvent(stamp=now_s(ros_node) + 3600, sku="cola_500", quantity=1)
    sales_pub = ros_node.create_publisher(String, topics.SALES, RECORD_QOS)
    spin_until(ros_node, lambda: sales_pub.get_subscription_count() > 0, 10.0, "the planner hears pos/sales")
    sales_pub.publish(String(data=records.encode(bad)))
    wait_for_message(ros_node, DiagnosticArray, topics.DIAGNOSTICS, lambda m: dropped(m, "planner") >= 1, 15.0)
    get_plan(ros_node, lambda p: bool(p.tasks) and p.tasks[0].task_id == task.task_id)

    old_pid = graph.pids()["planner"]
    os.kill(old_pid, signal.SIGKILL)
    spin_until(ros_node, lambda: graph.pids().get("planner", old_pid) != old_pid, 60.0, "the planner restarted")
    # The pending task came back from the database.
    get_plan(ros_node, lambda p: bool(p.tasks) and p.tasks[0].task_id == task.task_id, timeout=60.0)
    assert "restored 1 pending task(s) from the database" in graph.log("planner")

    # Finish it; the next task has a new id, and no id was ever published twice.
    t = now_s(ros_node)
    done = records.TaskResult(
        task_id=task.task_id, lane_id=task.lane_id, outcome="done", placed=task.quantity, started=t - 30, finished=t
    )
    result_pub.publish(String(data=records.encode(done)))

    def second_task() -> bool:
        publish_empty([lane for lane in ("r1_l01", "r1_l02", "r1_l03") if lane != task.lane_id])
        return any(s.task_id != task.task_id for s in seen)

    spin_until(ros_node, second_task, 30.0, "a second task after the restart")
    # An outstanding task is sent again after the restart (the arm answers, never repeats): the
    # same record under the same id. A task id was never used for other work.
    by_id: dict[str, set[str]] = {}
    for s in seen:
        by_id.setdefault(s.task_id, set()).add(records.encode(s))
    assert all(len(copies) == 1 for copies in by_id.values()), by_id
    assert "in the future" in graph.log("planner")


def test_corrupt_database_is_reported_and_the_plan_still_served(ros_graph, ros_node, tmp_path: Path) -> None:
    from diagnostic_msgs.msg import DiagnosticStatus

    db = tmp_path / "planner.db"
    garbage = b"not a database at all " * 100
    db.write_bytes(garbage)
    ros_graph(only=["planner"], profile="robot", params={"planner": {"database_path": str(db), "replan_period_s": 0.5}})

    def planner_error(msg: DiagnosticArray) -> bool:
        return any(
            s.name.endswith("/planner") and s.level == DiagnosticStatus.ERROR and "not a database" in s.message
            for s in msg.status
        )

    wait_for_message(ros_node, DiagnosticArray, topics.DIAGNOSTICS, planner_error, timeout=30.0)
    snapshot = get_plan(ros_node, lambda p: p.tasks == [], timeout=30.0)
    assert snapshot.waiting_for_operator == []
    assert db.read_bytes() == garbage  # nothing overwritten: the operator can still rescue it
