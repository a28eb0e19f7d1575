"""What a simulated store day achieved, from the records the graph publishes. No rclpy.

Fed by the `restock sim` process: the simulator's ground truth (evaluation only), the arm's task
results, handoff requests and resolutions, and the teleop status. Gives the summary table and the
series the report plots. What grows with the run's length (the series, the task log) is kept
compact (typed arrays, slotted rows), so a week's run stays within a few MB of its first day.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from restock import records


@dataclass(slots=True, frozen=True)
class TaskSpan:
    """What the figures need of one task result (a TaskResult record is ~10x larger)."""

    task_id: str
    outcome: str
    placed: int
    started: float
    finished: float

    @classmethod
    def of(cls, r: records.TaskResult) -> TaskSpan:
        return cls(r.task_id, r.outcome, r.placed, r.started, r.finished)


HOUR_S = 3600.0
FORECAST_STEP_S = 300.0  # the planner's own forecast step (planner:forecast_step_s)
FORECAST_STEPS = int(HOUR_S // FORECAST_STEP_S)

# Given the midpoints of an hour's forecast steps (epoch s): the containers of every SKU the planner
# expects in each step as it holds its forecast now, or None when that cannot be read.
Forecaster = Callable[[np.ndarray], np.ndarray | None]


@dataclass(frozen=True)
class HourlySales:
    """Containers per clock hour of sim time. ``start``/``end`` bound the part of each hour the run
    covered (the first and last hours may be partial); the forecast is over that part."""

    start: np.ndarray  # epoch s
    end: np.ndarray
    sold: np.ndarray
    lost: np.ndarray
    forecast: np.ndarray  # expected containers (demand), NaN where the planner's was not known


@dataclass
class DayStats:
    start: float | None = None
    end: float | None = None
    # Time-weighted availability: sum over lanes of seconds with a container at the front.
    _lane_seconds: float = 0.0
    _available_seconds: float = 0.0
    _last_truth: records.SimGroundTruth | None = None
    sales: dict[str, int] = field(default_factory=dict)
    lost_sales: dict[str, int] = field(default_factory=dict)
    events: Counter = field(default_factory=Counter)
    results: dict[str, TaskSpan] = field(default_factory=dict)  # task id -> last result
    result_log: list[TaskSpan] = field(default_factory=list)
    tasks_seen: set[str] = field(default_factory=set)
    tasks_issued: Counter = field(default_factory=Counter)  # task id -> times published
    handoffs: dict[str, records.HandoffRequest] = field(default_factory=dict)
    resolutions: dict[str, records.HandoffResolution] = field(default_factory=dict)
    _operator_since: float | None = None
    operator_seconds: float = 0.0
    # Series for plots, sampled at most every sample_period_s of sim time.
    sample_period_s: float = 60.0
    series_t: array = field(default_factory=lambda: array("d"))
    series_counts: array = field(default_factory=lambda: array("h"))  # flat, len(lane_ids) per sample
    lane_ids: list[str] = field(default_factory=list)
    # Sales per clock hour: a sale reported at stamp t counts in hour ceil(t / 3600) - 1 (it happened
    # after the previous ground truth, up to t). The forecast of each hour is read when it begins.
    forecaster: Forecaster | None = None
    hour_index: array = field(default_factory=lambda: array("q"))  # floor(epoch s / 3600) of each hour
    hour_sold: array = field(default_factory=lambda: array("q"))
    hour_lost: array = field(default_factory=lambda: array("q"))
    hour_forecast: array = field(default_factory=lambda: array("d"))  # flat, FORECAST_STEPS per hour
    _cumulative: tuple[int, int] = (0, 0)  # sold, lost at the previous ground truth
    # Figures the run adds beside the records' (per-process memory, faults injected).
    extra: dict[str, object] = field(default_factory=dict)

    # --- feeding ------------------------------------------------------------------------

    def on_truth(self, truth: records.SimGroundTruth) -> None:
        if self.start is None:
            self.start = truth.stamp
            self.lane_ids = sorted(truth.lanes)
        prev = self._last_truth
        if prev is not None and truth.stamp > prev.stamp:
            dt = truth.stamp - prev.stamp
            # The lane state held over the interval since the previous sample.
            self._lane_seconds += dt * len(prev.lanes)
            self._available_seconds += dt * sum(1 for lane in prev.lanes.values() if lane.count > 0)
        self._last_truth = truth
        self.end = truth.stamp
        self.sales = dict(truth.sales)
        self.lost_sales = dict(truth.lost_sales)
        for ev in truth.events:
            self.events[ev.kind] += 1
        self._count_hourly(truth)
        if not self.series_t or truth.stamp - self.series_t[-1] >= self.sample_period_s:
            self.series_t.append(truth.stamp)
            self.series_counts.extend(truth.lanes[i].count if i in truth.lanes else 0 for i in self.lane_ids)

    def _count_hourly(self, truth: records.SimGroundTruth) -> None:
        # The run's first truth (often exactly on the hour) opens the hour it stands in.
        hour = max(math.ceil(truth.stamp / HOUR_S) - 1, math.floor((self.start or 0.0) / HOUR_S))
        if not self.hour_index or hour > self.hour_index[-1]:
            self.hour_index.append(hour)
            self.hour_sold.append(0)
            self.hour_lost.append(0)
            mids = hour * HOUR_S + (np.arange(FORECAST_STEPS) + 0.5) * FORECAST_STEP_S
            steps = self.forecaster(mids) if self.forecaster is not None else None
            self.hour_forecast.extend(np.full(FORECAST_STEPS, np.nan) if steps is None else np.asarray(steps, float))
        sold, lost = sum(truth.sales.values()), sum(truth.lost_sales.values())
        # Counted since the world started (a resumed simulator carries its counts on; one that
        # started afresh begins again at 0, which adds nothing).
        self.hour_sold[-1] += max(0, sold - self._cumulative[0])
        self.hour_lost[-1] += max(0, lost - self._cumulative[1])
        self._cumulative = (sold, lost)

    def on_task(self, task: records.RestockTask) -> None:
        self.tasks_issued[task.task_id] += 1
        self.tasks_seen.add(task.task_id)

    def on_result(self, result: records.TaskResult) -> None:
        span = TaskSpan.of(result)
        self.results[result.task_id] = span
        self.result_log.append(span)

    def on_handoff(self, request: records.HandoffRequest) -> None:
        self.handoffs.setdefault(request.request_id, request)

    def on_resolution(self, resolution: records.HandoffResolution) -> None:
        self.resolutions[resolution.request_id] = resolution

    def on_teleop(self, status: records.TeleopStatus, now: float | None = None) -> None:
        """``now``: sim time at receipt (the bridge may stamp on another clock); else the stamp."""
        t = status.stamp if now is None else now
        if status.control == "operator" and self._operator_since is None:
            self._operator_since = t
        elif status.control == "autonomy" and self._operator_since is not None:
            self.operator_seconds += max(0.0, t - self._operator_since)
            self._operator_since = None

    # --- figures ------------------------------------------------------------------------

    def stock_counts(self) -> np.ndarray:
        """Containers per lane at each sample: (samples, lanes)."""
        return np.array(self.series_counts, dtype=np.int16).reshape(len(self.series_t), len(self.lane_ids))

    def hourly(self) -> HourlySales:
        """Sold, lost and forecast containers per clock hour, over the part of each hour the run covered."""
        hours = np.array(self.hour_index, dtype=np.float64)
        start = np.maximum(hours * HOUR_S, self.start or 0.0)
        end = np.minimum((hours + 1) * HOUR_S, self.end or 0.0)
        steps = np.array(self.hour_forecast, dtype=np.float64).reshape(len(hours), FORECAST_STEPS)
        # Each step counts by the share of it the run covered.
        step_start = hours[:, None] * HOUR_S + np.arange(FORECAST_STEPS)[None, :] * FORECAST_STEP_S
        overlap = np.clip(
            np.minimum(step_start + FORECAST_STEP_S, end[:, None]) - np.maximum(step_start, start[:, None]),
            0.0,
            FORECAST_STEP_S,
        )
        forecast = (steps * overlap / FORECAST_STEP_S).sum(axis=1)
        return HourlySales(
            start, end, np.array(self.hour_sold, dtype=np.int64), np.array(self.hour_lost, dtype=np.int64), forecast
        )

    @property
    def duration_s(self) -> float:
        return 0.0 if self.start is None or self.end is None else self.end - self.start

    @property
    def on_shelf_availability(self) -> float:
        return self._available_seconds / self._lane_seconds if self._lane_seconds else float("nan")

    @property
    def containers_moved(self) -> int:
        return self.events.get("placed", 0)

    def cycle_times(self) -> np.ndarray:
        """Seconds per container placed, for tasks that placed any."""
        return np.array([(r.finished - r.started) / r.placed for r in self.results.values() if r.placed > 0])

    @property
    def robot_busy_s(self) -> float:
        spans = sorted((r.started, r.finished) for r in self.result_log if r.finished > r.started)
        busy, cur_start, cur_end = 0.0, None, None
        for s, e in spans:
            if cur_end is None or s > cur_end:
                if cur_end is not None:
                    busy += cur_end - cur_start  # type: ignore[operator]
                cur_start, cur_end = s, e
            else:
                cur_end = max(cur_end, e)
        if cur_end is not None:
            busy += cur_end - cur_start  # type: ignore[operator]
        return busy

    def tasks_without_operator(self) -> float:
        finished = [r for r in self.results.values() if r.outcome in ("done", "partial", "failed", "parked")]
        if not finished:
            return float("nan")
        handed = {h.task_id for h in self.handoffs.values() if h.task_id}
        return sum(1 for r in finished if r.task_id not in handed and r.outcome != "parked") / len(finished)

    def repeated_tasks(self) -> list[str]:
        """Task ids published more than once with work done each time (a repeat is a bug). The
        same result heard again (the arm answers a task sent again from its store) is no repeat."""
        done = Counter(
            task_id for task_id, _ in {(r.task_id, r.started) for r in self.result_log if r.outcome == "done"}
        )
        return sorted(t for t, n in done.items() if n > 1)

    def summary(self) -> dict[str, object]:
        cycles = self.cycle_times()
        outcomes = Counter(r.outcome for r in self.results.values())
        return {
            "sim hours": round(self.duration_s / 3600, 2),
            "on-shelf availability": round(self.on_shelf_availability, 4),
            "sales": sum(self.sales.values()),
            "lost sales": sum(self.lost_sales.values()),
            "containers moved": self.containers_moved,
            "tasks": dict(outcomes),
            "cycle time median s": round(float(np.median(cycles)), 1) if len(cycles) else None,
            "cycle time p90 s": round(float(np.percentile(cycles, 90)), 1) if len(cycles) else None,
            "handoffs raised": dict(Counter(h.kind for h in self.handoffs.values())),
            "handoffs resolved": dict(Counter(r.action for r in self.resolutions.values())),
            "tasks without operator": round(self.tasks_without_operator(), 4),
            "operator minutes": round(self.operator_seconds / 60, 1),
            "robot busy hours": round(self.robot_busy_s / 3600, 2),
            "repeated tasks": len(self.repeated_tasks()),
            "sim events": dict(self.events),
            **self.extra,
        }
