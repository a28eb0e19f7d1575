"""Day statistics and the report, from records built directly (no ROS, no simulator)."""

from __future__ import annotations

from pathlib import Path

import pytest

from restock import records
from restock.day.daystats import DayStats
from restock.day.report import write_report


def truth(
    t: float, counts: dict[str, int], sales: int = 0, lost: int = 0, events: tuple[str, ...] = ()
) -> records.SimGroundTruth:
    return records.SimGroundTruth(
        stamp=t,
        lanes={
            k: records.LaneTruth(sku="cola_500", capacity=8, count=c, items=["cola_500"] * c) for k, c in counts.items()
        },
        stock={"s_cola_500": 10},
        sales={"cola_500": sales},
        lost_sales={"cola_500": lost},
        events=[records.SimEvent(stamp=t, kind=e) for e in events],
    )


def result(task: str, start: float, end: float, placed: int, outcome: str = "done") -> records.TaskResult:
    return records.TaskResult(task_id=task, lane_id="a", outcome=outcome, placed=placed, started=start, finished=end)  # type: ignore[arg-type]


def test_availability_is_time_weighted_over_lanes() -> None:
    s = DayStats(sample_period_s=1.0)
    s.on_truth(truth(0.0, {"a": 3, "b": 0}))  # b empty for the first 100 s
    s.on_truth(truth(100.0, {"a": 3, "b": 2}))
    s.on_truth(truth(400.0, {"a": 3, "b": 2}))
    # lane-seconds: 2 lanes x 400 s = 800; available: a 400 + b 300 = 700
    assert s.on_shelf_availability == pytest.approx(700 / 800)


def test_busy_time_merges_overlapping_tasks_and_cycle_times_are_per_container() -> None:
    s = DayStats()
    for r in (result("t1", 0, 20, 2), result("t2", 10, 30, 1), result("t3", 100, 110, 1)):
        s.on_result(r)
    assert s.robot_busy_s == pytest.approx(40.0)
    assert sorted(s.cycle_times()) == [10.0, 10.0, 20.0]


def test_operator_time_and_autonomy_share() -> None:
    s = DayStats()
    s.on_result(result("t1", 0, 10, 1))
    s.on_result(result("t2", 10, 20, 0, "parked"))
    s.on_handoff(
        records.HandoffRequest(request_id="h1", source="arm_controller", kind="failed_grasp", stamp=15, task_id="t2")
    )
    s.on_teleop(records.TeleopStatus(stamp=30, control="operator", operator="ana"))
    s.on_teleop(records.TeleopStatus(stamp=150, control="autonomy"))
    assert s.operator_seconds == pytest.approx(120)
    assert s.tasks_without_operator() == pytest.approx(0.5)


def test_a_task_done_twice_is_reported_as_repeated() -> None:
    s = DayStats()
    s.on_result(result("t1", 0, 10, 1))
    s.on_result(result("t1", 20, 30, 1))
    s.on_result(result("t2", 40, 50, 1))
    s.on_result(result("t2", 40, 50, 1))  # the arm's stored answer to t2 sent again: no repeat
    assert s.repeated_tasks() == ["t1"]


def test_report_writes_plots_and_page(tmp_path: Path) -> None:
    s = DayStats(sample_period_s=60)
    for i in range(30):
        s.on_truth(
            truth(
                i * 60.0,
                {"a": max(0, 5 - i // 4), "b": 3},
                sales=i,
                lost=max(0, i - 20),
                events=("placed",) if i % 5 == 0 else (),
            )
        )
    s.on_result(result("t1", 100, 130, 2))
    index = write_report(s, tmp_path, "test day", {"learned": s.summary()})
    assert index.exists() and "on-shelf availability" in index.read_text()
    for name in ("stock.png", "sales.png", "timeline.png"):
        assert (tmp_path / name).stat().st_size > 5000
