"""Joint trajectories executed the way ros2_control's joint_trajectory_controller does. No rclpy.

A :class:`JointPath` holds waypoints at absolute times (sim seconds). The first segment runs from
the joints' positions when the path starts to the first waypoint; between waypoints positions
are interpolated with cubic Hermite splines when velocities are given (quintic-free, like the
controller's spline for position + velocity), linearly otherwise. After the last waypoint the
path holds its final positions. Joints not named by the path keep their current targets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np


class TrajectoryError(ValueError):
    """A trajectory that cannot be executed; the message says why."""


@dataclass
class JointPath:
    joint_names: tuple[str, ...]
    times: np.ndarray  # (N,) absolute sim seconds, strictly increasing
    positions: np.ndarray  # (N, J)
    velocities: np.ndarray | None = None  # (N, J) or None
    start_positions: np.ndarray | None = field(default=None)  # (J,) filled in when execution starts
    start_time: float | None = None
    # The joints' velocities when it starts (a stop ramp from motion); None: from rest, as the
    # controller's spline starts from the present positions.
    start_velocities: np.ndarray | None = None
    _times: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)  # from start_time (begin())
    _pos: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)), repr=False)
    _vel: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def from_points(
        cls,
        joint_names: Sequence[str],
        start: float,
        time_from_start: Sequence[float],
        positions: Sequence[Sequence[float]],
        velocities: Sequence[Sequence[float]] | None = None,
    ) -> JointPath:
        names = tuple(joint_names)
        if len(set(names)) != len(names):
            raise TrajectoryError(f"joint names repeat: {list(names)}")
        t = np.asarray(time_from_start, dtype=float)
        q = np.asarray(positions, dtype=float)
        if t.ndim != 1 or q.shape != (t.size, len(names)):
            raise TrajectoryError(f"expected {t.size} points of {len(names)} positions, got shape {q.shape}")
        if not (np.all(np.isfinite(t)) and np.all(np.isfinite(q))):
            raise TrajectoryError("positions and times must be finite")
        if np.any(t < 0) or np.any(np.diff(t) <= 0):
            raise TrajectoryError("time_from_start must be non-negative and strictly increasing")
        v = None
        if velocities is not None and len(velocities) > 0:
            v = np.asarray(velocities, dtype=float)
            if v.shape != q.shape or not np.all(np.isfinite(v)):
                raise TrajectoryError(f"velocities must match positions {q.shape}, got {v.shape}")
        return cls(names, start + t, q, v)

    @property
    def end_time(self) -> float:
        return float(self.times[-1])

    def begin(self, now: float, current: Mapping[str, float]) -> None:
        """Anchor the first segment at the joints' present positions."""
        self.start_time = min(now, float(self.times[0]))
        self.start_positions = np.array([current[n] for n in self.joint_names], dtype=float)
        # The whole path from its start, built once: sample() runs every servo period.
        self._times = np.concatenate([[self.start_time], self.times])
        self._pos = np.vstack([self.start_positions, self.positions])
        self._vel = None
        if self.velocities is not None:
            v0 = np.zeros(len(self.joint_names)) if self.start_velocities is None else self.start_velocities
            self._vel = np.vstack([v0, self.velocities])

    def sample(self, t: float) -> dict[str, float]:
        """Positions at sim time t."""
        q, _ = self.state(t)
        return {n: float(x) for n, x in zip(self.joint_names, q, strict=True)}

    def state(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """Positions and velocities at sim time t, in ``joint_names`` order (held: zero velocity)."""
        if self.start_positions is None or self.start_time is None:
            raise TrajectoryError("begin() the path before sampling it")
        times, pos, vel = self._times, self._pos, self._vel
        if t <= times[0]:
            return pos[0], np.zeros(pos.shape[1]) if vel is None else vel[0]
        if t >= times[-1]:
            return pos[-1], np.zeros(pos.shape[1])
        i = int(np.searchsorted(times, t, side="right")) - 1
        t0, t1 = times[i], times[i + 1]
        h = t1 - t0
        s = (t - t0) / h if h > 0 else 1.0
        if vel is None:
            slope = (pos[i + 1] - pos[i]) / h if h > 0 else np.zeros(pos.shape[1])
            return pos[i] + s * (pos[i + 1] - pos[i]), slope
        h00, h10 = 2 * s**3 - 3 * s**2 + 1, s**3 - 2 * s**2 + s
        h01, h11 = -2 * s**3 + 3 * s**2, s**3 - s**2
        q = h00 * pos[i] + h10 * h * vel[i] + h01 * pos[i + 1] + h11 * h * vel[i + 1]
        # d/dt of the Hermite basis (d/ds over h)
        d00, d10 = (6 * s**2 - 6 * s) / h, 3 * s**2 - 4 * s + 1
        d01, d11 = (-6 * s**2 + 6 * s) / h, 3 * s**2 - 2 * s
        return q, d00 * pos[i] + d10 * vel[i] + d01 * pos[i + 1] + d11 * vel[i + 1]
