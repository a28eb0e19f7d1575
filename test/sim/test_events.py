"""Scripted events: parsed, checked against the store, and run at their sim times."""

from __future__ import annotations

import pytest

from restock.paths import SOURCE_ROOT
from restock.sim.events import EventScriptError, parse_events, schedule_events
from restock.sim.world import World
from restock.store.description import load_store

STORE = load_store(SOURCE_ROOT / "config" / "stores" / "station_kiosk.yaml")


def test_script_runs_at_its_times() -> None:
    w = World(STORE, seed=0)
    start = w.time
    script = (
        "+10 unfamiliar r1_l01 0; 06:00:20 take r1_l02 3; +30 obstruction 0.6,0.25,0.6;"
        " +40 hand cam_front r2_l02 5; +50 fill r2_l03 1; +60 weak_grip 0.5; +70 obstruction r2_l05;"
        " +75 kick 0,-0.5,0.2; +76 weak_drive lift_z 0.5"
    )
    events = schedule_events(w, script)
    assert [e.kind for e in events][:2] == ["unfamiliar", "take"]
    w.step(9.0)
    assert w.lane_contents("r1_l01")[0].kind == "container"
    w.step(2.0)
    assert w.lane_contents("r1_l01")[0].kind == "unfamiliar_item"
    w.step(10.0)
    assert w.lane_count("r1_l02") == STORE.lane_by_id["r1_l02"].lane.capacity - 3
    w.step(80.0)
    kinds = [e.kind for e in w.events if e.stamp >= start]
    assert kinds.count("obstruction") == 2 and "hand" in kinds
    assert w.lane_count("r2_l03") == 1 and w.faults.grip_force_scale == 0.5
    assert w.faults.kick == (0.0, -0.5, 0.2)  # waits for the next container let go
    assert w.faults.drive_scale == {"lift_z": 0.5}
    assert w.lane_contents("r2_l05")[0].kind == "obstruction"


@pytest.mark.parametrize(
    ("script", "reason"),
    [
        ("+10", "expected 'WHEN KIND ARGS"),
        ("soon unfamiliar r1_l01", "bad time"),
        ("+10 flood r1_l01", "unknown kind 'flood'"),
        ("+10 unfamiliar r9_l99", "unknown lane 'r9_l99'"),
        ("+10 hand cam_back", "no camera 'cam_back'"),
        ("+10 obstruction 1,2", "expected X,Y,Z"),
        ("+10 fill r1_l01 99", "capacity"),
        ("+10 weak_grip 20", "scale"),
        ("+10 kick 0,9,0", "a kick is VX,VY,VZ"),
        ("+10 kick 0,1", "a kick is VX,VY,VZ"),
        ("+10 take", "take takes 1 to 2 arguments"),
        ("+10 weak_drive gantry 0.5", "unknown joint 'gantry'"),
        ("+10 weak_drive rail_x 2", "a drive's scale"),
    ],
)
def test_bad_entries_are_refused_with_the_reason(script: str, reason: str) -> None:
    w = World(STORE, seed=0, fill=0.0)
    with pytest.raises(EventScriptError, match="scripted event") as err:
        schedule_events(w, "+5 take r1_l01; " + script)
    assert reason in str(err.value)
    assert not w._scheduled  # nothing half-scheduled


def test_clock_times_are_on_the_start_day() -> None:
    (ev,) = parse_events(["08:15 hand cam_front"], 1783317600.0)  # 2026-07-06T06:00Z
    assert ev.t == 1783317600.0 + 2 * 3600 + 15 * 60
