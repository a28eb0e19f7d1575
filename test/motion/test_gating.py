"""Who may move the arm (restock.motion.gating): e-stop, watchdog, operator and wake-up, without ROS."""

from __future__ import annotations

import pytest

from restock.motion.gating import WAKE_EVERY_S, ArmGate, Change


def test_estop_stops_once_and_clears_once() -> None:
    gate = ArmGate(joint_states_timeout_s=0.5)
    assert gate.clear
    assert gate.on_estop(True) is Change.STOPPED
    assert gate.on_estop(True) is Change.NONE  # latched topic sent again: no second hold
    assert not gate.clear and not gate.operator_inputs
    assert gate.on_estop(False) is Change.CLEARED
    assert gate.on_estop(False) is Change.NONE
    assert gate.clear


def test_an_operator_takes_hands_over_and_releases() -> None:
    gate = ArmGate(joint_states_timeout_s=0.5)
    assert gate.on_teleop(True, "alice") == [Change.TAKEN, Change.NEW_HAND]
    assert gate.operator == "alice" and gate.operator_inputs and not gate.clear
    assert gate.on_teleop(True, "alice") == []  # the same hand: keep its target
    assert gate.on_teleop(True, "bob") == [Change.NEW_HAND]
    assert gate.on_teleop(True, None) == [Change.NEW_HAND] and gate.operator == "operator"
    assert gate.on_teleop(False, None) == [Change.RELEASED]
    assert gate.on_teleop(False, None) == []  # autonomy already: nothing to release
    assert gate.clear
    gate.on_teleop(True, "alice")
    gate.on_estop(True)
    assert not gate.operator_inputs  # the e-stop beats the operator


def test_watchdog_on_sim_time_alone() -> None:
    gate = ArmGate(joint_states_timeout_s=0.5)
    assert gate.watchdog(now=10.4, received=10.0, wall=0.0, received_wall=0.0) is Change.NONE
    assert gate.watchdog(now=10.6, received=10.0, wall=0.0, received_wall=0.0) is Change.STOPPED
    assert gate.watchdog(now=11.0, received=10.0, wall=0.0, received_wall=0.0) is Change.NONE
    assert gate.stale and not gate.clear
    assert gate.watchdog(now=11.0, received=10.9, wall=0.0, received_wall=0.0) is Change.CLEARED
    assert gate.clear


def test_watchdog_with_a_wall_timeout_forgives_a_racing_sim() -> None:
    gate = ArmGate(joint_states_timeout_s=0.5, joint_states_wall_timeout_s=0.2)
    # Two sim seconds went by between messages, but only 50 ms of wall time: not stale.
    assert gate.watchdog(now=12.0, received=10.0, wall=100.05, received_wall=100.0) is Change.NONE
    assert gate.watchdog(now=12.0, received=10.0, wall=100.3, received_wall=100.0) is Change.STOPPED


def _feed(gate: ArmGate, rate: float, seconds: float = 0.2, start: float = 0.0) -> float:
    """joint_states every 10 ms of wall time, the sim running ``rate`` times as fast; the last wall time."""
    wall = start
    for k in range(round(seconds / 0.01) + 1):
        wall = start + 0.01 * k
        gate.on_feedback(wall, 1000.0 + rate * wall)
    return wall


def test_sim_rate_reads_the_last_tenth_of_a_second() -> None:
    gate = ArmGate(joint_states_timeout_s=0.5)
    assert gate.sim_rate() == 1.0  # unknown
    wall = _feed(gate, 3.0)
    assert gate.sim_rate() == pytest.approx(3.0)
    _feed(gate, 50.0, start=wall + 0.01)
    assert gate.sim_rate() == pytest.approx(50.0, rel=0.15)  # the older, slower stretch has dropped out


def test_wake_holds_a_racing_sim_only_when_a_step_is_due() -> None:
    gate = ArmGate(joint_states_timeout_s=0.5, wake_above_rate=10.0)
    wall = _feed(gate, 100.0)
    assert gate.wake(step_due=False, wall=wall) == (True, False)  # nothing to start: let it race
    assert gate.wake(step_due=True, wall=wall) == (False, True)  # racing: send a hold, wait
    assert gate.wake(step_due=True, wall=wall + 0.01) == (False, False)  # one hold per WAKE_EVERY_S
    assert gate.wake(step_due=True, wall=wall + WAKE_EVERY_S + 0.02) == (False, True)
    slow = ArmGate(joint_states_timeout_s=0.5, wake_above_rate=10.0)
    wall = _feed(slow, 5.0)
    assert slow.wake(step_due=True, wall=wall) == (True, False)  # at its capped rate: go
    off = ArmGate(joint_states_timeout_s=0.5)
    _feed(off, 100.0)
    assert off.wake(step_due=True, wall=wall) == (True, False)  # wake_above_rate 0: never
