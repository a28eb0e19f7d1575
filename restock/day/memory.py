"""Memory of every process of a store day, sampled in wall time and stamped in sim time. No rclpy.

`restock sim` samples the resident set size (RSS, from /proc through psutil) of each node the
bring-up runs and of its own process every ``period_s`` wall seconds, writes them to
``memory.csv`` in the run directory (``elapsed_s,node,pid,rss_bytes``; elapsed is sim seconds since
the day started) and puts the figures in the summary: the peak RSS of each process and, for runs of
more than a day, the growth after the first day (RSS over the run's last hour against RSS over the
first day's last hour: the median of each window, so one collection pause does not count).
A node restarted in between (a new pid) is measured on the process that is running at the end.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path

import numpy as np
import psutil

DAY_S = 86400.0
WINDOW_S = 3600.0
SELF = "restock_sim"  # this process (the day monitor, scripted operator and chaos)


def growth_after_first_day(
    samples: list[tuple[float, str, int, int]], end_s: float
) -> dict[str, tuple[float, float, float]]:
    """Per process name: (MB at the end of day 1, MB at the end, growth fraction). Only names with
    samples in both windows, taken on the pid running at the end."""
    out: dict[str, tuple[float, float, float]] = {}
    last_pid: dict[str, int] = {}
    for _, name, pid, _ in samples:
        last_pid[name] = pid
    for name, pid in last_pid.items():
        mine = [(t, rss) for t, n, p, rss in samples if n == name and p == pid]
        first = [rss for t, rss in mine if DAY_S - WINDOW_S <= t <= DAY_S]
        last = [rss for t, rss in mine if t >= end_s - WINDOW_S]
        if not first or not last or end_s < DAY_S + WINDOW_S:
            continue
        a, b = float(np.median(first)), float(np.median(last))
        out[name] = (a / 2**20, b / 2**20, b / a - 1.0)
    return out


class MemorySampler:
    def __init__(
        self,
        pids: Callable[[], dict[str, int]],
        elapsed: Callable[[], float],
        path: Path,
        period_s: float = 5.0,
    ) -> None:
        self.pids = pids
        self.elapsed = elapsed
        self.path = path
        self.period_s = period_s
        # Only what the figures need, so a week's sampling stays small: the peaks, the first
        # day's last hour and the latest hour.
        self._peak: dict[str, int] = {}
        self._first_window: list[tuple[float, str, int, int]] = []
        self._latest: deque[tuple[float, str, int, int]] = deque()
        self._procs: dict[int, psutil.Process] = {}
        self._stop = threading.Event()
        self._file = path.open("w")
        self._file.write("elapsed_s,node,pid,rss_bytes\n")
        self._thread = threading.Thread(target=self._run, daemon=True, name="memory-sampler")
        self._thread.start()

    def _rss(self, pid: int) -> int | None:
        proc = self._procs.get(pid)
        try:
            if proc is None:
                proc = self._procs[pid] = psutil.Process(pid)
            return int(proc.memory_info().rss)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            self._procs.pop(pid, None)
            return None

    def sample(self) -> None:
        t = float(self.elapsed())
        targets = {**self.pids(), SELF: os.getpid()}
        for name, pid in sorted(targets.items()):
            rss = self._rss(pid)
            if rss is None:
                continue
            self._keep((t, name, pid, rss))
            self._file.write(f"{t:.0f},{name},{pid},{rss}\n")
        self._file.flush()
        live = set(targets.values())
        for pid in list(self._procs):
            if pid not in live:
                del self._procs[pid]

    def _keep(self, sample: tuple[float, str, int, int]) -> None:
        t, name, _, rss = sample
        self._peak[name] = max(self._peak.get(name, 0), rss)
        if DAY_S - WINDOW_S <= t <= DAY_S:
            self._first_window.append(sample)
        self._latest.append(sample)
        while self._latest and self._latest[0][0] < t - WINDOW_S:
            self._latest.popleft()

    @property
    def samples(self) -> list[tuple[float, str, int, int]]:
        """The samples kept: the first day's last hour and the latest hour (no duplicates)."""
        latest = set(self._latest)
        return [s for s in self._first_window if s not in latest] + list(self._latest)

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            self.sample()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._file.close()

    def summary(self, end_s: float) -> dict[str, object]:
        out: dict[str, object] = {"peak RSS MB": {n: round(v / 2**20) for n, v in sorted(self._peak.items())}}
        growth = growth_after_first_day(self.samples, end_s)
        if growth:
            out["RSS growth after day 1"] = {n: f"{g:+.1%}" for n, (_, _, g) in sorted(growth.items())}
            out["RSS MB day 1 -> end"] = {n: f"{a:.0f}->{b:.0f}" for n, (a, b, _) in sorted(growth.items())}
        return out
