"""Bring a graph up as separate OS processes and keep it up (what `ros2 launch` does, without launch).

Each node runs as its own process in its own session (so a terminal's Ctrl-C reaches only the
supervisor, which then shuts the nodes down in order), dies with the supervisor (PDEATHSIG), has
its output prefixed on the console and kept in ``<log_dir>/<name>.log``, and is restarted per its
policy. A required node that fails for good stops the graph with a non-zero status. On the way
out, stale Fast DDS shared-memory files are removed.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from restock.graph.description import NodeInstance
from restock.graph.shm import clean_stale_fastdds_files, fastdds_files_of
from restock.graph.signals import start_blocked, starts_here

CONFIG_ERROR_STATUS = 2  # run_node's status for a bad configuration: restarting cannot help
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """preexec_fn: the child gets SIGTERM when its parent dies (Linux PR_SET_PDEATHSIG)."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def die_with_parent_signals_held() -> None:
    """preexec_fn of one of our nodes (its launcher unblocks the signals)."""
    die_with_parent()
    start_blocked()


def resolve_executable(name: str) -> str:
    """A console script of this environment first (the venv's bin/), then PATH."""
    local = Path(sys.executable).parent / name
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"executable {name!r} not found in {local.parent} or on PATH")
    return found


@dataclass
class ManagedNode:
    instance: NodeInstance
    log_path: Path
    proc: subprocess.Popen | None = None
    restarts: int = 0
    started_at: float = 0.0
    next_start: float | None = None
    exit_codes: list[int] = field(default_factory=list)
    finished: bool = False  # exited and will not be restarted
    reader: threading.Thread | None = None


class Supervisor:
    def __init__(
        self,
        instances: list[NodeInstance],
        env: dict[str, str],
        log_dir: Path,
        echo: bool = True,
        out: TextIO | None = None,
    ) -> None:
        self.env = env
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.echo = echo
        self.out = out or sys.stdout
        self.nodes = [ManagedNode(i, self.log_dir / f"{i.name}.log") for i in instances]
        self._width = max((len(i.name) for i in instances), default=4)
        self._out_lock = threading.Lock()
        self._stopping = threading.Event()
        self.status = 0
        # Every Fast DDS file a node of ours had mapped: what a crash can leave behind.
        self.shm_seen: set[Path] = set()
        self._next_shm_scan = 0.0

    # --- output -------------------------------------------------------------------------

    def say(self, text: str) -> None:
        with self._out_lock:
            print(f"[restock up] {text}", file=self.out, flush=True)
        with (self.log_dir / "supervisor.log").open("a") as f:
            f.write(f"{time.strftime('%H:%M:%S')} {text}\n")

    def _pump(self, node: ManagedNode, proc: subprocess.Popen) -> None:
        prefix = f"[{node.instance.name.ljust(self._width)}] "
        assert proc.stdout is not None
        with node.log_path.open("a") as log:
            for line in proc.stdout:
                log.write(line)
                log.flush()
                if self.echo:
                    with self._out_lock:
                        self.out.write(prefix + line)
                        self.out.flush()

    # --- processes ----------------------------------------------------------------------

    def _start(self, node: ManagedNode) -> None:
        argv = [resolve_executable(node.instance.executable), *node.instance.ros_args()]
        # Our nodes hold SIGINT/SIGTERM until their quiet handlers are in (a stop during start-up).
        held = starts_here(node.instance.executable)
        with node.log_path.open("a") as log:
            log.write(f"--- start {time.strftime('%Y-%m-%d %H:%M:%S')}: {' '.join(argv)}\n")
        node.proc = subprocess.Popen(
            argv,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
            preexec_fn=die_with_parent_signals_held if held else die_with_parent,
        )
        node.started_at = time.monotonic()
        node.next_start = None
        node.reader = threading.Thread(target=self._pump, args=(node, node.proc), daemon=True)
        node.reader.start()
        self._write_pids()

    def _write_pids(self) -> None:
        pids = {n.instance.name: n.proc.pid for n in self.nodes if n.proc is not None and n.proc.poll() is None}
        tmp = self.log_dir / "pids.json.tmp"
        tmp.write_text(json.dumps(pids))
        tmp.replace(self.log_dir / "pids.json")

    def start(self) -> None:
        for node in self.nodes:
            self._start(node)
        self.say(
            f"started {len(self.nodes)} nodes: {', '.join(n.instance.name for n in self.nodes)} (logs in {self.log_dir})"
        )

    def poll(self) -> bool:
        """Check every node once; restart per policy. False when the graph must stop."""
        now = time.monotonic()
        if now >= self._next_shm_scan:
            self._next_shm_scan = now + 1.0
            for node in self.nodes:
                if node.proc is not None:
                    self.shm_seen |= fastdds_files_of(node.proc.pid)
        for node in self.nodes:
            if node.finished:
                continue
            if node.proc is None:
                if node.next_start is not None and now >= node.next_start:
                    self._start(node)
                    self.say(f"{node.instance.name} restarted ({node.restarts} of {node.instance.max_restarts})")
                continue
            code = node.proc.poll()
            if code is None:
                continue
            node.proc = None
            node.exit_codes.append(code)
            self._write_pids()
            if not self._handle_exit(node, code, now):
                return False
        return True

    def _handle_exit(self, node: ManagedNode, code: int, now: float) -> bool:
        inst = node.instance
        failed = code != 0
        desc = f"exited with status {code}" if code >= 0 else f"was killed by signal {-code}"
        wants_restart = inst.restart == "always" or (inst.restart == "on-failure" and failed)
        if wants_restart and code == CONFIG_ERROR_STATUS:
            wants_restart = False
            desc += " (configuration error: not restarting)"
        if wants_restart and node.restarts < inst.max_restarts:
            node.restarts += 1
            # Back off when a node keeps dying right after start.
            delay = 0.2 if now - node.started_at > 10 else min(5.0, 0.5 * 2 ** min(node.restarts, 4))
            node.next_start = now + delay
            self.say(f"{inst.name} {desc}; restarting in {delay:.1f} s")
            return True
        node.finished = True
        if inst.required:
            self.status = 1 if failed else 0
            self.say(f"required node {inst.name} {desc}; stopping the graph")
            return False
        self.say(f"{inst.name} {desc}; not restarting")
        return True

    def request_stop(self) -> None:
        self._stopping.set()

    def run(self, period: float = 0.1) -> int:
        """Start, supervise until a signal or a required node ends, stop. Returns the exit status."""
        previous = {s: signal.signal(s, lambda *_: self.request_stop()) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.start()
            while not self._stopping.is_set() and self.poll():
                self._stopping.wait(period)
        finally:
            self.stop()
            for s, handler in previous.items():
                signal.signal(s, handler)
        return self.status

    def stop(self, timeout: float = 10.0) -> None:
        """SIGINT every node (rclpy shuts down cleanly on it), SIGKILL what is left after timeout."""
        running = [n for n in self.nodes if n.proc is not None and n.proc.poll() is None]
        for node in running:
            self.shm_seen |= fastdds_files_of(node.proc.pid)  # type: ignore[union-attr]
        for node in running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(node.proc.pid, signal.SIGINT)  # type: ignore[union-attr]
        deadline = time.monotonic() + timeout
        for node in running:
            assert node.proc is not None
            try:
                node.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say(f"{node.instance.name} did not stop within {timeout:.0f} s; killing it")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(node.proc.pid, signal.SIGKILL)
                node.proc.wait()
        # Anything a node left in its process group (helpers it spawned) goes too.
        for node in self.nodes:
            if node.proc is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(node.proc.pid, signal.SIGKILL)
            if node.reader is not None:
                node.reader.join(timeout=2)
        self._write_pids()
        removed = clean_stale_fastdds_files()
        (self.log_dir / "shm_seen.json").write_text(json.dumps(sorted(map(str, self.shm_seen))))
        self.say(f"stopped; removed {len(removed)} stale Fast DDS shared-memory files")
