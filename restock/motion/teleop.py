"""Teleop following: an operator's end-effector targets through IK, ruckig and the envelope.

While an operator holds control, each new target (the grasp centre and tool yaw in the store
frame) is solved by inverse kinematics and a ruckig trajectory is computed from the arm's
*commanded* state (position, velocity, acceleration: online smoothing, no jumps) to rest at the
target; the envelope checks it with every lane's back slot and every stock slot open; if it is
refused the arm brakes (a checked ruckig stop) or holds. No target for ``target_timeout_s``
holds the arm. Pure logic: the node calls :meth:`on_target` and :meth:`step`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from restock.motion.commands import Command, Hold, SendTrajectory, SetGripper
from restock.motion.envelope import Envelope, Held, Scene, all_openings
from restock.motion.kinematics import IkError, Pose
from restock.motion.moves import Mover
from restock.motion.trajectory import PlanError, brake, move_to

TARGET_TIMEOUT_S = 0.25
# A generic item for the keep-out check when the operator's gripper holds something unknown.
UNKNOWN_HELD = Held(radius=0.04, height=0.22)


@dataclass
class TeleopFollower:
    mover: Mover
    envelope: Envelope  # teleop's own, usually with a lower speed scale
    target_timeout_s: float = TARGET_TIMEOUT_S
    target_q: np.ndarray | None = None
    target_time: float | None = None
    fresh: bool = False  # a target not yet turned into a trajectory
    holding_for_loss: bool = False
    rejected: int = 0
    last_reason: str = ""
    scene: Scene = field(init=False)

    def __post_init__(self) -> None:
        self.scene = self.mover.scene.with_openings(all_openings(self.mover.store))
        store = self.mover.store
        m = self.mover.model
        front = store.case.back_y + max(r.depth for r in store.case.rows)
        # The volume a target may lie in at all (anything else is out of frame).
        self.frame_lo = np.array([m.lower[0] - m.reach_max - m.lt, store.stock.y - 0.5, m.base_height + m.lower[1]])
        self.frame_hi = np.array([m.upper[0] + m.reach_max + m.lt, front, m.base_height + m.upper[1]])

    def reset(self) -> None:
        """Control changed hands: forget the previous operator's target."""
        self.target_q = None
        self.target_time = None
        self.fresh = False
        self.holding_for_loss = False

    def on_target(self, x: float, y: float, z: float, yaw: float, now: float, reference: np.ndarray) -> str:
        """Accept a target (returns "") or say why it was rejected; a rejected target is never followed."""
        values = (x, y, z, yaw)
        if not all(isinstance(v, float | int) and math.isfinite(v) for v in values):
            return self._reject(f"target {values} is not finite")
        p = np.array([x, y, z])
        if np.any(p < self.frame_lo) or np.any(p > self.frame_hi):
            return self._reject(f"target {np.round(p, 3).tolist()} is outside the robot's frame")
        try:
            q = self.mover.model.inverse(Pose(float(x), float(y), float(z), float(yaw)), prefer=reference)
        except IkError as err:
            return self._reject(f"target unreachable: {err}")
        self.target_q = q
        self.target_time = now
        self.fresh = True
        self.holding_for_loss = False
        return ""

    def on_gripper(self, opening: float) -> SetGripper | None:
        if not isinstance(opening, float | int) or not math.isfinite(opening):
            self._reject(f"gripper opening {opening!r} is not finite")
            return None
        return SetGripper(float(min(max(opening, 0.0), self.mover.model.max_opening)))

    def step(
        self, now: float, position: np.ndarray, velocity: np.ndarray, acceleration: np.ndarray, held: bool
    ) -> Command | None:
        """The command for this control period, if any."""
        if self.target_time is None:
            return None
        if now - self.target_time > self.target_timeout_s:
            if self.holding_for_loss:
                return None
            self.holding_for_loss = True
            self.fresh = False
            return Hold(f"no teleop target for {now - self.target_time:.3f} s")
        if not self.fresh or self.target_q is None:
            return None
        self.fresh = False
        body = UNKNOWN_HELD if held else None
        try:
            traj = move_to(self.envelope.limits, position, self.target_q, velocity, acceleration)
            reasons = self.envelope.check(traj, self.scene, body, start=position)
        except PlanError as err:
            reasons = [str(err)]
        if not reasons:
            return SendTrajectory(traj)
        self._reject("; ".join(reasons))
        try:
            stop = brake(self.envelope.limits, position, velocity, acceleration)
            if not self.envelope.check(stop, self.scene, body, start=position):
                return SendTrajectory(stop)
        except PlanError:
            pass
        return Hold(f"teleop target refused: {self.last_reason}")

    def _reject(self, reason: str) -> str:
        self.rejected += 1
        self.last_reason = reason
        return reason
