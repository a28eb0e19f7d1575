"""Back-room alerts end to end, planner and simulator as processes: a back room about to run dry
raises an alert with its lead time, the simulated staff bring stock, the alert clears, and a
restarted planner keeps the back-room counts it had (not the store file's)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest
import yaml
from diagnostic_msgs.msg import DiagnosticArray
from std_msgs.msg import String

from restock import records, topics
from restock.demand.generator import Sale
from restock.demand.saleslog import write_sales_log
from restock.nodes.base import ALERT_QOS
from restock.paths import store_file
from restock.planning.core import RestockPlanner
from restock.planning.database import PlannerDb
from restock.sim.simtime import parse_time
from restock.store.description import load_store
from restock.testing.graph import spin_until

pytestmark = pytest.mark.graph

START = "2026-07-20T13:00:00"  # a Monday; the next delivery is at 17:00


def back_room(msg: DiagnosticArray, sku: str) -> int | None:
    """The planner's belief of ``sku``'s back room, from its diagnostics."""
    for status in msg.status:
        if status.name.endswith("/planner"):
            for kv in status.values:
                if kv.key == f"back_room.{sku}":
                    return int(kv.value)
    return None


def test_alert_staff_refill_clear_and_restart(ros_graph, ros_node, tmp_path: Path) -> None:
    # The corner store with only 4 colas behind the rail.
    data = yaml.safe_load(store_file("corner_store.yaml").read_text())
    for loc in data["stock"]["locations"]:
        if loc["sku"] == "cola_500":
            loc["quantity"] = 4
    store_path = tmp_path / "store.yaml"
    store_path.write_text(yaml.safe_dump(data))
    store = load_store(store_path)
    # Three weeks in which cola sold 25 an hour every afternoon: the planner learns it at start.
    t0 = parse_time(START)
    history = [
        Sale(day + h * 3600.0 + k * 144.0, "cola_500", 1)
        for day in t0 - 13 * 3600 - 86_400.0 * np.arange(21, 0, -1)
        for h in range(11, 19)
        for k in range(25)
    ]
    log = tmp_path / "history.csv"
    write_sales_log(log, history)
    db = tmp_path / "planner.db"
    graph = ros_graph(
        only=["sim", "planner"],
        store=str(store_path),
        params={
            "sim": {
                "start_time": START,
                "customers": "none",
                "real_time_factor": 20.0,
                "camera_rate_hz": 0.01,
                "staff_response_s": 600.0,
            },
            "planner": {"database_path": str(db), "sales_log": str(log), "replan_period_s": 2.0, "save_period_s": 5.0},
        },
    )
    alerts: list[records.BackroomAlert] = []
    restocks: list[records.BackroomRestock] = []
    ros_node.create_subscription(
        String,
        topics.BACKROOM_ALERTS,
        lambda m: alerts.append(records.decode(m.data, records.BackroomAlert)),
        ALERT_QOS,
    )
    ros_node.create_subscription(
        String,
        topics.BACKROOM_RESTOCKS,
        lambda m: restocks.append(records.decode(m.data, records.BackroomRestock)),
        10,
    )
    spin_until(ros_node, lambda: any(a.sku == "cola_500" and a.state == "raised" for a in alerts), 90.0, "an alert")
    raised = next(a for a in alerts if a.sku == "cola_500" and a.state == "raised")
    assert raised.lead_s is not None and raised.lead_s <= 3600.0
    assert raised.next_delivery == t0 + 4 * 3600.0 and raised.sales_at_risk >= 2.0
    assert raised.message.startswith("cola_500: back room empty") and "next delivery 17:00" in raised.message
    # The simulated staff answer 600 sim-s later (30 s at 20x) and the planner takes the count.
    spin_until(ros_node, lambda: any(r.alert_id == raised.alert_id for r in restocks), 90.0, "staff bring stock")
    restock = next(r for r in restocks if r.alert_id == raised.alert_id)
    assert restock.sku == "cola_500" and restock.added > 100 and restock.quantity == 120
    spin_until(
        ros_node,
        lambda: any(a.alert_id == raised.alert_id and a.state == "cleared" for a in alerts),
        60.0,
        "the alert cleared",
    )
    # Persisted: a restarted planner believes the refilled back room, not the store file's 4.
    believed: list[int] = []

    def on_diag(msg: DiagnosticArray) -> None:
        n = back_room(msg, "cola_500")
        if n is not None:
            believed.append(n)

    ros_node.create_subscription(DiagnosticArray, topics.DIAGNOSTICS, on_diag, 10)
    spin_until(ros_node, lambda: bool(believed) and believed[-1] > 100, 30.0, "the planner's count after the refill")
    old_pid = graph.pids()["planner"]
    os.kill(old_pid, signal.SIGKILL)
    spin_until(ros_node, lambda: graph.pids().get("planner", old_pid) != old_pid, 60.0, "the planner restarted")
    believed.clear()
    spin_until(ros_node, lambda: len(believed) >= 2, 60.0, "the restarted planner's diagnostics")
    assert min(believed) > 100, believed
    again = RestockPlanner(store, PlannerDb(db))
    assert again.stock[again.lanes.skus.index("cola_500")] > 100
