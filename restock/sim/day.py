"""`restock sim`: the simulated store, headless: the whole graph on sim time, supervised.

Brings up the sim profile of the graph (simulator, a camera node per camera, planner, arm
controller, teleop bridge) as separate processes on a confined DDS, runs until the simulator
finishes or Ctrl-C / --wall-seconds, and prints each node's last reported health.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from pathlib import Path

from restock.graph.description import node_instances
from restock.graph.supervisor import Supervisor
from restock.params import ConfigError
from restock.paths import DEFAULT_STORE, store_file
from restock.rosenv import apply_to_this_process, ros_environment
from restock.store.description import StoreError, load_store

LEVELS = {0: "OK", 1: "WARN", 2: "ERROR", 3: "STALE"}


class HealthWatcher:
    """Listens to /diagnostics in this process and keeps each node's latest status."""

    def __init__(self) -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.executors import SingleThreadedExecutor

        from restock import topics

        self.latest: dict[str, tuple[int, str]] = {}
        self._context = rclpy.Context()
        rclpy.init(context=self._context)
        self._node = rclpy.create_node("restock_sim_cli", context=self._context)
        self._node.create_subscription(DiagnosticArray, topics.DIAGNOSTICS, self._on_diag, 50)
        self._executor = SingleThreadedExecutor(context=self._context)
        self._executor.add_node(self._node)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while self._context.ok():
            try:
                self._executor.spin_once(timeout_sec=0.2)
            except Exception:  # the context went away during shutdown
                return

    def _on_diag(self, msg: object) -> None:
        for status in msg.status:  # type: ignore[attr-defined]
            level = status.level if isinstance(status.level, int) else int.from_bytes(status.level, "little")
            self.latest[status.hardware_id or status.name] = (level, status.message)

    def close(self) -> None:
        self._node.destroy_node()
        self._context.try_shutdown()
        self._thread.join(timeout=2)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="restock sim", description=__doc__)
    ap.add_argument("--store", default=DEFAULT_STORE, help="store description file or name under config/stores")
    ap.add_argument("--wall-seconds", type=float, default=0.0, help="stop after this many wall seconds (0: run on)")
    ap.add_argument("--domain-id", type=int, default=None)
    ap.add_argument("--log-dir", type=Path, default=None)
    ap.add_argument("--verbose", action="store_true", help="echo every node's output")
    args = ap.parse_args(argv)
    path = store_file(args.store)
    try:
        store = load_store(path)
        instances = node_instances("sim", store, path)
    except (StoreError, ConfigError) as err:
        print(f"restock sim: {err}")
        return 2
    apply_to_this_process(args.domain_id)
    env = ros_environment(args.domain_id)
    log_dir = args.log_dir or Path("var/log") / f"sim-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    supervisor = Supervisor(instances, env, log_dir, echo=args.verbose)
    watcher = HealthWatcher()
    if args.wall_seconds > 0:
        timer = threading.Timer(args.wall_seconds, supervisor.request_stop)
        timer.daemon = True
        timer.start()
    try:
        status = supervisor.run()
    finally:
        watcher.close()
    print(f"\nrestock sim: store {store.name!r}, {len(instances)} nodes, logs in {log_dir}")
    width = max(len(k) for k in watcher.latest) if watcher.latest else 10
    for name, (level, message) in sorted(watcher.latest.items()):
        print(f"  {name.ljust(width)}  {LEVELS.get(level, level):<5}  {message}")
    return status
