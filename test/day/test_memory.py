"""Per-process memory of a store day: sampling and the growth after the first day."""

from __future__ import annotations

import os
import time
from pathlib import Path

from restock.day.memory import DAY_S, SELF, MemorySampler, growth_after_first_day


def test_growth_is_measured_on_the_last_hour_of_day_one_against_the_last_hour() -> None:
    mb = 2**20
    samples = []
    for k in range(0, int(3 * DAY_S), 600):
        samples.append((float(k), "planner", 10, 100 * mb + (k // 600) * 1024))  # a slow leak
        samples.append((float(k), "sim", 11, 200 * mb))
    samples.append((1.5 * DAY_S, "arm", 12, 50 * mb))  # restarted later: only the pid at the end counts
    samples.append((2.99 * DAY_S, "arm", 13, 60 * mb))
    growth = growth_after_first_day(samples, 3 * DAY_S)
    assert set(growth) == {"planner", "sim"}
    assert growth["sim"][2] == 0.0
    assert 0.0 < growth["planner"][2] < 0.01
    assert growth_after_first_day(samples, 0.9 * DAY_S) == {}  # under a day: nothing to compare


def test_sampler_writes_this_process_and_the_nodes(tmp_path: Path) -> None:
    sampler = MemorySampler(lambda: {"me_too": os.getpid()}, lambda: 42.0, tmp_path / "memory.csv", period_s=0.05)
    time.sleep(0.3)
    sampler.stop()
    lines = (tmp_path / "memory.csv").read_text().splitlines()
    assert lines[0] == "elapsed_s,node,pid,rss_bytes"
    assert any(line.startswith(f"42,{SELF},") for line in lines[1:])
    summary = sampler.summary(42.0)
    assert summary["peak RSS MB"]["me_too"] > 10  # type: ignore[index]


def test_a_week_of_samples_keeps_only_the_two_windows_and_the_peaks(tmp_path: Path) -> None:
    clock = [0.0]
    sampler = MemorySampler(lambda: {}, lambda: clock[0], tmp_path / "memory.csv", period_s=3600.0)
    for k in range(0, int(7 * DAY_S), 60):  # a week, one sample a sim minute
        clock[0] = float(k)
        sampler.sample()
    sampler.stop()
    kept = sampler.samples
    assert len(kept) <= 2 * (60 + 1), len(kept)  # first day's last hour + the latest hour
    assert all(DAY_S - 3600 <= t <= DAY_S or t >= 7 * DAY_S - 3660 for t, *_ in kept)
    growth = sampler.summary(7 * DAY_S - 60)
    assert SELF in growth["peak RSS MB"] and SELF in growth["RSS growth after day 1"]  # type: ignore[operator]
    assert len((tmp_path / "memory.csv").read_text().splitlines()) == 1 + 7 * 24 * 60  # the file has all
