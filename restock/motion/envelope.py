"""The safety envelope: the one gate every joint command passes before it reaches the motors.

:meth:`Envelope.check` takes a sampled trajectory (autonomous or teleop, from whatever
planner) and returns the list of reasons it must not be sent; an empty list admits it. The
rules, all on the samples and on the joint-space segments between them:

- shape and numbers: (N, 5) positions/velocities/accelerations, times from 0 strictly increasing,
  everything finite (NaN/inf rejected), no long gaps between points;
- joint and rail limits on every position;
- velocity, acceleration and jerk limits (times the speed scale), on the declared values and on
  the finite differences of the positions, so a trajectory cannot lie about its speed;
- continuity: it starts where the arm is commanded to be now;
- keep-out boxes: points along the links, the hand and a held container (spheres) stay out of
  the case and the back-room rack, except in the access openings of this motion (the back slot
  of the lane being loaded, the pick slot of the stock location). Between samples the path is
  subdivided so that no point moves more than :data:`CHECK_STEP` metres unchecked.

Pure numpy, no rclpy; the property test throws random commands at it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from restock.motion.kinematics import ArmModel
from restock.motion.trajectory import Limits, Trajectory
from restock.store.description import LaneView, StockLocation, Store

# A point of the arm moves at most this far between two checked configurations (m).
CHECK_STEP = 0.01
# Relative slack on the dynamic limits (sampling and float rounding).
LIMIT_SLACK = 1e-3
# Largest gap between two trajectory points (s): longer gaps leave the interpolation unchecked.
MAX_POINT_GAP = 0.1
# Largest distance of the first point from the commanded state (rad or m).
START_TOLERANCE = 0.02
# Sphere spacing along a link (m): a capsule is covered by spheres grown by half this.
LINK_STEP = 0.04


@dataclass(frozen=True)
class Box:
    lo: tuple[float, float, float]
    hi: tuple[float, float, float]
    name: str


@dataclass(frozen=True)
class Held:
    """A container in the gripper: a column of spheres around the grasp centre."""

    radius: float  # half the container's size across (m)
    height: float


@dataclass
class Scene:
    """Keep-out boxes and the openings carved out of them for one motion."""

    keep_out: list[Box]
    openings: list[Box] = field(default_factory=list)

    def with_openings(self, openings: list[Box]) -> Scene:
        return Scene(self.keep_out, list(openings))

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        k = np.array([[b.lo, b.hi] for b in self.keep_out], dtype=float).reshape(-1, 2, 3)
        o = np.array([[b.lo, b.hi] for b in self.openings], dtype=float).reshape(-1, 2, 3)
        return k[:, 0], k[:, 1], o[:, 0], o[:, 1]


def store_scene(store: Store) -> Scene:
    """The case and the back-room rack as keep-out volumes (the corridor between them is free)."""
    case, stock = store.case, store.stock
    front = case.back_y + max(r.depth for r in case.rows) + 0.1
    rail = store.robot.joint("rail_x")
    x_lo = min(rail.lower, case.x_min, *(loc.x for loc in stock.locations)) - 1.0
    x_hi = max(rail.upper, case.x_max, *(loc.x for loc in stock.locations)) + 1.0
    return Scene(
        keep_out=[
            # The case with its walls: solid except where an opening is carved.
            Box((case.x_min - 0.1, case.back_y, -1.0), (case.x_max + 0.1, front, 5.0), "case"),
            Box((x_lo, stock.y - 1.0, -1.0), (x_hi, stock.y, 5.0), "stock rack"),
            Box((x_lo, stock.y - 1.0, -1.0), (x_hi, front, 0.02), "floor"),
        ]
    )


def lane_opening(lane: LaneView, store: Store) -> Box:
    """The back slot of a lane: between its board and its clearance, as deep as one container."""
    tilt = math.tan(math.radians(lane.row.tilt_deg))
    depth = lane.sku.along + 0.03
    neighbours = [
        abs(other.lane.x - lane.lane.x) - other.lane.width / 2 - lane.lane.width / 2
        for other in store.lanes
        if other.row.id == lane.row.id and other.id != lane.id
    ]
    side = min([0.03, *(max(g, 0.0) / 2 for g in neighbours)])
    half = lane.lane.width / 2 + side
    z_lo = lane.row.height - depth * tilt - 0.005
    return Box(
        (lane.lane.x - half, lane.back_y - 0.2, z_lo),
        (lane.lane.x + half, lane.back_y + depth, lane.row.height + lane.row.clearance),
        f"lane {lane.id} back slot",
    )


def stock_opening(location: StockLocation, store: Store) -> Box:
    """The pick slot of a back-room stock location."""
    sku = store.skus[location.sku]
    half = sku.across / 2 + 0.04
    return Box(
        (location.x - half, store.stock.y - sku.along - 0.03, location.z - 0.005),
        (location.x + half, store.stock.y + 0.2, location.z + sku.height + 0.06),
        f"stock {location.id} pick slot",
    )


def all_openings(store: Store) -> list[Box]:
    """Every lane's back slot and every stock slot (teleop: the operator may reach any of them)."""
    return [lane_opening(lv, store) for lv in store.lanes] + [
        stock_opening(loc, store) for loc in store.stock.locations
    ]


class Envelope:
    """Limits, keep-out volumes and the arm's body model for one robot."""

    def __init__(
        self,
        model: ArmModel,
        speed_scale: float = 1.0,
        link_radius: float = 0.03,
        hand_radius: float = 0.02,
        position_margin: float = 0.0,
    ) -> None:
        self.model = model
        self.speed_scale = speed_scale
        self.limits = Limits.scaled(model, speed_scale)
        self.link_radius = link_radius
        self.hand_radius = hand_radius
        self.lower = model.lower + position_margin
        self.upper = model.upper - position_margin

    # --- the body as spheres ------------------------------------------------------------

    def body_spheres(self, q: np.ndarray, held: Held | None) -> tuple[np.ndarray, np.ndarray]:
        """Sphere centres (M, S, 3) and radii (S,) covering the links, the hand and a held item."""
        f = self.model.frames(q)
        centres = []
        radii = []
        grow = LINK_STEP / 2
        for a, b, r in (("shoulder", "elbow", self.link_radius), ("elbow", "wrist", self.link_radius)):
            length = self.model.l1 if a == "shoulder" else self.model.l2
            n = max(2, math.ceil(length / LINK_STEP) + 1)
            for w in np.linspace(0.0, 1.0, n):
                centres.append(f[a] + w * (f[b] - f[a]))
                radii.append(r + grow)
        n = max(2, math.ceil(self.model.lt / LINK_STEP) + 1)
        for w in np.linspace(0.0, 1.0, n)[1:]:
            centres.append(f["wrist"] + w * (f["grasp"] - f["wrist"]))
            radii.append(self.hand_radius)
        if held is not None:
            off = max(held.height / 2 - held.radius, 0.0)
            for dz in (-off, 0.0, off):
                centres.append(f["grasp"] + np.array([0.0, 0.0, dz]))
                radii.append(held.radius)
        return np.stack(centres, axis=-2), np.array(radii)

    def collisions(self, q: np.ndarray, scene: Scene, held: Held | None) -> list[str]:
        """Names of the keep-out boxes any configuration in q (M, 5) enters."""
        q = np.asarray(q, dtype=float).reshape(-1, 5)
        centres, radii = self.body_spheres(q, held)  # (M, S, 3), (S,)
        klo, khi, olo, ohi = scene.arrays()
        c = centres.reshape(-1, 3)
        r = np.broadcast_to(radii, centres.shape[:2]).reshape(-1, 1)
        hits: set[int] = set()
        for k in range(len(klo)):
            inside = np.all((c > klo[k] - r) & (c < khi[k] + r), axis=1)
            if not inside.any():
                continue
            if len(olo):
                # Only the few spheres inside a keep-out box are checked against the openings.
                ci, ri = c[inside][:, None, :], r[inside][:, :, None]
                in_opening = np.all((ci >= olo + ri) & (ci <= ohi - ri), axis=2).any(axis=1)
                if in_opening.all():
                    continue
            hits.add(k)
        return [scene.keep_out[i].name for i in sorted(hits)]

    # --- the gate -----------------------------------------------------------------------

    def check(
        self,
        traj: Trajectory,
        scene: Scene,
        held: Held | None = None,
        start: np.ndarray | None = None,
    ) -> list[str]:
        """Every reason ``traj`` must not reach the motors (empty: admitted)."""
        try:
            t = np.asarray(traj.times, dtype=float)
            p = np.asarray(traj.positions, dtype=float)
            v = np.asarray(traj.velocities, dtype=float)
            a = np.asarray(traj.accelerations, dtype=float)
        except (TypeError, ValueError) as err:
            return [f"not numeric: {err}"]
        n = t.shape[0] if t.ndim == 1 else -1
        if n < 1 or p.shape != (n, 5) or v.shape != (n, 5) or a.shape != (n, 5):
            return [f"malformed: times {t.shape}, positions {p.shape}, velocities {v.shape}, accelerations {a.shape}"]
        if not (
            np.all(np.isfinite(t)) and np.all(np.isfinite(p)) and np.all(np.isfinite(v)) and np.all(np.isfinite(a))
        ):
            return ["NaN or inf in the trajectory"]
        reasons: list[str] = []
        if abs(t[0]) > 1e-9:
            reasons.append(f"first point at {t[0]:.3f} s, not at the start")
        dt = np.diff(t)
        if np.any(dt <= 0):
            return [*reasons, "times are not strictly increasing"]
        if np.any(dt > MAX_POINT_GAP + 1e-9):
            reasons.append(f"points {float(dt.max()):.3f} s apart (at most {MAX_POINT_GAP} s)")
        lo_bad = p < self.lower - 1e-9
        hi_bad = p > self.upper + 1e-9
        if lo_bad.any() or hi_bad.any():
            joints = sorted({int(j) for j in np.flatnonzero((lo_bad | hi_bad).any(axis=0))})
            reasons.append("outside joint limits: " + ", ".join(_name(j) for j in joints))
        lim = self.limits
        slack = 1.0 + LIMIT_SLACK
        for label, values, bound in (
            ("velocity", v, lim.velocity),
            ("acceleration", a, lim.acceleration),
        ):
            over = np.abs(values) > bound * slack + 1e-9
            if over.any():
                reasons.append(f"{label} over the limit: " + ", ".join(_name(j) for j in np.flatnonzero(over.any(0))))
        if n > 1:
            for label, values, bound in (
                ("mean velocity between points", np.diff(p, axis=0) / dt[:, None], lim.velocity),
                ("velocity change between points", np.diff(v, axis=0) / dt[:, None], lim.acceleration),
                ("jerk", np.diff(a, axis=0) / dt[:, None], lim.jerk),
            ):
                over = np.abs(values) > bound * slack + 1e-6
                if over.any():
                    reasons.append(
                        f"{label} over the limit: " + ", ".join(_name(j) for j in np.flatnonzero(over.any(0)))
                    )
            if np.any(np.abs(v[-1]) > 1e-6):
                reasons.append("does not end at rest")
        if start is not None:
            start = np.asarray(start, dtype=float)
            if start.shape != (5,) or not np.all(np.isfinite(start)):
                reasons.append("the commanded state is unknown")
            elif np.any(np.abs(p[0] - start) > START_TOLERANCE):
                reasons.append("does not start where the arm is")
        if reasons:
            return reasons
        hits = self.collisions(self._densify(p), scene, held)
        if hits:
            reasons.append("enters keep-out: " + ", ".join(hits))
        return reasons

    def _densify(self, p: np.ndarray) -> np.ndarray:
        """Configurations between samples, so no arm point moves more than CHECK_STEP unchecked."""
        if len(p) < 2:
            return p
        d = np.abs(np.diff(p, axis=0))
        reach = self.model.l1 + self.model.l2 + self.model.lt + 0.1
        # Upper bound on how far any point of the arm moves for a joint step.
        travel = (
            d[:, 0] + d[:, 1] + d[:, 2] * reach + d[:, 3] * (reach - self.model.l1) + d[:, 4] * (self.model.lt + 0.1)
        )
        steps = np.maximum(1, np.ceil(travel / CHECK_STEP)).astype(int)
        if np.all(steps == 1):
            return p
        idx = np.repeat(np.arange(len(p) - 1), steps)
        first = np.repeat(np.cumsum(steps) - steps, steps)
        frac = (np.arange(idx.size) - first) / steps[idx]
        dense = p[idx] + frac[:, None] * (p[idx + 1] - p[idx])
        return np.vstack([dense, p[-1:]])


def _name(j: int) -> str:
    from restock.motion.kinematics import JOINT_NAMES

    return JOINT_NAMES[j]
