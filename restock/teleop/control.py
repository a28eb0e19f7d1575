"""Controller pose and buttons to end-effector targets, with a deadman and a heartbeat.

Clutch-style mapping: while the grip (the deadman) is held, the target moves by the controller's
motion since the grip was pressed (scaled, XR axes turned into the store frame) from where the
target was then; the wrist follows the controller's turn about the vertical. Releasing the grip,
or no heartbeat for ``heartbeat_timeout_s``, holds: no more targets go out (the arm controller
holds when targets stop) until the grip is pressed again, which takes a new anchor, so the arm
never jumps to where the hand went meanwhile.

The operator faces the shelf as the robot does (towards +y in the store frame): XR x (right)
is store +x, XR -z (forward) is store +y, XR y (up) is store +z.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from restock.store.description import Store
from restock.teleop.protocol import Pose

XR_TO_STORE = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


@dataclass(frozen=True)
class Workspace:
    """The box in the store frame a teleop target may be in; the arm's own envelope still applies."""

    lo: tuple[float, float, float]
    hi: tuple[float, float, float]

    @classmethod
    def for_store(cls, store: Store) -> Workspace:
        rail = store.robot.joint("rail_x")
        depth = max(row.depth for row in store.case.rows)
        top = max(row.height + row.clearance for row in store.case.rows)
        return cls(
            lo=(min(store.case.x_min, rail.lower) - 0.05, store.stock.y - 0.10, 0.0),
            hi=(max(store.case.x_max, rail.upper) + 0.05, store.case.back_y + depth + 0.05, top + 0.30),
        )

    def contains(self, p: np.ndarray) -> bool:
        return bool(np.all(p >= self.lo) and np.all(p <= self.hi))

    def clamp(self, p: np.ndarray) -> np.ndarray:
        return np.clip(p, self.lo, self.hi)

    def centre(self) -> np.ndarray:
        return (np.array(self.lo) + np.array(self.hi)) / 2


@dataclass(frozen=True)
class EeTarget:
    """An end-effector target in the store frame: grasp centre and wrist yaw, plus the gripper opening."""

    position: tuple[float, float, float]
    yaw: float  # about store +z (rad)
    gripper_opening: float  # m

    def quaternion_xyzw(self) -> tuple[float, float, float, float]:
        return (0.0, 0.0, math.sin(self.yaw / 2), math.cos(self.yaw / 2))


def _yaw_of_xr_quaternion(q: list[float]) -> float:
    """The controller's turn about the XR vertical (y), as a turn about store +z."""
    x, y, z, w = q
    # Heading of the controller's forward axis (-z) rotated by q, projected on the floor.
    fx = -(2 * (x * z + w * y))
    fz = -(1 - 2 * (x * x + y * y))
    # XR forward (-z) is store +y; XR x is store +x: store heading = atan2(store y, store x).
    return math.atan2(-fz, fx) - math.pi / 2


@dataclass
class Decision:
    target: EeTarget | None = None  # publish this
    reason: str = ""  # why nothing was published (logged by the caller, rate-limited)


class TeleopControl:
    """The deadman/heartbeat state machine for one robot under one operator."""

    def __init__(
        self,
        workspace: Workspace,
        max_opening: float,
        heartbeat_timeout_s: float = 0.25,
        scale: float = 1.0,
        max_step_m: float = 0.25,
    ) -> None:
        self.workspace = workspace
        self.max_opening = max_opening
        self.heartbeat_timeout_s = heartbeat_timeout_s
        self.scale = scale
        self.max_step_m = max_step_m  # a controller jump larger than this between messages: tracking glitch
        self.engaged = False
        self.last_heard = -math.inf
        self.target: EeTarget | None = None
        self._anchor_ctrl: np.ndarray | None = None
        self._anchor_yaw = 0.0
        self._anchor_target: np.ndarray | None = None
        self._anchor_target_yaw = 0.0
        self._last_ctrl: np.ndarray | None = None
        self.home = workspace.centre()
        self.home_yaw = 0.0

    def reset(self, home: tuple[float, float, float] | None = None, yaw: float = 0.0) -> None:
        """A new lease: hold, and start from ``home`` (where the arm is or the handoff's lane)."""
        self.engaged = False
        self.target = None
        self._anchor_ctrl = None
        self._last_ctrl = None
        self.home = self.workspace.clamp(np.array(home, float)) if home is not None else self.workspace.centre()
        self.home_yaw = yaw

    def heartbeat(self, now: float) -> None:
        self.last_heard = now

    def on_pose(self, pose: Pose, now: float) -> Decision:
        """A validated controller pose from the lease holder."""
        self.last_heard = now
        p = np.array(pose.position, float)
        if not pose.grip:
            was = self.engaged
            self._release()
            return Decision(reason="deadman released: holding" if was else "deadman not held")
        jump = float(np.linalg.norm(p - self._last_ctrl)) if self._last_ctrl is not None else 0.0
        if jump > self.max_step_m:
            self._release()
            return Decision(reason=f"controller jumped {jump:.2f} m: holding")
        self._last_ctrl = p
        yaw = _yaw_of_xr_quaternion(pose.orientation)
        if not self.engaged:
            self.engaged = True
            self._anchor_ctrl = p
            self._anchor_yaw = yaw
            start = self.target
            self._anchor_target = np.array(start.position) if start else self.home
            self._anchor_target_yaw = start.yaw if start else self.home_yaw
        assert self._anchor_ctrl is not None and self._anchor_target is not None
        wanted = self._anchor_target + self.scale * XR_TO_STORE @ (p - self._anchor_ctrl)
        position = self.workspace.clamp(wanted)
        turn = math.remainder(yaw - self._anchor_yaw, 2 * math.pi)
        opening = self.max_opening * (1.0 - pose.trigger)
        self.target = EeTarget(
            (float(position[0]), float(position[1]), float(position[2])),
            math.remainder(self._anchor_target_yaw + turn, 2 * math.pi),
            opening,
        )
        return Decision(self.target, "" if np.array_equal(position, wanted) else "clamped to the workspace")

    def tick(self, now: float) -> str | None:
        """Called often (every ~20 ms): returns why control was just held, if it was."""
        if self.engaged and now - self.last_heard > self.heartbeat_timeout_s:
            self._release()
            return f"no heartbeat for {now - self.last_heard:.3f} s: holding"
        return None

    def hold(self) -> None:
        self._release()

    def _release(self) -> None:
        self.engaged = False
        self._anchor_ctrl = None
        self._last_ctrl = None
