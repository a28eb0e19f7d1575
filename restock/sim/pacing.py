"""How fast the simulator runs: sim time against wall time, the active cap, and the due times. No rclpy.

The node's loop runs on a steady wall-clock timer. Each tick it asks :class:`Pacer` how far sim
time may go (real_time_factor x wall time, or MAX_FAST_STEP_S when the factor is 0: as fast as
it can), then steps the world from one due time (:class:`Every`) to the next. A command wakes
the pacer: for active_hold_s of sim time (and while the arm moves) the rate is capped at
active_real_time_factor, so a simulator racing through an idle store slows down for the arm.
Times come in as arguments: ``wall`` is monotonic wall seconds, ``now`` is sim seconds.
"""

from __future__ import annotations

import math

WALL_TICK_S = 0.01  # the loop's wall-clock period
MAX_TICK_WALL_S = 0.05  # hand control back to the executor at least this often (callbacks)
MAX_FAST_STEP_S = 5.0  # sim seconds per step when running as fast as possible
CATCH_UP_WALL_S = 1.0  # further behind than this (wall seconds): start again from now, not race
MEASURE_EVERY_WALL_S = 5.0  # the measured real-time factor, reported this often
EPS = 1e-9


class Pacer:
    def __init__(
        self,
        real_time_factor: float,
        active_real_time_factor: float,
        active_hold_s: float,
        wall: float,
        now: float,
    ) -> None:
        self.rtf = real_time_factor
        self.active_rtf = active_real_time_factor
        self.active_hold_s = active_hold_s
        self.active_until = -math.inf  # sim time the active cap holds until (without arm motion)
        self.rate_now = real_time_factor
        self.anchor = (wall, now)  # sim time advances from here at rate_now
        self.measured_from = (wall, now)

    def wake(self, now: float) -> None:
        """A command came: the active cap holds for active_hold_s from now."""
        self.active_until = now + self.active_hold_s

    def active(self, arm_busy: bool, now: float) -> bool:
        return arm_busy or now < self.active_until

    def rate(self, arm_busy: bool, now: float) -> float:
        """Sim seconds per wall second now (0: as fast as possible)."""
        capped = self.rtf == 0 or self.rtf > self.active_rtf
        if self.active(arm_busy, now) and self.active_rtf > 0 and capped:
            return self.active_rtf
        return self.rtf

    def target(self, wall: float, now: float, rate: float) -> float:
        """The sim time this tick runs to at ``rate``; a change of rate starts a new anchor."""
        if rate != self.rate_now:
            self.rate_now = rate
            self.anchor = (wall, now)
        if rate <= 0:
            return now + MAX_FAST_STEP_S
        anchor_wall, anchor_sim = self.anchor
        target = anchor_sim + rate * (wall - anchor_wall)
        if target - now > CATCH_UP_WALL_S * rate:  # more than a wall second behind: do not race to catch up
            self.anchor = (wall, now)
            target = now + rate * WALL_TICK_S
        return target

    def measured(self, wall: float, now: float) -> float | None:
        """The real-time factor over the last MEASURE_EVERY_WALL_S, once that has passed; else None."""
        wall_then, sim_then = self.measured_from
        if wall - wall_then <= MEASURE_EVERY_WALL_S:
            return None
        self.measured_from = (wall, now)
        return (now - sim_then) / (wall - wall_then)


class Every:
    """A periodic due time in sim seconds (joint_states, ground truth, a camera)."""

    def __init__(self, period: float, start: float) -> None:
        self.period = period
        self.next = start

    def due(self, now: float) -> bool:
        return now >= self.next - EPS

    def done(self, now: float, period: float | None = None) -> None:
        """Sent at ``now``: the next is a period on (``period`` if given), never in the past."""
        self.next = max(self.next + (self.period if period is None else period), now)

    def soon(self, now: float) -> None:
        """Due at once (a command came: joint_states at their full rate from now)."""
        self.next = min(self.next, now)
