"""Kinematics of the rail robot: a carriage on a rail along x, a lift, and a planar SCARA arm.

Joints (in this order everywhere): ``rail_x``, ``lift_z``, ``shoulder``, ``elbow``, ``wrist``.
The grasp centre (the contract with the simulator and the hardware driver)::

    x = rail_x + l1 cos q1 + l2 cos(q1+q2) + lt cos(q1+q2+q3)
    y = rail_y + l1 sin q1 + l2 sin(q1+q2) + lt sin(q1+q2+q3)
    z = base_height + lift_z,            tool yaw = q1 + q2 + q3

Inverse kinematics is closed form: the tool yaw fixes the wrist centre, the rail is placed
under the wrist (clamped to its travel and to the arm's reach), the lift is the height, and the
shoulder/elbow pair is the two-link solution whose elbow stays in the corridor between the
back-room stock and the case (of the two mirror solutions, the one nearest a preferred
configuration, so the arm never flips elbow mid-task). Pure numpy, no rclpy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from restock.store.arm_shape import ArmShape, grasp_offsets
from restock.store.description import Store

JOINT_NAMES: tuple[str, ...] = ("rail_x", "lift_z", "shoulder", "elbow", "wrist")
RAIL, LIFT, SHOULDER, ELBOW, WRIST = range(5)
TWO_PI = 2.0 * math.pi
# Preferred shoulder-to-wrist distance in the plane (m) when the carriage can choose.
COMFORT_REACH = 0.45
# How far inside the corridor the elbow axis must stay (m): link radius plus room to move.
CORRIDOR_MARGIN = 0.08
# The upper arm points towards +x (cos shoulder at least this): the elbow never crosses the corridor.
MIN_SHOULDER_COS = 0.1

# How close to full stretch or full fold the two-link solution may come (m): near those the
# elbow angle changes fast for a small move of the target.
REACH_MARGIN = 0.01


class IkError(ValueError):
    """No joint configuration reaches the pose; the message says why."""


@dataclass(frozen=True)
class Pose:
    """Grasp centre in the store frame and the tool's yaw about +z (rad)."""

    x: float
    y: float
    z: float
    yaw: float

    def as_array(self) -> np.ndarray:
        return np.array([self.x, self.y, self.z, self.yaw])

    def is_finite(self) -> bool:
        return all(math.isfinite(v) for v in (self.x, self.y, self.z, self.yaw))


@dataclass(frozen=True)
class ArmModel:
    """Geometry and joint limits of one robot, from the store description."""

    rail_y: float
    base_height: float
    l1: float
    l2: float
    lt: float
    lower: np.ndarray  # (5,) joint position limits
    upper: np.ndarray
    max_velocity: np.ndarray  # (5,)
    max_acceleration: np.ndarray
    max_jerk: np.ndarray
    corridor: tuple[float, float]  # (stock.y, case.back_y): the free band the links must stay in
    max_opening: float
    shape: ArmShape = field(default_factory=ArmShape)  # the parts' sizes (the envelope's body model)

    @classmethod
    def from_store(cls, store: Store) -> ArmModel:
        r = store.robot
        joints = [r.joint(n) for n in JOINT_NAMES]
        return cls(
            rail_y=r.rail_y,
            base_height=r.base_height,
            l1=r.upper_arm,
            l2=r.forearm,
            lt=r.tool_length,
            lower=np.array([j.lower for j in joints]),
            upper=np.array([j.upper for j in joints]),
            max_velocity=np.array([j.max_velocity for j in joints]),
            max_acceleration=np.array([j.max_acceleration for j in joints]),
            max_jerk=np.array([j.max_jerk for j in joints]),
            corridor=(store.stock.y, store.case.back_y),
            max_opening=r.gripper.max_opening,
            shape=ArmShape.of(r),
        )

    @property
    def reach_max(self) -> float:
        return self.l1 + self.l2 - REACH_MARGIN

    @property
    def reach_min(self) -> float:
        # The elbow's limits, not only the link lengths, bound how close the wrist can fold in.
        fold = min(abs(self.lower[ELBOW]), abs(self.upper[ELBOW]), math.pi)
        return math.sqrt(self.l1**2 + self.l2**2 + 2 * self.l1 * self.l2 * math.cos(fold)) + REACH_MARGIN

    # --- forward ------------------------------------------------------------------------

    def frames(self, q: np.ndarray) -> dict[str, np.ndarray]:
        """Shoulder, elbow, wrist and grasp points (..., 3) and tool yaw (...) for joints (..., 5)."""
        q = np.asarray(q, dtype=float)
        rail, lift, q1, q2, q3 = (q[..., i] for i in range(5))
        a1, a12, yaw = q1, q1 + q2, q1 + q2 + q3
        z = self.base_height + lift
        shoulder = np.stack([rail, np.full_like(rail, self.rail_y), z], axis=-1)
        elbow = shoulder + np.stack([self.l1 * np.cos(a1), self.l1 * np.sin(a1), np.zeros_like(z)], axis=-1)
        wrist = elbow + np.stack([self.l2 * np.cos(a12), self.l2 * np.sin(a12), np.zeros_like(z)], axis=-1)
        grasp = wrist + np.stack([self.lt * np.cos(yaw), self.lt * np.sin(yaw), np.zeros_like(z)], axis=-1)
        return {"shoulder": shoulder, "elbow": elbow, "wrist": wrist, "grasp": grasp, "yaw": yaw}

    def forward(self, q: Sequence[float] | np.ndarray) -> Pose:
        f = self.frames(np.asarray(q, dtype=float))
        g = f["grasp"]
        return Pose(float(g[0]), float(g[1]), float(g[2]), wrap_angle(float(f["yaw"])))

    # --- inverse ------------------------------------------------------------------------

    def within_limits(self, q: np.ndarray, tol: float = 1e-9) -> bool:
        return bool(np.all(np.isfinite(q)) and np.all(q >= self.lower - tol) and np.all(q <= self.upper + tol))

    def rail_for(self, wrist_x: float, wrist_y: float) -> float:
        """Where to put the carriage for a wrist centre: near it, within the rail and the reach.

        The wrist is kept about :data:`COMFORT_REACH` from the shoulder, reaching towards +x,
        so the elbow is neither folded tight nor stretched straight.
        """
        dy = wrist_y - self.rail_y
        if abs(dy) > self.reach_max:
            raise IkError(
                f"the wrist at y={wrist_y:.3f} is {abs(dy):.3f} m from the rail, beyond reach {self.reach_max:.3f}"
            )
        max_dx = math.sqrt(self.reach_max**2 - dy**2)
        min_dx = math.sqrt(max(self.reach_min**2 - dy**2, 0.0))
        lo, hi = self.lower[RAIL], self.upper[RAIL]
        # dx = wrist_x - rail_x must lie in [-max_dx, -min_dx] U [min_dx, max_dx].
        # The arm always reaches towards +x (it cannot swing its elbow across the narrow corridor
        # to the other side): dx = wrist_x - rail_x in [min_dx, max_dx], comfortable if the rail allows.
        comfort = min(max(math.sqrt(max(COMFORT_REACH**2 - dy**2, 0.0)), min_dx), max_dx)
        a, b = max(wrist_x - max_dx, lo), min(wrist_x - min_dx, hi)
        if a > b:
            raise IkError(
                f"no carriage position on the rail [{lo:.3f}, {hi:.3f}] reaches x={wrist_x:.3f} from its -x side"
            )
        return min(max(wrist_x - comfort, a), b)

    def inverse(
        self,
        pose: Pose,
        prefer: np.ndarray | None = None,
        rail_x: float | None = None,
        corridor_margin: float = CORRIDOR_MARGIN,
    ) -> np.ndarray:
        """Joint positions (5,) reaching ``pose``; raises IkError with the reason.

        ``prefer``: a configuration to stay close to (elbow side, wrist turn); ``rail_x``: fix the
        carriage (e.g. for straight moves along y); the elbow must stay ``corridor_margin`` inside
        the corridor between stock and case.
        """
        if not pose.is_finite():
            raise IkError(f"target {pose} is not finite")
        lift = pose.z - self.base_height
        if not self.lower[LIFT] <= lift <= self.upper[LIFT]:
            raise IkError(
                f"height z={pose.z:.3f} needs lift {lift:.3f} outside [{self.lower[LIFT]:.3f}, {self.upper[LIFT]:.3f}]"
            )
        wx = pose.x - self.lt * math.cos(pose.yaw)
        wy = pose.y - self.lt * math.sin(pose.yaw)
        if rail_x is None:
            rail_x = self.rail_for(wx, wy)
        elif not self.lower[RAIL] <= rail_x <= self.upper[RAIL]:
            raise IkError(f"rail_x {rail_x:.3f} is outside the rail")
        dx, dy = wx - rail_x, wy - self.rail_y
        r2 = dx * dx + dy * dy
        r = math.sqrt(r2)
        if not self.reach_min - 1e-9 <= r <= self.reach_max + 1e-9:
            raise IkError(
                f"wrist is {r:.3f} m from the shoulder, outside the reach [{self.reach_min:.3f}, {self.reach_max:.3f}]"
            )
        c2 = (r2 - self.l1**2 - self.l2**2) / (2 * self.l1 * self.l2)
        c2 = min(1.0, max(-1.0, c2))
        lo_y, hi_y = self.corridor[0] + corridor_margin, self.corridor[1] - corridor_margin
        solutions = []
        reasons = []
        for sign in (1.0, -1.0):
            q2 = sign * math.acos(c2)
            q1 = math.atan2(dy, dx) - math.atan2(self.l2 * math.sin(q2), self.l1 + self.l2 * math.cos(q2))
            elbow_y = self.rail_y + self.l1 * math.sin(q1)
            if math.cos(q1) < MIN_SHOULDER_COS:
                reasons.append(f"elbow {'left' if sign > 0 else 'right'} would point to -x")
                continue
            if not lo_y <= elbow_y <= hi_y:
                reasons.append(f"elbow {'left' if sign > 0 else 'right'} at y={elbow_y:.3f} leaves the corridor")
                continue
            q1 = wrap_angle(q1)
            q3_base = wrap_angle(pose.yaw - q1 - q2)
            ref = prefer[WRIST] if prefer is not None else 0.0
            turns = [q3_base + k * TWO_PI for k in (-1, 0, 1)]
            turns = [t for t in turns if self.lower[WRIST] <= t <= self.upper[WRIST]]
            if not turns:
                reasons.append(f"wrist angle {q3_base:.3f} outside its limits")
                continue
            q3 = min(turns, key=lambda t: abs(t - ref))
            q = np.array([rail_x, lift, q1, q2, q3])
            if not self.within_limits(q):
                bad = [JOINT_NAMES[i] for i in range(5) if not self.lower[i] <= q[i] <= self.upper[i]]
                reasons.append(f"joint(s) {', '.join(bad)} outside limits")
                continue
            solutions.append(q)
        if not solutions:
            raise IkError("; ".join(reasons))
        if prefer is None:
            # Default: the elbow farthest from the corridor's edges (a repeatable choice).
            def clearance(q: np.ndarray) -> float:
                ey = self.rail_y + self.l1 * math.sin(q[SHOULDER])
                return min(ey - self.corridor[0], self.corridor[1] - ey)

            return max(solutions, key=clearance)
        prefer = np.asarray(prefer, dtype=float)
        return min(solutions, key=lambda q: float(np.sum(np.abs(q[2:] - prefer[2:]))))


def wrap_angle(a: float) -> float:
    """Angle in (-pi, pi]."""
    a = math.fmod(a + math.pi, TWO_PI)
    if a < 0:
        a += TWO_PI
    return a - math.pi


# --- the task points --------------------------------------------------------------------

PLACE_YAW = math.pi / 2  # into the case (+y)
PICK_YAW = -math.pi / 2  # into the back-room rack (-y)


def place_pose(store: Store, lane_id: str, offsets: dict[str, float] | None = None) -> Pose:
    """The grasp centre that leaves a container at a lane's loading point: above its centre by
    its grip offset (:func:`restock.store.arm_shape.grasp_offsets`, computed if not given)."""
    lane = store.lane_by_id[lane_id]
    x, y, z = lane.loading_point()
    return Pose(x, y, z + (offsets or grasp_offsets(store))[lane.lane.sku], PLACE_YAW)


def pick_pose(store: Store, location_id: str, offsets: dict[str, float] | None = None) -> Pose:
    """The grasp centre on the front container of a back-room stock location."""
    location = store.stock_by_id[location_id]
    x, y, z = store.stock_pick_point(location)
    return Pose(x, y, z + (offsets or grasp_offsets(store))[location.sku], PICK_YAW)
