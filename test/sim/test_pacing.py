"""The simulator's pacing without ROS: sim time against wall time, the active cap, the due times."""

from __future__ import annotations

import math

import pytest

from restock.sim.pacing import MAX_FAST_STEP_S, WALL_TICK_S, Every, Pacer


def test_real_time_factor_advances_sim_time_from_the_anchor() -> None:
    p = Pacer(2.0, 0.0, 5.0, wall=100.0, now=1000.0)
    assert p.rate(False, 1000.0) == 2.0
    assert p.target(100.5, 1000.0, 2.0) == pytest.approx(1001.0)
    # The world got only part of the way: the next target still counts from the anchor.
    assert p.target(100.75, 1000.6, 2.0) == pytest.approx(1001.5)


def test_far_behind_starts_again_from_now_instead_of_racing() -> None:
    p = Pacer(1.0, 0.0, 0.0, wall=0.0, now=50.0)
    # Three wall seconds went by with the world stuck (a slow render): do not run 3 s at once.
    assert p.target(3.0, 50.0, 1.0) == pytest.approx(50.0 + WALL_TICK_S)
    assert p.anchor == (3.0, 50.0)
    assert p.target(3.5, 50.01, 1.0) == pytest.approx(50.5)


def test_zero_factor_runs_as_fast_as_it_can_in_bounded_steps() -> None:
    p = Pacer(0.0, 0.0, 0.0, wall=0.0, now=10.0)
    assert p.rate(True, 10.0) == 0.0  # no active cap set: the arm's motion does not slow it
    assert p.target(1.0, 10.0, 0.0) == 10.0 + MAX_FAST_STEP_S


def test_a_command_caps_the_rate_for_the_hold_then_it_runs_free_again() -> None:
    p = Pacer(0.0, 1.0, 5.0, wall=0.0, now=100.0)
    assert p.rate(False, 100.0) == 0.0
    p.wake(100.0)
    assert p.active(False, 104.9)
    assert p.rate(False, 104.9) == 1.0
    assert p.rate(False, 105.0) == 0.0
    assert p.rate(True, 200.0) == 1.0  # the arm moving holds the cap too


def test_the_cap_never_speeds_up_a_slower_factor() -> None:
    p = Pacer(0.5, 2.0, 5.0, wall=0.0, now=0.0)
    p.wake(0.0)
    assert p.rate(True, 1.0) == 0.5
    faster = Pacer(10.0, 2.0, 5.0, wall=0.0, now=0.0)
    faster.wake(0.0)
    assert faster.rate(False, 1.0) == 2.0


def test_a_change_of_rate_moves_the_anchor() -> None:
    p = Pacer(0.0, 1.0, 5.0, wall=0.0, now=0.0)
    assert p.target(0.01, 0.0, 0.0) == MAX_FAST_STEP_S
    p.wake(40.0)
    rate = p.rate(False, 40.0)
    assert p.target(7.0, 40.0, rate) == pytest.approx(40.0)  # anchored now, not at wall 0
    assert p.anchor == (7.0, 40.0)
    assert p.target(7.25, 40.0, rate) == pytest.approx(40.25)


def test_measured_factor_comes_every_five_wall_seconds() -> None:
    p = Pacer(1.0, 0.0, 0.0, wall=0.0, now=0.0)
    assert p.measured(5.0, 20.0) is None
    assert p.measured(5.5, 22.0) == pytest.approx(4.0)
    assert p.measured(6.0, 30.0) is None
    assert p.measured(11.0, 33.0) == pytest.approx(2.0)


def test_every_is_due_once_per_period_and_never_schedules_the_past() -> None:
    e = Every(0.5, 10.0)
    assert e.due(10.0) and e.due(10.0 - 1e-12)
    e.done(10.0)
    assert e.next == 10.5 and not e.due(10.4)
    e.done(12.0)  # sent late: the next is not in the past
    assert e.next == 12.0
    e.done(12.0, period=2.0)  # the idle joint_states period
    assert e.next == 14.0
    e.soon(13.0)  # a command: due at once
    assert e.due(13.0) and e.next == 13.0
    e.soon(20.0)  # never later than it was
    assert e.next == 13.0
    assert not Every(1.0, math.inf).due(1e12)
