"""Can the robot serve this store? Everything a node would find wrong with a store at start, checked once.

:func:`problems` lists what stops the robot from serving a store that is otherwise well formed
(the schema and cross-field rules live in :mod:`restock.store.description`):

- case: no row's free height reaches into the row above, no board slopes under the floor;
- reach: the arm (lift, rail, links, joints, the corridor its elbow stays in) reaches every
  lane's loading point and approach point and every stock location's pick and approach points;
- carry: the arm folds into its carry shape in the corridor between the rack and the case;
- loading: the arm, holding a lane's item, goes straight from the approach point into the lane's
  loading point without touching the case (the executor's own move, at the tool yaws the mover
  tries: a lane at the rail's end can be reachable yet not loadable);
- cameras: every lane's front is seen by at least one camera whole enough (not cut by the image
  border) and big enough to judge;
- back room: what the store's demand model sells of each SKU between two refills, on the
  busiest day of the year, fits what the rack and the SKU's lanes hold.

:func:`~restock.store.description.parse_store` runs :func:`check_serviceable`, so ``restock
check-store`` and every node (which load the store through it) refuse the same stores with the
same messages, each naming the key and the lanes: ``case.rows[0]: lanes r0_l01..r0_l14 load at
z=0.18..0.20 m, below the lift's range (0.25..1.35 m)``. Pure: no rclpy.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from restock.demand.generator import DAY_S, SUMMER_PEAK_DAY, YEAR_S, DemandGenerator
from restock.motion.envelope import Envelope, finger_room
from restock.motion.kinematics import LIFT, ArmModel, IkError, Pose, pick_pose, place_pose
from restock.motion.moves import PLACE_YAW_OFFSETS, Mover, corridor_middle
from restock.store.arm_shape import ArmShape
from restock.store.arm_shape import grip_problems as sku_grip_problems
from restock.store.description import Store, StoreError
from restock.vision.lanes import front_box

# The demand model's level a store is judged at: its own default (each lane sells about
# BASE_CONTAINERS_PER_LANE_DAY a day on an average day) and the simulator's default seed.
DEMAND_SEED = 0
# The fingers must open this much wider than a container to let it go (m): the simulator's hand lets
# go 3 mm past the container's width.
MIN_RELEASE_GAP = 0.004
# The points the arm loads and picks at (the others are the approach points in front of them).
TASK_POINTS = ("loading point", "pick point")


@dataclass(frozen=True)
class Problem:
    """One reason the robot cannot serve the store: the key to fix and what is wrong there."""

    key: str
    reason: str
    lanes: tuple[str, ...] = ()  # the lanes it concerns (the store drawing outlines them)
    stock: tuple[str, ...] = ()  # the stock locations it concerns

    def __str__(self) -> str:
        return f"{self.key}: {self.reason}"


class UnserviceableStore(StoreError):
    """A well-formed store the robot cannot serve; carries the store and every problem found."""

    def __init__(self, source: str, store: Store, found: list[Problem]) -> None:
        super().__init__(f"{source}: " + "; ".join(str(p) for p in found))
        self.source = source
        self.store = store
        self.problems = found


def check_serviceable(store: Store, source: str = "<store>") -> None:
    """Raise :class:`UnserviceableStore` naming every problem; nothing if the robot can serve the store."""
    found = problems(store)
    if found:
        raise UnserviceableStore(source, store, found)


def problems(store: Store) -> list[Problem]:
    """Every reason the robot cannot serve ``store``: the case, the arm, the cameras, the back room."""
    return [
        *case_problems(store),
        *grip_problems(store),
        *reach_problems(store),
        *camera_problems(store),
        *capacity_problems(store),
    ]


def grip_problems(store: Store) -> list[Problem]:
    """SKUs the gripper cannot hold (too deep for its fingers, too short to hold over the dividers),
    and lanes where its fingers cannot open to let a container go without leaving the lane."""
    found = [Problem(key, reason) for key, reason in sku_grip_problems(store)]
    shape = ArmShape.of(store.robot)
    for r, row in enumerate(store.case.rows):
        for i, lane in enumerate(row.lanes):
            lv = store.lane_by_id[lane.id]
            room = finger_room(lv, store, shape)
            if room >= lv.sku.across + MIN_RELEASE_GAP:
                continue
            found.append(
                Problem(
                    f"case.rows[{r}].lanes[{i}]",
                    f"lane {lv.id} is too narrow to let go of a {lane.sku}: the fingers open at most {room:.3f} m"
                    f" there (over the dividers, inside the gaps to the next lanes), the container is"
                    f" {lv.sku.across} m across and needs {MIN_RELEASE_GAP} m more: widen the lane or the gaps beside it",
                    lanes=(lv.id,),
                )
            )
    return found


# --- the case -------------------------------------------------------------------------------


def case_problems(store: Store) -> list[Problem]:
    """Rows whose free height reaches into the row above, or whose sloped board ends under the floor."""
    rows = store.case.rows
    out = []
    order = sorted(range(len(rows)), key=lambda i: rows[i].height)
    for below, above in itertools.pairwise(order):
        lo, hi = rows[below], rows[above]
        if lo.height + lo.clearance > hi.height + 1e-9:
            out.append(
                Problem(
                    f"case.rows[{below}].clearance",
                    f"row {lo.id}'s {lo.clearance:g} m above its board at {lo.height:g} m reaches "
                    f"{lo.height + lo.clearance:.3f} m, above row {hi.id}'s board at {hi.height:g} m",
                    lanes=tuple(lane.id for lane in lo.lanes),
                )
            )
    for r, row in enumerate(rows):
        front = row.height - row.depth * math.tan(math.radians(row.tilt_deg))
        if front <= 0.0:
            out.append(
                Problem(
                    f"case.rows[{r}].height",
                    f"row {row.id}'s board slopes {row.tilt_deg:g} deg to z={front:.3f} m at the front, "
                    "at or under the floor",
                    lanes=tuple(lane.id for lane in row.lanes),
                )
            )
    return out


# --- the arm --------------------------------------------------------------------------------


def reach_problems(store: Store) -> list[Problem]:
    """Lanes and stock locations the arm cannot reach, and an arm that cannot fold in the corridor."""
    model = ArmModel.from_store(store)
    lift = (model.base_height + model.lower[LIFT], model.base_height + model.upper[LIFT])
    out: list[Problem] = []
    try:
        mover: Mover | None = Mover(store, Envelope(model))
    except IkError as err:
        mover = None
        out.append(
            Problem(
                "robot",
                f"the arm cannot fold into its carry shape on the corridor's middle line "
                f"(y={corridor_middle(store):.3f} m, between stock.y={store.stock.y} and "
                f"case.back_y={store.case.back_y}): {err}",
            )
        )

    def why(points: list[tuple[str, Pose]]) -> tuple[str, str] | None:
        """(kind, detail) of the first point the arm cannot reach; kind groups like reasons."""
        for what, pose in points:
            if pose.z < lift[0] - 1e-9 or pose.z > lift[1] + 1e-9:
                side = "below" if pose.z < lift[0] else "above"
                return f"{what}:{side}", f"{pose.z:.3f}"
            try:
                model.inverse(pose)
            except IkError as err:
                # Lanes whose reasons differ only in their numbers share a message.
                return f"{what}:{re.sub(r'-?[0-9]+[.][0-9]+', '#', str(err))}", f"{what} {_fmt(pose)}: {err}"
        return None

    unreachable: set[str] = set()
    for r, row in enumerate(store.case.rows):
        kinds: dict[str, list[tuple[str, str]]] = {}
        for lane in row.lanes:
            points = [("loading point", place_pose(store, lane.id))]
            if mover is not None:
                points.append(("approach point", mover.pre_place(lane.id)))
            found = why(points)
            if found:
                kinds.setdefault(found[0], []).append((lane.id, found[1]))
        order = [lane.id for lane in row.lanes]
        for kind, hits in kinds.items():
            ids = [i for i, _ in hits]
            reason = _reach_reason(("lane", "loads", "lanes", "load"), kind, hits, order, lift)
            out.append(Problem(f"case.rows[{r}]", reason, lanes=tuple(ids)))
            unreachable.update(ids)
    if mover is not None:
        out += _loading_problems(store, mover, unreachable)
    kinds = {}
    index = {loc.id: i for i, loc in enumerate(store.stock.locations)}
    for loc in store.stock.locations:
        points = [("pick point", pick_pose(store, loc.id))]
        if mover is not None:
            points += [("approach point", mover.pre_pick(loc.id)), ("lifted approach", mover.pre_pick(loc.id, True))]
        found = why(points)
        if found:
            kinds.setdefault(found[0], []).append((loc.id, found[1]))
    order = [loc.id for loc in store.stock.locations]
    for kind, hits in kinds.items():
        ids = [i for i, _ in hits]
        key = f"stock.locations[{index[ids[0]]}]" if len(ids) == 1 else "stock.locations"
        words = ("stock location", "is picked", "stock locations", "are picked")
        out.append(Problem(key, _reach_reason(words, kind, hits, order, lift), stock=tuple(ids)))
    return out


def _loading_problems(store: Store, mover: Mover, skip: set[str]) -> list[Problem]:
    """Lanes (reachable, not in ``skip``) whose straight approach clashes at every tool yaw tried."""
    out = []
    turn = max(abs(o) for o in PLACE_YAW_OFFSETS)
    for r, row in enumerate(store.case.rows):
        for i, lane in enumerate(row.lanes):
            clash = None if lane.id in skip else mover.placement_clash(lane.id)
            if clash is None:
                continue
            out.append(
                Problem(
                    f"case.rows[{r}].lanes[{i}]",
                    f"lane {lane.id} cannot be loaded: going straight in from the approach point "
                    f"{_fmt(mover.pre_place(lane.id))} to the loading point {_fmt(mover.place(lane.id))} "
                    f"with the tool straight in or turned up to {turn:g} rad, the arm {clash} "
                    f"(the lane at x={lane.x:g} m, the rail from {mover.model.lower[0]:g} m: widen the lane, "
                    "give its row more clearance, move it along the case or extend the rail's travel)",
                    lanes=(lane.id,),
                )
            )
    return out


def _reach_reason(
    words: tuple[str, str, str, str],
    kind: str,
    hits: list[tuple[str, str]],
    order: Sequence[str],
    lift: tuple[float, float],
) -> str:
    """``words``: (noun, verb) for one and for several, e.g. ("lane", "loads", "lanes", "load")."""
    noun, verb = words[:2] if len(hits) == 1 else words[2:]
    label = f"{noun} {_span(order, [i for i, _ in hits])}"
    what, _, side = kind.partition(":")
    if side in ("below", "above"):
        zs = sorted(float(d) for _, d in hits)
        z = f"{zs[0]:.3f}" if zs[0] == zs[-1] else f"{zs[0]:.3f}..{zs[-1]:.3f}"
        at = f"z={z} m, {side} the lift's range ({lift[0]:.2f}..{lift[1]:.2f} m)"
        if what in TASK_POINTS:
            return f"{label} {verb} at {at}"
        return f"{label}: the {what} is at {at}"  # the point in front of it, where the arm lines up
    first, detail = hits[0]
    more = f" (and {len(hits) - 1} more like it)" if len(hits) > 1 else ""
    return f"{label}: out of the arm's reach: {first}'s {detail}{more}"


def _fmt(pose: Pose) -> str:
    return f"({pose.x:.3f}, {pose.y:.3f}, {pose.z:.3f})"


# --- the cameras ----------------------------------------------------------------------------


def camera_problems(store: Store) -> list[Problem]:
    """Lanes whose front no camera can judge (out of view, cut by the image border, too small)."""
    models = {cam.id: cam.model for cam in store.cameras}
    out = []
    for r, row in enumerate(store.case.rows):
        groups: dict[str, list[str]] = {}
        examples: dict[str, str] = {}
        for lane in row.lanes:
            lv = store.lane_by_id[lane.id]
            reasons = []
            for cam_id, model in models.items():
                box, reason = front_box(model, lv)
                if box is not None:
                    break
                reasons.append(f"{cam_id}: {reason}")
            else:
                detail = ", ".join(reasons)
                kind = re.sub(r"[0-9]+", "#", detail)
                groups.setdefault(kind, []).append(lane.id)
                examples.setdefault(kind, detail)
        order = [lane.id for lane in row.lanes]
        for kind, ids in groups.items():
            label = f"{'lane' if len(ids) == 1 else 'lanes'} {_span(order, ids)}"
            first = f"{ids[0]}: " if len(ids) > 1 else ""
            out.append(
                Problem(
                    f"case.rows[{r}]",
                    f"{label}: no camera can judge the front ({first}{examples[kind]})",
                    lanes=tuple(ids),
                )
            )
    return out


# --- the back room --------------------------------------------------------------------------


def refill_gaps(store: Store) -> list[tuple[float, float]]:
    """(start hour, length h) of each stretch between two back-room refills over a day."""
    refill = store.stock.refill
    hours = list(np.arange(refill.first_at_h, 24.0, refill.every_h))
    if not hours:  # the first refill is after midnight's restart: one a day
        return [(refill.first_at_h % 24.0, 24.0)]
    starts = [float(h) for h in hours]
    ends = [*starts[1:], starts[0] + 24.0]
    return [(a, b - a) for a, b in zip(starts, ends, strict=True)]


def busiest_gap_demand(store: Store) -> dict[str, tuple[float, float, float]]:
    """Per SKU: (expected containers, start hour, hours) of its busiest stretch between refills.

    The demand model at its default level (:data:`DEMAND_SEED`), on each day of the week of the
    year's summer peak, so the day-of-week and time-of-year peaks are both in.
    """
    demand = DemandGenerator(store, seed=DEMAND_SEED)
    # Midnight (UTC, the model's local time) three days before the summer peak of a recent year.
    week0 = math.floor((56 * YEAR_S + (SUMMER_PEAK_DAY - 3) * DAY_S) / DAY_S) * DAY_S
    gaps = refill_gaps(store)
    out = {}
    for sku in sorted({lv.lane.sku for lv in store.lanes}):
        best = (0.0, 0.0, 0.0)
        for day in range(7):
            for start_h, hours in gaps:
                t0 = week0 + day * DAY_S + start_h * 3600.0
                sold = demand.expected(sku, t0, t0 + hours * 3600.0, 300.0)
                if sold > best[0]:
                    best = (sold, start_h, hours)
        out[sku] = best
    return out


def capacity_problems(store: Store) -> list[Problem]:
    """SKUs whose busiest stretch between refills sells more than the rack and the SKU's lanes hold."""
    out = []
    for sku, (sold, start_h, hours) in busiest_gap_demand(store).items():
        rack = sum(loc.capacity for loc in store.stock_for_sku(sku))
        lanes = [lv for lv in store.lanes if lv.lane.sku == sku]
        shelf = sum(lv.lane.capacity for lv in lanes)
        if sold <= rack + shelf:
            continue
        first = next(i for i, loc in enumerate(store.stock.locations) if loc.sku == sku)
        out.append(
            Problem(
                f"stock.locations[{first}].capacity",
                f"{sku}: the demand model sells {sold:.0f} in its busiest {hours:g} h between refills "
                f"(from {int(start_h):02d}:{round(start_h % 1 * 60):02d}, a summer-peak week) but the back room "
                f"holds {rack} and its {len(lanes)} lane(s) {shelf}: raise the capacity or refill more often "
                f"(stock.refill.every_h)",
                lanes=tuple(lv.id for lv in lanes),
                stock=tuple(loc.id for loc in store.stock_for_sku(sku)),
            )
        )
    return out


# --- helpers --------------------------------------------------------------------------------


def _span(order: Sequence[str], chosen: Iterable[str]) -> str:
    """Ids in ``order``, runs of three or more consecutive ones written first..last."""
    pick = set(chosen)
    parts: list[str] = []
    run: list[str] = []
    for item in [*order, None]:
        if item is not None and item in pick:
            run.append(item)
            continue
        if len(run) >= 3:
            parts.append(f"{run[0]}..{run[-1]}")
        else:
            parts.extend(run)
        run = []
    return ", ".join(parts)
