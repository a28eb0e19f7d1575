"""The fleet day's parts without the store graphs (those are `restock sim --fleet`): the scripted
fleet operator (restock.day.operator_stand_in.FleetOperator) works a bridge's handoffs through the
fleet's console API and the relay, and the fleet day's figures are read from the fleet's database."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fleet_helpers import PASSWORD, FleetPair, handoff, linked_bridge, wait_for

from restock.day.fleet_day import fleet_figures, fleet_store_paths
from restock.day.operator_stand_in import FleetOperator


def test_scripted_fleet_operator_resolves_each_handoff_once_through_the_bridge(
    fleet_pair: FleetPair, fleet_tls: tuple[Path, Path], tmp_path: Path
) -> None:
    server, port, side = linked_bridge(tmp_path, fleet_pair, handoff("d-1", lane="r0_l01"), 0.5)
    second = handoff("d-2", kind="obstruction", lane="r0_l02")
    server.submit_handoff(second)
    side.submit_handoff(second, 4.0)  # dearer: served first
    base = f"https://{fleet_pair.hosts[1]}"
    operators = [FleetOperator(base, name, PASSWORD, fleet_tls[0], lambda: 0.3, tmp_path / "operators.log").start()
                 for name in ("alice", "carol")]  # fmt: skip
    try:
        asyncio.run(wait_for(lambda: len(port.resolutions) == 2, 60))
        asyncio.run(wait_for(lambda: sum(len(op.handled) for op in operators) == 2, 30))
        assert server.rules.holder_name() is None  # each handed the robot back
        assert len(server.rules.queue) == 0
    finally:
        for op in operators:
            op.stop()
        side.stop()
        server.stop()
        server.audit.close()
    got = {r.request_id: (r.action, r.label) for r in port.resolutions}
    assert got == {"d-1": ("removed", "foreign_item"), "d-2": ("cleared", None)}
    handled = sorted((h["request_id"], h["outcome"]) for op in operators for h in op.handled)
    assert handled == [("d-1", "removed"), ("d-2", "cleared")]
    # Each took the robot's lease through the relay: the bridge saw the operator in control.
    assert {s.operator for s in port.statuses if s.control == "operator"} <= {"alice", "carol"}
    assert any(s.control == "operator" for s in port.statuses)
    figures = fleet_figures(fleet_pair.conninfo, ["ra1"], tenant="chain_a")
    fleet = figures["fleet"]
    assert (fleet["handoffs routed"], fleet["claimed once"], fleet["resolved"]) == (2, 2, 2)
    asyncio.run(
        wait_for(lambda: fleet_figures(fleet_pair.conninfo, ["ra1"], "chain_a")["ra1"]["delivered to the robot"] == 2)
    )
    assert fleet["wait median s"] is not None and fleet["never claimed"] == 0


def test_fleet_day_store_files() -> None:
    paths = fleet_store_paths(3)
    assert [p.stem for p in paths] == ["corner_store", "station_kiosk", "walk_in_cooler"]
    for bad in (0, 9):
        try:
            fleet_store_paths(bad)
        except ValueError as err:
            assert "--fleet takes" in str(err)
        else:
            raise AssertionError(f"--fleet {bad} accepted")


def test_fleet_operator_times_a_handoff_on_the_stores_sim_clock() -> None:
    readings = iter([100.0, 130.0, None, 190.0])  # the robot's status: sim time, once missing
    op = FleetOperator("https://127.0.0.1:1", "alice", PASSWORD, Path("ca.crt"), lambda: 60.0,
                       sim_clock=lambda robot: next(readings))  # fmt: skip
    elapsed = op._elapsed("ra1")
    assert [elapsed(), elapsed(), elapsed()] == [30.0, 0.0, 90.0]  # sim seconds since the claim
    wall = FleetOperator("https://127.0.0.1:1", "alice", PASSWORD, Path("ca.crt"), lambda: 60.0, pace=5.0)
    assert 0.0 <= wall._elapsed("ra1")() < 5.0  # no sim clock: wall seconds x pace
