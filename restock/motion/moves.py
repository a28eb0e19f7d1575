"""Collision-aware moves through the corridor: the task executor's and teleop's motion vocabulary.

- :meth:`Mover.joint_move`: a time-optimal joint-space move to a pose; if the straight joint
  path would touch a keep-out box, it goes through the corridor instead: pull the wrist to the
  corridor's middle line, ride the rail and lift there while only the wrist turns, then reach
  the goal (three rest-to-rest segments, each checked);
- :meth:`Mover.line`: a straight line of the grasp centre (approach and retreat along y);
- the task poses: pick and place points and the approach points in front of them. A lane at
  the end of the rail's travel is loaded with the tool turned a little off straight-in when the
  arm, folded there, would otherwise brush the case wall beside the lane's back slot
  (:meth:`Mover.place_yaw`).

Every trajectory returned here has passed :meth:`Envelope.check`; nothing else is returned.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from restock.motion.envelope import Box, Envelope, Held, Scene, lane_openings, stock_opening, store_scene
from restock.motion.kinematics import (
    LIFT,
    PICK_YAW,
    PLACE_YAW,
    RAIL,
    TWO_PI,
    WRIST,
    ArmModel,
    IkError,
    Pose,
    pick_pose,
    place_pose,
)
from restock.motion.trajectory import Limits, PlanError, Trajectory, concat, linear, move_to
from restock.store.arm_shape import grasp_offsets
from restock.store.description import Store


@dataclass(frozen=True)
class MoveSettings:
    approach_clearance: float = 0.05  # gap between the item and the case/rack at the approach point (m)
    approach_speed: float = 0.3  # straight-line speed in and out of lanes and the rack (m/s)
    lift_off: float = 0.01  # rise after grasping, before pulling out of the rack (m)
    fold_speed: float = 0.6  # straight-line speed when folding to the carry shape near the rack or case (m/s)


# The carry shape holds the wrist this far along +x from the shoulder (m).
CARRY_REACH = 0.5
# Tool yaws tried at a lane's loading point, off straight-in (rad), in order: the first whose
# straight approach stays out of the keep-out boxes is used. At the rail's end the folded arm's
# forearm crosses the back wall at a slant beside the slot (walk-in cooler r2_l01: 54 'unreachable'
# handoffs a day); turning the tool a few degrees steepens it. Cans and bottles are round, and a
# finger opening turned by 0.2 rad is 2% narrower across the lane, so any of these places the same.
PLACE_YAW_OFFSETS = (0.0, -0.05, 0.05, -0.1, 0.1, -0.15, 0.15, -0.2, 0.2)
# Grasp-centre step between the configurations checked along a straight approach (m).
APPROACH_STEP = 0.01


def corridor_middle(store: Store) -> float:
    """The y of the corridor's middle line, between the back-room rack and the case."""
    return (store.stock.y + store.case.back_y) / 2


def carry_shapes(model: ArmModel, mid_y: float) -> dict[float, tuple[float, float]]:
    """Shoulder and elbow of the carry shape, keyed by elbow side; raises IkError if the arm cannot fold so.

    The wrist sits on the corridor's middle line, :data:`CARRY_REACH` along +x from the shoulder,
    so the tool and a held item turn freely around it. One shape per elbow side, so folding never
    swaps the elbow through a stretched arm.
    """
    rail = (model.lower[RAIL] + model.upper[RAIL]) / 2
    pose = Pose(rail + CARRY_REACH + model.lt, mid_y, model.base_height + model.lower[LIFT], 0.0)
    shapes = {}
    for side in (1.0, -1.0):
        q = model.inverse(pose, rail_x=rail, prefer=np.array([rail, 0.0, -0.5 * side, side, 0.0]))
        shapes[float(np.sign(q[3]))] = (float(q[2]), float(q[3]))
    return shapes


class Mover:
    def __init__(self, store: Store, envelope: Envelope, settings: MoveSettings | None = None) -> None:
        self.store = store
        self.envelope = envelope
        self.model: ArmModel = envelope.model
        self.limits: Limits = envelope.limits
        self.settings = settings or MoveSettings()
        self.scene = store_scene(store)
        self.mid_y = corridor_middle(store)
        self.carry_shapes = carry_shapes(self.model, self.mid_y)
        self.grasp_offsets = grasp_offsets(store)  # grasp centre above a held container's centre, per SKU
        self._place_yaws: dict[str, tuple[float, float, str | None]] = {}

    # --- poses --------------------------------------------------------------------------

    def held_for(self, sku: str | None) -> Held | None:
        if sku is None:
            return None
        s = self.store.skus[sku]
        return Held(radius=s.across / 2, height=s.height, below=self.grasp_offsets[sku])

    def place(self, lane_id: str) -> Pose:
        p = place_pose(self.store, lane_id, self.grasp_offsets)
        return Pose(p.x, p.y, p.z, self._placement(lane_id)[1])

    def pre_place(self, lane_id: str) -> Pose:
        p = place_pose(self.store, lane_id, self.grasp_offsets)
        return Pose(p.x, self._pre_place_y(lane_id), p.z, self._placement(lane_id)[0])

    def placement_clash(self, lane_id: str) -> str | None:
        """Why the arm cannot go straight into a lane at any tool yaw it tries (None: it can)."""
        return self._placement(lane_id)[2]

    def _pre_place_y(self, lane_id: str) -> float:
        sku = self.store.lane_by_id[lane_id].sku
        return self.store.case.back_y - sku.along / 2 - self.settings.approach_clearance

    def pick(self, location_id: str) -> Pose:
        return pick_pose(self.store, location_id, self.grasp_offsets)

    def pre_pick(self, location_id: str, lifted: bool = False) -> Pose:
        p = self.pick(location_id)
        sku = self.store.skus[self.store.stock_by_id[location_id].sku]
        y = self.store.stock.y + sku.along / 2 + self.settings.approach_clearance
        return Pose(p.x, y, p.z + (self.settings.lift_off if lifted else 0.0), PICK_YAW)

    def back_out(self, pose: Pose, sku: str | None) -> tuple[Pose | None, list[Box]]:
        """Where to go straight back to from inside the case or the rack, and the openings that line
        may use; None if the arm is in the corridor already. The corridor is anywhere between the
        nearest approach points of any lane and any stock location (where the last task, for another
        SKU, left the arm is not "in the case" for this one); the target is ``sku``'s approach line."""
        store, clear = self.store, self.settings.approach_clearance
        along = store.skus[sku].along if sku is not None else 0.08
        shallowest = min(s.along for s in store.skus.values())
        if pose.y > store.case.back_y - shallowest / 2 - clear + 1e-3:
            target = Pose(pose.x, store.case.back_y - along / 2 - clear, pose.z, pose.yaw)
            return target, [o for lane in store.lanes for o in self.lane_openings(lane.id)]
        if pose.y < store.stock.y + shallowest / 2 + clear - 1e-3:
            target = Pose(pose.x, store.stock.y + along / 2 + clear, pose.z, pose.yaw)
            return target, [o for loc in store.stock.locations for o in self.stock_openings(loc.id)]
        return None, []

    def lane_openings(self, lane_id: str) -> list[Box]:
        return lane_openings(self.store.lane_by_id[lane_id], self.store)

    def stock_openings(self, location_id: str) -> list[Box]:
        return [stock_opening(self.store.stock_by_id[location_id], self.store)]

    # --- moves --------------------------------------------------------------------------

    def _checked(
        self, traj: Trajectory, scene: Scene, held: Held | None, what: str, opening: float | None = None
    ) -> Trajectory:
        reasons = self.envelope.check(traj, scene, held, start=traj.positions[0], opening=opening)
        if reasons:
            raise PlanError(f"{what}: {'; '.join(reasons)}")
        return traj

    def solve(self, pose: Pose, prefer: np.ndarray | None) -> np.ndarray:
        try:
            return self.model.inverse(pose, prefer=prefer)
        except IkError as err:
            raise PlanError(f"unreachable {pose}: {err}") from None

    def joint_move(
        self,
        start: np.ndarray,
        goal: Pose | np.ndarray,
        held: Held | None = None,
        openings: list[Box] | None = None,
        opening: float | None = None,
    ) -> Trajectory:
        """``opening``: the fingers' gap during the move when the hand is empty (None: the widest)."""
        start = np.asarray(start, dtype=float)
        q_goal = self.solve(goal, start) if isinstance(goal, Pose) else np.asarray(goal, dtype=float)
        scene = self.scene.with_openings(openings or [])
        direct = move_to(self.limits, start, q_goal)
        if not self.envelope.check(direct, scene, held, start=start, opening=opening):
            return direct
        # Through the corridor in the carry shape: fold (yaw kept), travel on rail and lift while
        # only the wrist turns, unfold at the goal (yaw kept). Rest-to-rest legs are straight in
        # joint space, so the tool's yaw is constant while the arm changes shape.
        yaw_start = float(start[2] + start[3] + start[4])
        yaw_goal = float(q_goal[2] + q_goal[3] + q_goal[4])
        q_a = self._carry(start[RAIL], start[LIFT], yaw_start, start[WRIST], start[3])
        q_b = self._carry(q_goal[RAIL], q_goal[LIFT], yaw_goal, q_a[WRIST], q_goal[3])
        legs = [
            self._shape_change(start, q_a, scene, held, "fold for the corridor", opening),
            self._checked(move_to(self.limits, q_a, q_b), scene, held, "along the corridor", opening),
            self._shape_change(q_b, q_goal, scene, held, "unfold at the goal", opening),
        ]
        return concat(legs)

    def line(
        self,
        start: np.ndarray,
        goal: Pose,
        held: Held | None = None,
        openings: list[Box] | None = None,
        opening: float | None = None,
    ) -> Trajectory:
        scene = self.scene.with_openings(openings or [])
        traj = linear(self.model, self.limits, start, goal, max_speed=self.settings.approach_speed)
        return self._checked(traj, scene, held, "straight move", opening)

    # --- helpers ------------------------------------------------------------------------

    def _placement(self, lane_id: str) -> tuple[float, float, str | None]:
        """(yaw at the approach point, yaw at the loading point, None) for the first offset of
        :data:`PLACE_YAW_OFFSETS` whose approach is clear, the approach point turned the same or, if
        the folded arm cannot reach it so, straight in; else straight in and why that fails."""
        if lane_id not in self._place_yaws:
            found: tuple[float, float, str | None] | None = None
            first = None
            for offset in PLACE_YAW_OFFSETS:
                for out in dict.fromkeys((offset, 0.0)):
                    clash = self._approach_clash(lane_id, PLACE_YAW + out, PLACE_YAW + offset)
                    if clash is None:
                        found = (PLACE_YAW + out, PLACE_YAW + offset, None)
                        break
                    first = first or clash
                if found:
                    break
            self._place_yaws[lane_id] = found or (PLACE_YAW, PLACE_YAW, first)
        return self._place_yaws[lane_id]

    def _approach_clash(self, lane_id: str, yaw_out: float, yaw_in: float) -> str | None:
        """What the arm, holding the lane's item, hits on the straight line from the approach point
        (tool at ``yaw_out``) to the loading point (``yaw_in``), the carriage still as in
        :func:`linear`; None if nothing.

        The configurations along the line, not a timed trajectory: a store-wide check that costs a
        few inverse kinematics per lane. The envelope still checks every trajectory sent.
        """
        x, y_in, z, _ = place_pose(self.store, lane_id, self.grasp_offsets).as_array()
        y_out = self._pre_place_y(lane_id)
        n = max(2, int(np.ceil((y_in - y_out) / APPROACH_STEP)) + 1)
        try:
            q = self.model.inverse(Pose(x, y_out, z, yaw_out))
            qs = [q]
            for w in np.linspace(0.0, 1.0, n)[1:]:
                pose = Pose(x, float(y_out + w * (y_in - y_out)), z, float(yaw_out + w * (yaw_in - yaw_out)))
                q = self.model.inverse(pose, prefer=q, rail_x=float(q[RAIL]))
                qs.append(q)
        except IkError as err:
            return f"is out of reach (tool yaw {yaw_out:.2f}..{yaw_in:.2f}): {err}"
        scene = self.scene.with_openings(self.lane_openings(lane_id))
        hits = self.envelope.collisions(np.array(qs), scene, self.held_for(self.store.lane_by_id[lane_id].lane.sku))
        return f"enters keep-out: {', '.join(hits)}" if hits else None

    def _shape_change(
        self, a: np.ndarray, b: np.ndarray, scene: Scene, held: Held | None, what: str, opening: float | None
    ) -> Trajectory:
        """Joint move on the spot, or if that sweeps into a keep-out box, a straight line (IK keeps the elbow in)."""
        leg = move_to(self.limits, a, b)
        if not self.envelope.check(leg, scene, held, start=a, opening=opening):
            return leg
        line = linear(
            self.model, self.limits, a, self.model.forward(b), max_speed=self.settings.fold_speed, rail_x=float(a[RAIL])
        )
        if np.max(np.abs(line.final - b)) > 1e-6:
            line = concat([line, move_to(self.limits, line.final, b)])
        return self._checked(line, scene, held, what, opening)

    def _carry(self, rail: float, lift: float, yaw: float, wrist_near: float, elbow: float) -> np.ndarray:
        shape = self.carry_shapes.get(float(np.sign(elbow)), next(iter(self.carry_shapes.values())))
        q = np.array([rail, lift, shape[0], shape[1], 0.0])
        q[WRIST] = self._wrist_angle(yaw - q[2] - q[3], wrist_near)
        return q

    def _wrist_angle(self, angle: float, near: float) -> float:
        cands = [angle + k * TWO_PI for k in range(-2, 3)]
        cands = [c for c in cands if self.model.lower[WRIST] <= c <= self.model.upper[WRIST]]
        if not cands:
            raise PlanError(f"the wrist cannot turn to {angle:.3f}")
        return min(cands, key=lambda c: abs(c - near))
