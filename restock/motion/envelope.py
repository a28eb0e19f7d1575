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
from restock.motion.solids import Body
from restock.motion.trajectory import Limits, Trajectory
from restock.store import fixtures
from restock.store.arm_shape import ArmShape
from restock.store.description import DIVIDER_THICKNESS, LaneView, StockLocation, Store

# A point of the arm moves at most this far between two checked configurations (m).
CHECK_STEP = 0.01
# Relative slack on the dynamic limits (sampling and float rounding).
LIMIT_SLACK = 1e-3
# Largest gap between two trajectory points (s): longer gaps leave the interpolation unchecked.
MAX_POINT_GAP = 0.1
# Largest distance of the first point from the commanded state (rad or m).
START_TOLERANCE = 0.02
# The links are checked as capsules this long at most (m).
LINK_PIECE = 0.04
# A stock pick slot is at most this tall (m) where no rack board is above it.
STOCK_SLOT_HEIGHT = 0.45


@dataclass(frozen=True)
class Box:
    lo: tuple[float, float, float]
    hi: tuple[float, float, float]
    name: str
    held_only: bool = False  # an opening only the held container may be in (a lane, down to its board)


@dataclass(frozen=True)
class Held:
    """A container in the gripper: a column of spheres below the grasp centre."""

    radius: float  # half the container's size across (m)
    height: float
    below: float = 0.0  # its centre below the grasp centre (m): the grip offset


@dataclass
class Scene:
    """Keep-out boxes, the openings carved out of them for one motion, and solids no opening
    excuses (the case's frame, the rail)."""

    keep_out: list[Box]
    openings: list[Box] = field(default_factory=list)
    solids: list[Box] = field(default_factory=list)

    def with_openings(self, openings: list[Box]) -> Scene:
        return Scene(self.keep_out, list(openings), self.solids)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        k = np.array([[b.lo, b.hi] for b in [*self.keep_out, *self.solids]], dtype=float).reshape(-1, 2, 3)
        o = np.array([[b.lo, b.hi] for b in self.openings], dtype=float).reshape(-1, 2, 3)
        return k[:, 0], k[:, 1], o[:, 0], o[:, 1]

    @property
    def held_only(self) -> np.ndarray:
        return np.array([b.held_only for b in self.openings], dtype=bool)


def store_scene(store: Store) -> Scene:
    """The case and the back-room rack as keep-out volumes (the corridor between them is free)."""
    case, stock = store.case, store.stock
    front = case.back_y + max(r.depth for r in case.rows) + 0.1
    rail = store.robot.joint("rail_x")
    x_lo = min(rail.lower, case.x_min, *(loc.x for loc in stock.locations)) - 1.0
    x_hi = max(rail.upper, case.x_max, *(loc.x for loc in stock.locations)) + 1.0
    return Scene(
        keep_out=[
            # The case: solid except where an opening is carved.
            Box((case.x_min - 0.1, case.back_y, -1.0), (case.x_max + 0.1, front, 5.0), "case"),
            Box((x_lo, stock.y - 1.0, -1.0), (x_hi, stock.y, 5.0), "stock rack"),
            Box((x_lo, stock.y - 1.0, -1.0), (x_hi, front, 0.02), "floor"),
        ],
        # The case's frame reaches behind the back plane; no opening is carved from it.
        solids=[Box(s.lo, s.hi, s.name) for s in (*fixtures.case_frame(store), fixtures.rail(store))],
    )


def lane_openings(lane: LaneView, store: Store) -> list[Box]:
    """The back slot of a lane, as deep as one container: between its dividers from the (tilted) board
    up to its clearance for the held container, and over the dividers, as wide as the gaps to the
    next lanes allow, for the arm (its fingers pass over the dividers)."""
    tilt = math.tan(math.radians(lane.row.tilt_deg))
    depth = lane.sku.along + 0.03
    top = lane.row.height + lane.row.clearance
    between = lane.lane.width / 2 - DIVIDER_THICKNESS / 2
    over = _half_width_over_dividers(lane, store)
    return [
        Box(
            (lane.lane.x - between, lane.back_y - 0.2, lane.row.height - depth * tilt - 0.005),
            (lane.lane.x + between, lane.back_y + depth, top),
            f"lane {lane.id} back slot",
            held_only=True,
        ),
        Box(
            (lane.lane.x - over, lane.back_y - 0.2, lane.row.height + lane.row.divider_height),
            (lane.lane.x + over, lane.back_y + depth, top),
            f"lane {lane.id} back slot over the dividers",
        ),
    ]


def _half_width_over_dividers(lane: LaneView, store: Store) -> float:
    """Half the width of a lane's back slot over its dividers: the lane and half the gap to each
    neighbour, at most 3 cm."""
    neighbours = [
        abs(other.lane.x - lane.lane.x) - other.lane.width / 2 - lane.lane.width / 2
        for other in store.lanes
        if other.row.id == lane.row.id and other.id != lane.id
    ]
    return lane.lane.width / 2 + min([0.03, *(max(g, 0.0) / 2 for g in neighbours)])


def finger_room(lane: LaneView, store: Store, shape: ArmShape) -> float:
    """The widest the fingers may open at a lane's back: their outer faces 1 mm inside the slot over
    the dividers (the grip height keeps the fingertips over them)."""
    return 2 * (_half_width_over_dividers(lane, store) - 2 * shape.finger_half[1] - 0.001)


def stock_opening(location: StockLocation, store: Store) -> Box:
    """The pick slot of a back-room stock location: from its board up to under the rack's next board
    (its boards are 2 cm thick, one at each stock height), at most :data:`STOCK_SLOT_HEIGHT`."""
    sku = store.skus[location.sku]
    half = sku.across / 2 + 0.04
    above = [loc.z for loc in store.stock.locations if loc.z > location.z + 1e-6]
    top = min([location.z + STOCK_SLOT_HEIGHT, *(z - 0.02 - 0.005 for z in above)])
    return Box(
        (location.x - half, store.stock.y - sku.along - 0.03, location.z - 0.001),
        (location.x + half, store.stock.y + 0.2, top),
        f"stock {location.id} pick slot",
    )


def all_openings(store: Store) -> list[Box]:
    """Every lane's back slot and every stock slot (teleop: the operator may reach any of them)."""
    return [o for lv in store.lanes for o in lane_openings(lv, store)] + [
        stock_opening(loc, store) for loc in store.stock.locations
    ]


class Envelope:
    """Limits, keep-out volumes and the arm's body model for one robot."""

    def __init__(
        self,
        model: ArmModel,
        speed_scale: float = 1.0,
        body_margin: float = 0.0,
        position_margin: float = 0.0,
    ) -> None:
        self.model = model
        self.speed_scale = speed_scale
        self.limits = Limits.scaled(model, speed_scale)
        self.shape = model.shape
        self.body_margin = body_margin
        self.lower = model.lower + position_margin
        self.upper = model.upper - position_margin

    # --- the body: spheres for the round parts, boxes turned with the tool for the flat ones ----

    def body(self, q: np.ndarray, held: Held | None, opening: float | None = None) -> Body:
        """The arm's parts at configurations q (M, 5), sized as :class:`ArmShape` says (the
        simulator's geometry), grown by ``body_margin``; fingers ``opening`` apart (the held
        container's width when holding one, else the widest unless told)."""
        sh, m = self.shape, self.body_margin
        f = self.model.frames(q)
        count = np.asarray(f["yaw"], dtype=float).reshape(-1).shape[0]
        f = {k: np.asarray(v, dtype=float).reshape(count, -1) for k, v in f.items()}
        up = np.array([0.0, 0.0, 1.0])
        # Each link is cut into short capsules (their union is the link): a link reaching from the
        # corridor into a lane's back slot has only its end pieces in the case, and those must fit.
        pieces, piece_radii = [], []
        for a, b, length, r, z in (
            ("shoulder", "elbow", self.model.l1, sh.upper_arm_radius, sh.upper_arm_z),
            ("elbow", "wrist", self.model.l2, sh.forearm_radius, sh.forearm_z),
        ):
            n = max(1, math.ceil(length / LINK_PIECE))
            ends = [f[a] + w * (f[b] - f[a]) + z * up for w in np.linspace(0.0, 1.0, n + 1)]
            pieces += [np.stack([ends[i], ends[i + 1]], axis=1) for i in range(n)]
            piece_radii += [r + m] * n
        capsules = np.stack(pieces, axis=1)  # (M, C, 2, 3)
        lo, hi = sh.wrist_z
        cylinders = np.stack([f["wrist"] + (lo - m) * up, f["wrist"] + (hi + m) * up], axis=1)[:, None]
        spheres = np.zeros((count, 0, 3))
        sphere_radii = np.zeros(0)
        if held is not None:
            off = max(held.height / 2 - held.radius, 0.0)
            spheres = np.stack([f["grasp"] + (dz - held.below) * up for dz in (-off, 0.0, off)], axis=1)
            sphere_radii = np.full(3, held.radius + m)
        yaw = f["yaw"].reshape(-1)
        along = np.stack([np.cos(yaw), np.sin(yaw), np.zeros_like(yaw)], axis=-1)  # (M, 3)
        across = np.stack([-np.sin(yaw), np.cos(yaw), np.zeros_like(yaw)], axis=-1)
        gap = held.radius * 2 if held is not None else (self.model.max_opening if opening is None else opening)
        boxes = [(sh.palm_centre[0], 0.0, sh.palm_centre[1], sh.palm_half)]
        for side in (1.0, -1.0):
            boxes.append((sh.finger_centre, side * (gap / 2 + sh.finger_half[1]), 0.0, sh.finger_half))
        box_centres = np.stack([f["wrist"] + a * along + c * across + z * up for a, c, z, _ in boxes], axis=1)
        return Body(
            capsules=capsules,
            capsule_radii=np.array(piece_radii),
            cylinders=cylinders,
            cylinder_radii=np.array([sh.wrist_radius + m]),
            spheres=spheres,
            sphere_radii=sphere_radii,
            box_centres=box_centres,
            box_half=np.array([half for *_, half in boxes], dtype=float) + m,
            yaw=yaw,
        )

    def collisions(self, q: np.ndarray, scene: Scene, held: Held | None, opening: float | None = None) -> list[str]:
        """Names of the keep-out boxes any configuration in q (M, 5) enters: a part inside a keep-out
        box is clear only if it lies wholly within one of this motion's openings."""
        body = self.body(np.asarray(q, dtype=float).reshape(-1, 5), held, opening)
        klo, khi, olo, ohi = scene.arrays()
        arm = ~scene.held_only
        names = [b.name for b in [*scene.keep_out, *scene.solids]]
        hits = []
        for k in range(len(klo)):
            parts = body.touching(klo[k], khi[k])
            if not parts.any():
                continue
            if k >= len(scene.keep_out) or not body.within_one(parts, olo, ohi, olo[arm], ohi[arm]):
                hits.append(k)
        return [names[i] for i in hits]

    # --- the gate -----------------------------------------------------------------------

    def check(
        self,
        traj: Trajectory,
        scene: Scene,
        held: Held | None = None,
        start: np.ndarray | None = None,
        opening: float | None = None,
    ) -> list[str]:
        """Every reason ``traj`` must not reach the motors (empty: admitted). ``opening``: the
        fingers' gap while it runs, when known (else the widest)."""
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
        hits = self.collisions(self._densify(p), scene, held, opening)
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
