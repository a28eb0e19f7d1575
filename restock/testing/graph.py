"""Graph-test harness: nodes as real processes on real DDS, and waits on topics.

What launch_testing's WaitForTopics does, without launch (not installable from PyPI): a
:class:`RosGraph` runs ``restock up`` for a set of nodes, :func:`wait_for_message` spins a test
node until a matching message arrives.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from restock import records
from restock.graph.supervisor import die_with_parent
from restock.paths import SOURCE_ROOT

R = TypeVar("R", bound=records.Record)
M = TypeVar("M")


def isolated_params(run_dir: Path, only: list[str] | None) -> dict[str, dict[str, object]]:
    """Files, databases and ports of a test's own, so parallel runs never share them."""
    params: dict[str, dict[str, object]] = {
        "planner": {"database_path": str(run_dir / "planner.db")},
        "arm_controller": {"state_dir": str(run_dir / "arm_controller")},
        "shelf_camera": {"appearance_path": str(run_dir / "appearance.sqlite")},
        "teleop_bridge": {"state_dir": str(run_dir / "teleop"), "port": 0},
        "recorder": {"output_path": str(run_dir / "restock.mcap")},
    }
    return {k: v for k, v in params.items() if only is None or k in only}


class RosGraph:
    """A set of graph nodes brought up by ``restock up`` as separate processes."""

    def __init__(
        self,
        log_dir: Path,
        only: Iterable[str] | None = None,
        store: str = "corner_store.yaml",
        params: dict[str, dict[str, object]] | None = None,
        profile: str = "sim",
        env: dict[str, str] | None = None,
    ) -> None:
        self.log_dir = Path(log_dir)
        self.only = list(only) if only is not None else None
        self.store = store
        self.params = isolated_params(self.log_dir, self.only)
        for node, values in (params or {}).items():
            self.params.setdefault(node, {}).update(values)
        self.profile = profile
        self.env = dict(os.environ if env is None else env)
        self.proc: subprocess.Popen | None = None

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "restock.cli", "up", "--profile", self.profile, "--store", self.store]
        cmd += ["--log-dir", str(self.log_dir), "--quiet"]
        if self.only:
            cmd += ["--only", ",".join(self.only)]
        for node, values in self.params.items():
            for key, value in values.items():
                cmd += ["--param", f"{node}:{key}={json.dumps(value)}"]
        return cmd

    def start(self) -> RosGraph:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        out = (self.log_dir / "up.out").open("w")
        self.proc = subprocess.Popen(
            self.command(),
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=SOURCE_ROOT,
            start_new_session=True,
            preexec_fn=die_with_parent,  # a test run that dies takes its graphs along
        )
        return self

    def __enter__(self) -> RosGraph:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def pids(self) -> dict[str, int]:
        path = self.log_dir / "pids.json"
        try:
            return json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def wait_for_nodes(self, node: Any, names: Iterable[str], timeout: float = 60.0) -> None:
        """Spin until every named node is in the ROS graph (so its endpoints exist)."""
        wanted = set(names)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            present = {n for n, _ns in node.get_node_names_and_namespaces()}
            # The pid file too: a node of the same name from an earlier graph may linger in discovery.
            if wanted <= present and wanted <= set(self.pids()):
                return
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"restock up exited with {self.proc.returncode}:\n{self.output()}")
            _spin(node, 0.1)
        raise TimeoutError(f"nodes {sorted(wanted - present)} did not appear within {timeout} s:\n{self.output()}")

    def output(self) -> str:
        with contextlib.suppress(FileNotFoundError):
            return (self.log_dir / "up.out").read_text()[-4000:]
        return ""

    def log(self, name: str) -> str:
        with contextlib.suppress(FileNotFoundError):
            return (self.log_dir / f"{name}.log").read_text()
        return ""

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        return self.proc.returncode


def _spin(node: Any, seconds: float) -> None:
    import rclpy

    rclpy.spin_once(node, timeout_sec=seconds)


def spin_until(node: Any, condition: Callable[[], bool], timeout: float, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        _spin(node, 0.05)
    if not condition():
        raise TimeoutError(f"{what} not met within {timeout} s")


def wait_for_message(
    node: Any,
    msg_type: type[M],
    topic: str,
    predicate: Callable[[M], bool] | None = None,
    timeout: float = 30.0,
    qos: Any = 10,
) -> M:
    """Spin ``node`` until a message on ``topic`` satisfies ``predicate``; return it."""
    got: list[M] = []

    def on_msg(msg: M) -> None:
        if not got and (predicate is None or predicate(msg)):
            got.append(msg)

    sub = node.create_subscription(msg_type, topic, on_msg, qos)
    try:
        spin_until(node, lambda: bool(got), timeout, f"a matching {msg_type.__name__} on {topic}")
    finally:
        node.destroy_subscription(sub)
    return got[0]


def wait_for_record(
    node: Any,
    record_type: type[R],
    topic: str,
    predicate: Callable[[R], bool] | None = None,
    timeout: float = 30.0,
    qos: Any = 10,
) -> R:
    """Like :func:`wait_for_message` for a domain record (malformed ones are skipped)."""
    from std_msgs.msg import String

    found: list[R] = []

    def matches(msg: String) -> bool:
        try:
            record = records.decode(msg.data, record_type)
        except records.RecordError:
            return False
        if predicate is None or predicate(record):
            found.append(record)
            return True
        return False

    wait_for_message(node, String, topic, matches, timeout, qos)
    return found[0]
