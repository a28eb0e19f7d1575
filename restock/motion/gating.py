"""Who may move the arm now: the e-stop, the joint_states watchdog, an operator, or the executor.

The arm controller node feeds :class:`ArmGate` its inputs (e-stop, teleop status, joint_states
arrivals, the control tick) and carries out what the answers ask (hold, pause the executor,
resume). Pure: times come in as arguments, sim or wall seconds as named.

Wake-up: a simulator that runs as fast as it can while the arm sends nothing (idle, an
operator's turn, a long trajectory) would get the next trajectory seconds (of sim time) late.
The joint_states stamps against the wall clock show its rate; while it is above
``wake_above_rate``, an empty trajectory (a hold: the arm is between steps, nothing moves) tells
it a command is coming, and the step waits until it has slowed to its capped rate.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import Enum

FEEDBACK_KEPT = 1000  # joint_states arrivals kept for the rate (the rate reads the last ~0.1 s)
RATE_WINDOW_S = 0.1  # wall seconds of joint_states the sim rate is measured over
WAKE_EVERY_S = 0.05  # wall seconds between two wake-up holds


class Change(Enum):
    """What an input changed; the node holds, pauses or resumes on it."""

    NONE = "none"
    STOPPED = "stopped"  # e-stop pressed, or joint_states went stale: hold and pause now
    CLEARED = "cleared"  # e-stop released, or joint_states back: resume if nothing else holds
    TAKEN = "taken"  # an operator took control (pause autonomy)
    NEW_HAND = "new_hand"  # another operator has the arm (forget the previous target)
    RELEASED = "released"  # the operator handed control back (hold, then resume if clear)


@dataclass
class ArmGate:
    joint_states_timeout_s: float
    joint_states_wall_timeout_s: float = 0.0  # 0: sim time alone decides staleness
    wake_above_rate: float = 0.0  # 0: no wake-ups
    estop: bool = False
    stale: bool = False
    operator: str | None = None
    woken_at: float | None = None  # wall time of the last wake-up hold
    feedback: deque[tuple[float, float]] = field(default_factory=deque)  # (wall, stamp) of joint_states

    @property
    def clear(self) -> bool:
        """Nothing holds the arm: the executor may run."""
        return not (self.estop or self.stale or self.operator is not None)

    @property
    def operator_inputs(self) -> bool:
        """An operator's targets and gripper commands count (someone in control, no e-stop)."""
        return self.operator is not None and not self.estop

    def on_estop(self, pressed: bool) -> Change:
        change, self.estop = _flip(self.estop, pressed), pressed
        return change

    def on_teleop(self, operator_in_control: bool, operator: str | None) -> list[Change]:
        """A teleop status: the changes in order (taken before new hand when someone takes over)."""
        if operator_in_control:
            who = operator or "operator"
            out = []
            if self.operator is None:
                out.append(Change.TAKEN)
            if who != self.operator:
                out.append(Change.NEW_HAND)
            self.operator = who
            return out
        if self.operator is not None:  # explicit release: back to autonomy
            self.operator = None
            return [Change.RELEASED]
        return []

    def on_feedback(self, wall: float, stamp: float) -> None:
        """A joint_states message arrived at ``wall`` (monotonic) measured at ``stamp`` (sim or wall s)."""
        self.feedback.append((wall, stamp))
        if len(self.feedback) > FEEDBACK_KEPT:
            self.feedback.popleft()

    def watchdog(self, now: float, received: float, wall: float, received_wall: float) -> Change:
        """joint_states last received at ``received`` (node clock) / ``received_wall`` (monotonic).

        Stale when older than joint_states_timeout_s on the node's clock and, with a wall timeout
        set, also that old in wall time (a sim racing at hundreds of times real time crosses the
        sim timeout between two messages).
        """
        wall_timeout = self.joint_states_wall_timeout_s
        late = now - received > self.joint_states_timeout_s and (
            wall_timeout <= 0 or wall - received_wall > wall_timeout
        )
        change, self.stale = _flip(self.stale, late), late
        return change

    def sim_rate(self) -> float:
        """Sim seconds per wall second over the last ~RATE_WINDOW_S wall s of joint_states (1 when unknown)."""
        fb = self.feedback
        while len(fb) > 2 and fb[-1][0] - fb[1][0] > RATE_WINDOW_S:
            fb.popleft()
        if len(fb) < 2:
            return 1.0
        (w0, s0), (w1, s1) = fb[0], fb[-1]
        return (s1 - s0) / max(w1 - w0, 1e-3)

    def wake(self, step_due: bool, wall: float) -> tuple[bool, bool]:
        """(awake, send a wake-up hold): False while the simulator races and a step is due.

        ``step_due``: the executor has work and is between steps (no motion or gripper wait).
        """
        limit = self.wake_above_rate
        if limit <= 0 or not step_due or self.sim_rate() <= limit:
            return True, False
        if self.woken_at is None or wall - self.woken_at > WAKE_EVERY_S:
            self.woken_at = wall
            return False, True
        return False, False


def _flip(was: bool, now: bool) -> Change:
    """A holding condition (e-stop, stale feedback) that came on, went off, or stayed as it was."""
    if was == now:
        return Change.NONE
    return Change.STOPPED if now else Change.CLEARED
