"""A node stopped at any point of its start exits with status 0 and prints no traceback.

A graph stopped while its nodes still imported rclpy, scipy or onnxruntime once left a
KeyboardInterrupt traceback in their logs (SIGINT) or processes killed by the signal (SIGTERM).
The console scripts start in restock.nodes.entry, and the bring-up holds both signals from the
fork until its handlers are in.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from restock.graph.description import node_instances
from restock.graph.supervisor import Supervisor, die_with_parent_signals_held
from restock.paths import SOURCE_ROOT, store_file
from restock.store.description import load_store
from restock.testing.graph import isolated_params, spin_until

SIGNALS = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM}

# A node module whose import and main() each announce themselves and then wait to be signalled.
SLOW_NODE = """
import sys, time
print("importing", flush=True)
if {slow_import}:
    time.sleep(60)

def main():
    try:
        print("main", flush=True)
        time.sleep(60)
    except KeyboardInterrupt:
        print("clean shutdown", flush=True)
        raise SystemExit({status})
"""


def launch_slow_node(tmp_path: Path, slow_import: bool, status: int = 0) -> subprocess.Popen:
    (tmp_path / "slow_node.py").write_text(textwrap.dedent(SLOW_NODE.format(slow_import=slow_import, status=status)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join((str(tmp_path), str(SOURCE_ROOT))))
    code = "import sys; from restock.nodes.entry import launch; sys.exit(launch('slow_node'))"
    return subprocess.Popen(
        [sys.executable, "-c", code],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=die_with_parent_signals_held,
    )


def wait_for_line(proc: subprocess.Popen, line: str) -> None:
    assert proc.stdout is not None
    got = proc.stdout.readline().strip()
    assert got == line, f"expected {line!r}, got {got!r}"


@pytest.mark.parametrize("name", SIGNALS)
def test_a_signal_held_since_the_fork_ends_the_launcher_before_the_import(tmp_path: Path, name: str) -> None:
    proc = launch_slow_node(tmp_path, slow_import=True)
    proc.send_signal(SIGNALS[name])  # at once: the interpreter has not even started
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert out == ""


@pytest.mark.parametrize("name", SIGNALS)
def test_a_signal_during_the_node_module_import_exits_quietly(tmp_path: Path, name: str) -> None:
    proc = launch_slow_node(tmp_path, slow_import=True)
    wait_for_line(proc, "importing")
    proc.send_signal(SIGNALS[name])
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert out == ""


@pytest.mark.parametrize("name", SIGNALS)
def test_a_signal_in_main_is_a_keyboard_interrupt_for_its_clean_shutdown(tmp_path: Path, name: str) -> None:
    proc = launch_slow_node(tmp_path, slow_import=False, status=3)
    wait_for_line(proc, "importing")
    wait_for_line(proc, "main")
    proc.send_signal(SIGNALS[name])
    out, _ = proc.communicate(timeout=30)
    assert out == "clean shutdown\n"
    assert proc.returncode == 3  # main()'s own status is kept


@pytest.mark.graph
@pytest.mark.parametrize("when", [0.0, 0.2, 0.5, 1.0, 3.0, "up"])
@pytest.mark.parametrize("name", SIGNALS)
def test_a_graph_stopped_during_start_up_leaves_no_traceback(
    tmp_path: Path, ros_node: object, name: str, when: float | str
) -> None:
    """Every node of the sim profile, signalled after ``when`` seconds (importing, building the
    world, loading models) or once all are in the ROS graph (spinning)."""
    path = store_file("corner_store.yaml")
    instances = node_instances("sim", load_store(path), path, extra_params=isolated_params(tmp_path, None))
    supervisor = Supervisor(instances, dict(os.environ), tmp_path / "logs", echo=False)
    supervisor.start()
    try:
        if when == "up":
            wanted = {i.name for i in instances}
            spin_until(ros_node, lambda: wanted <= {n for n, _ in ros_node.get_node_names_and_namespaces()}, 180.0)  # type: ignore[attr-defined]
        else:
            time.sleep(float(when))
        for node in supervisor.nodes:
            assert node.proc is not None
            os.killpg(node.proc.pid, SIGNALS[name])
        statuses = {node.instance.name: node.proc.wait(timeout=60) for node in supervisor.nodes}  # type: ignore[union-attr]
    finally:
        supervisor.stop()
    logs = {node.instance.name: node.log_path.read_text() for node in supervisor.nodes}
    assert statuses == dict.fromkeys(statuses, 0), logs
    for node_name, log in logs.items():
        assert "Traceback" not in log, f"{node_name}:\n{log}"
