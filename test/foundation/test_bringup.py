"""The whole graph as separate processes: wired, restarted per policy, shut down clean."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import rclpy
from rclpy.qos import DurabilityPolicy, QoSProfile
from std_msgs.msg import String

from restock.graph.description import load_graph
from restock.graph.shm import files_in_use
from restock.testing.graph import RosGraph, spin_until

pytestmark = pytest.mark.graph


def our_subscriptions(node: object, names: list[str]) -> dict[str, set[str]]:
    """topic -> subscribing node names, for the graph's nodes (ros2cli-free introspection)."""
    subs: dict[str, set[str]] = {}
    for name in names:
        for topic, _types in node.get_subscriber_names_and_types_by_node(name, "/"):  # type: ignore[attr-defined]
            subs.setdefault(topic, set()).add(name)
    return subs


def subscriber_qos(node: object, topic: str) -> QoSProfile:
    """A publisher QoS every subscriber of the topic accepts (latched topics need transient local)."""
    infos = node.get_subscriptions_info_by_topic(topic)  # type: ignore[attr-defined]
    latched = any(i.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL for i in infos)
    return QoSProfile(depth=10, durability=DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE)


def leftovers(graph: RosGraph) -> set[str]:
    """Fast DDS files our nodes had mapped that are still there and used by nobody."""
    seen = set(json.loads((graph.log_dir / "shm_seen.json").read_text()))
    assert seen, "the supervisor saw no Fast DDS files mapped by its nodes"
    in_use = {str(p) for p in files_in_use()}
    # Port files (fastdds_port*, sem.fastdds_port*) are shared by every participant on the machine,
    # so only the per-participant segments say for sure what our nodes left.
    ours = {p for p in seen if not Path(p).name.startswith(("fastdds_port", "sem.fastdds_port"))}
    return {p for p in ours if Path(p).exists() and p not in in_use}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie counts as gone.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_whole_graph_is_wired_and_stops_clean(ros_graph, ros_node) -> None:
    graph = ros_graph()
    names = list(graph.pids())
    assert {"sim", "planner", "arm_controller", "teleop_bridge"} <= set(names)
    external = {"/" + t for t in load_graph().external_inputs}
    ignore = {"/parameter_events", "/clock"} | external

    def unconnected() -> list[str]:
        missing = []
        for topic, subscribers in our_subscriptions(ros_node, names).items():
            if topic in ignore:
                continue
            if not ros_node.get_publishers_info_by_topic(topic):
                missing.append(f"{topic} (read by {sorted(subscribers)})")
        return missing

    # Discovery takes a moment; every subscription of the graph must find a publisher.
    try:
        spin_until(ros_node, lambda: not unconnected(), 30, "all subscriptions connected")
    except TimeoutError:
        pytest.fail(f"subscriptions with no publisher: {unconnected()}")
    # /clock comes from the simulator in the sim profile.
    assert ros_node.get_publishers_info_by_topic("/clock")

    pids = graph.pids()
    assert graph.stop() == 0
    spin_until(ros_node, lambda: not any(alive(p) for p in pids.values()), 10, "all node processes gone")
    assert not leftovers(graph), "stale Fast DDS shared-memory files left behind"


def test_killed_node_is_restarted_and_stale_segments_cleaned(ros_graph, ros_node) -> None:
    graph = ros_graph(only=["planner", "teleop_bridge"])
    before = graph.pids()
    os.kill(before["planner"], signal.SIGKILL)
    spin_until(
        ros_node,
        lambda: graph.pids().get("planner", before["planner"]) != before["planner"],
        30,
        "planner restarted with a new pid",
    )
    graph.wait_for_nodes(ros_node, ["planner"])
    assert "planner was killed by signal 9; restarting" in (graph.log_dir / "supervisor.log").read_text()
    assert graph.stop() == 0
    assert not leftovers(graph)


def test_required_node_failing_for_good_fails_the_bring_up(tmp_path: Path, ros_node) -> None:
    # A bad parameter is a configuration error: not restarted, and the planner is required.
    params = {"planner": {"store_file": str(tmp_path / "missing.yaml")}}
    with RosGraph(tmp_path, only=["planner"], params=params).start() as graph:
        assert graph.proc is not None
        graph.proc.wait(60)
        assert graph.proc.returncode == 1
        assert "required node planner exited with status 2" in graph.output()


def test_sigterm_leaves_no_process_and_no_shm(tmp_path: Path, ros_node) -> None:
    with RosGraph(tmp_path, only=["planner", "arm_controller", "teleop_bridge"]).start() as graph:
        graph.wait_for_nodes(ros_node, ["planner", "arm_controller", "teleop_bridge"])
        pids = graph.pids()
        assert graph.proc is not None
        graph.proc.send_signal(signal.SIGTERM)
        graph.proc.wait(30)
        assert graph.proc.returncode == 0
        time.sleep(0.5)
        assert not any(alive(p) for p in pids.values())
        assert not leftovers(graph)


def test_supervisor_death_takes_its_nodes_along(tmp_path: Path, ros_node) -> None:
    with RosGraph(tmp_path, only=["planner"]).start() as graph:
        graph.wait_for_nodes(ros_node, ["planner"])
        pid = graph.pids()["planner"]
        assert graph.proc is not None
        graph.proc.kill()  # SIGKILL: no chance to clean up; PDEATHSIG must still stop the node
        graph.proc.wait()
        spin_until(ros_node, lambda: not alive(pid), 20, "orphaned planner gone")


def test_malformed_record_is_dropped_and_node_keeps_running(ros_graph, ros_node) -> None:
    """Every String topic each node reads gets garbage; each node logs the reason and lives on."""
    graph = ros_graph(only=["planner", "arm_controller", "teleop_bridge", "shelf_camera"])
    pids = graph.pids()

    def record_topics() -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for name in pids:
            for topic, types in ros_node.get_subscriber_names_and_types_by_node(name, "/"):
                if "std_msgs/msg/String" in types and topic != "/sim/ground_truth":
                    out.setdefault(name, []).append(topic)
        return out

    # Discovery of each node's endpoints trickles in: wait until the picture holds still.
    targets: dict[str, list[str]] = {}
    stable_since = time.monotonic()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and time.monotonic() - stable_since < 2.0:
        now_targets = record_topics()
        if now_targets != targets:
            targets, stable_since = now_targets, time.monotonic()
        rclpy.spin_once(ros_node, timeout_sec=0.2)
    assert targets.keys() >= {"planner", "arm_controller", "teleop_bridge"}
    pubs = {t: ros_node.create_publisher(String, t, subscriber_qos(ros_node, t)) for ts in targets.values() for t in ts}
    readers = {t: sum(t in ts for ts in targets.values()) for t in pubs}
    spin_until(
        ros_node,
        lambda: all(p.get_subscription_count() >= readers[t] for t, p in pubs.items()),
        20,
        "every reader of every topic matched",
    )
    for pub in pubs.values():
        for garbage in (
            '{"record": "restock_task", "v": 1, "quantity": -1}',
            "}{ not json",
            '{"record": "nope", "v": 1}',
        ):
            pub.publish(String(data=garbage))

    def logged() -> dict[str, tuple[int, int]]:
        return {name: (graph.log(name).count("dropped a malformed record"), len(ts)) for name, ts in targets.items()}

    try:
        spin_until(ros_node, lambda: all(n >= want for n, want in logged().values()), 20, "all logged")
    except TimeoutError:
        pytest.fail(f"malformed records logged per node (logged, topics): {logged()}; topics: {targets}")
    for name, pid in pids.items():
        assert alive(pid), f"{name} died on a malformed record"
        assert graph.pids()[name] == pid, f"{name} was restarted: it crashed"


def test_restock_up_help_runs() -> None:
    out = subprocess.run([sys.executable, "-m", "restock.cli", "up", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--profile" in out.stdout
