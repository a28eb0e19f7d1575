"""Faults a store day must survive, injected on a seeded schedule in sim time (`restock sim --chaos`).

- kill -9 of every node at least three times a day (the bring-up restarts it; the planner and
  arm controller resume from SQLite, the simulator from its checkpoint of the store).
- a camera that stops: its node is frozen (SIGSTOP) for a while, then thawed.
- dropped messages: a node is stalled (SIGSTOP) long enough for its subscription queues to
  overflow, so messages sent to it in that time are lost.
- the e-stop pressed and released (std_msgs/Bool on estop).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from restock import topics

KILLS_PER_NODE = 3
CAMERA_STOP_S = 1200.0
STALL_WALL_S = 4.0
ESTOP_HOLD_S = 120.0
RETRY_KILL_S = 300.0  # a kill that finds its node down (still restarting) is tried again this much later


@dataclass(order=True)
class Fault:
    at: float  # sim seconds after the start
    kind: str  # kill, camera_stop, camera_start, stall, estop, estop_release
    node: str = ""


def schedule(nodes: list[str], cameras: list[str], duration_s: float, seed: int) -> list[Fault]:
    """The day's faults, spread over the middle 90% of the run so the day can show recovery."""
    rng = np.random.default_rng(seed + 7919)
    lo, hi = 0.05 * duration_s, 0.95 * duration_s
    faults: list[Fault] = []
    for node in nodes:
        # Stratified: one kill in each third of the window, so kills do not bunch up.
        edges = np.linspace(lo, hi, KILLS_PER_NODE + 1)
        faults += [Fault(float(rng.uniform(a, b)), "kill", node) for a, b in itertools.pairwise(edges)]
    for cam_node in cameras:
        t = float(rng.uniform(lo, hi - CAMERA_STOP_S))
        faults += [Fault(t, "camera_stop", cam_node), Fault(t + CAMERA_STOP_S, "camera_start", cam_node)]
    for node in ("planner", "arm_controller"):
        if node in nodes:
            faults.append(Fault(float(rng.uniform(lo, hi)), "stall", node))
    for _ in range(2):
        t = float(rng.uniform(lo, hi - ESTOP_HOLD_S))
        faults += [Fault(t, "estop"), Fault(t + ESTOP_HOLD_S, "estop_release")]
    return sorted(faults)


class Chaos:
    def __init__(self, supervisor: Any, monitor: Any, seed: int, duration_s: float, log_path: Path) -> None:
        from std_msgs.msg import Bool

        from restock.nodes.base import LATCHED_QOS

        self.supervisor = supervisor
        self.monitor = monitor
        names = [n.instance.name for n in supervisor.nodes]
        cameras = [n.instance.name for n in supervisor.nodes if n.instance.kind == "shelf_camera"][:1]
        self.faults = schedule(names, cameras, duration_s, seed)
        self.injected: list[tuple[float, Fault, str]] = []  # (elapsed, fault, outcome)
        self.duration_s = duration_s
        self.log_path = log_path
        self._bool = Bool
        self._estop = monitor.node.create_publisher(Bool, topics.ESTOP, LATCHED_QOS)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _pid(self, name: str) -> int | None:
        for node in self.supervisor.nodes:
            if node.instance.name == name and node.proc is not None and node.proc.poll() is None:
                return node.proc.pid
        return None

    def _signal(self, name: str, sig: int) -> bool:
        pid = self._pid(name)
        if pid is None:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
            return True
        return False

    def _inject(self, fault: Fault) -> str:
        if fault.kind == "kill":
            return "killed" if self._signal(fault.node, signal.SIGKILL) else "not running"
        if fault.kind == "camera_stop":
            return "frozen" if self._signal(fault.node, signal.SIGSTOP) else "not running"
        if fault.kind == "camera_start":
            return "thawed" if self._signal(fault.node, signal.SIGCONT) else "not running"
        if fault.kind == "stall":
            if not self._signal(fault.node, signal.SIGSTOP):
                return "not running"
            time.sleep(STALL_WALL_S)
            self._signal(fault.node, signal.SIGCONT)
            return f"stalled {STALL_WALL_S:.0f} wall s"
        if fault.kind in ("estop", "estop_release"):
            self._estop.publish(self._bool(data=fault.kind == "estop"))
            return "pressed" if fault.kind == "estop" else "released"
        return "unknown fault"

    def _run(self) -> None:
        pending = list(self.faults)
        with self.log_path.open("w") as log:
            while pending and not self._stop.is_set():
                elapsed = self.monitor.stats.duration_s
                while pending and pending[0].at <= elapsed:
                    fault = pending.pop(0)
                    outcome = self._inject(fault)
                    self.injected.append((elapsed, fault, outcome))
                    if fault.kind == "kill" and outcome == "not running" and elapsed + RETRY_KILL_S < self.duration_s:
                        # Each node is killed KILLS_PER_NODE times: one that was down is tried again.
                        pending.append(Fault(elapsed + RETRY_KILL_S, "kill", fault.node))
                        pending.sort()
                    log.write(f"{elapsed:9.0f} s  {fault.kind:<13} {fault.node:<24} {outcome}\n")
                    log.flush()
                self._stop.wait(0.1)
        # Never leave a node frozen behind.
        for fault in self.faults:
            if fault.kind in ("camera_stop", "stall") and fault.node:
                self._signal(fault.node, signal.SIGCONT)

    def counts(self) -> dict[str, int]:
        """Faults that took effect (a kill or freeze of a node that was not running does not count)."""
        out: dict[str, int] = {}
        for _, f, outcome in self.injected:
            if outcome == "not running":
                continue
            key = f"{f.kind} {f.node}".strip()
            out[key] = out.get(key, 0) + 1
        return out

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
