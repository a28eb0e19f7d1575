"""The chaos schedule: every node (the simulator too) killed at least three times, seeded, inside the day."""

from __future__ import annotations

from collections import Counter

from restock.day.chaos import KILLS_PER_NODE, schedule

NODES = [
    "sim",
    "shelf_camera_cam_left",
    "shelf_camera_cam_right",
    "planner",
    "arm_controller",
    "teleop_bridge",
    "recorder",
]


def test_every_node_is_killed_at_least_three_times_within_the_day() -> None:
    faults = schedule(NODES, ["shelf_camera_cam_left"], 86400.0, seed=3)
    kills = Counter(f.node for f in faults if f.kind == "kill")
    assert all(kills[n] >= KILLS_PER_NODE for n in NODES)
    assert all(0 < f.at < 86400.0 for f in faults)
    assert [f.at for f in faults] == sorted(f.at for f in faults)


def test_schedule_is_deterministic_per_seed_and_pairs_its_faults() -> None:
    a = schedule(NODES, ["shelf_camera_cam_left"], 86400.0, seed=5)
    assert a == schedule(NODES, ["shelf_camera_cam_left"], 86400.0, seed=5)
    assert a != schedule(NODES, ["shelf_camera_cam_left"], 86400.0, seed=6)
    kinds = Counter(f.kind for f in a)
    assert kinds["estop"] == kinds["estop_release"] >= 1
    assert kinds["camera_stop"] == kinds["camera_start"] == 1
    assert Counter(f.node for f in a if f.kind == "kill")["sim"] == KILLS_PER_NODE
