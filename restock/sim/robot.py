"""The simulator's arm: joints, trajectory, gripper and grasp. No rclpy.

The contract the arm controller codes against (see restock.store.description.Robot): joints
``rail_x`` (prismatic along x, carriage at y = robot.rail_y), ``lift_z`` (prismatic z; the arm
plane is at z = base_height + lift_z), ``shoulder``, ``elbow``, ``wrist`` (revolute about +z;
shoulder = 0 points along +x); grasp centre at
``(rail_x + l1 c1 + l2 c12 + lt c123, rail_y + l1 s1 + l2 s12 + lt s123, base_height + lift_z)``,
tool yaw q1+q2+q3, parallel fingers closing across the tool direction; ``gripper`` = opening (m).
The joints are driven (restock.sim.drives): a servo drive per joint with gains, an effort limit and
the inertia it moves, so a joint lags its trajectory, overshoots a little and stalls against what it
cannot move; joint_states report where the joints are, not where they were told to be, and each
drive's effort. A hold while moving brakes to a stop (``STOP_DECEL`` times the joint's acceleration
limit). An arm part touching the case, a shelf, the rack, the rail or an obstruction blocks the arm
where it was (event ``arm_collision``, naming the parts, the depth and the pose, once per touch):
the drives push on against it and the trajectory runs on without it, so the controller sees the
arm fall behind (a stall) and must stop it. Without contact physics (``physics`` False, a
benchmark's baseline) the joints are ideal servos that follow the trajectory exactly.

Grasping a container is contact physics (restock.sim.handling, restock.sim.island): fingers that
start closing near one (the front container of a back-room stock location, or the backmost one of
a lane) open a physics island in which the fingers are force-limited slide joints and the
container a free body; it comes along only if their friction carries it (``grasp``), else it
stays or falls (``grasp_slipped``: the fingers then close fully, so a check of the opening sees
it). A held container stays in the fingers by friction while carried (or slides out: ``dropped``).
Opening the fingers at a lane's loading point drops it into the lane, where it slides down the
board until it rests (``placed``), jams or tips over; at a stock pick point it goes back to the
stock; elsewhere it falls (``dropped``). The gripper reports its opening and its squeeze
(``effort``, N). Other items (an unfamiliar one) are held by bookkeeping: they ride with the tool.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import mujoco
import numpy as np

from restock.sim.bodies import Item, Piece, Shared
from restock.sim.drives import SPEED_MARGIN, Drives
from restock.sim.handling import Handling
from restock.sim.island import HandPose
from restock.sim.mjcf import ARM_CONTYPE
from restock.sim.shelves import Shelves
from restock.sim.trajectory import JointPath
from restock.store.arm_shape import ArmShape
from restock.store.description import LaneView

ARM_JOINTS: tuple[str, ...] = ("rail_x", "lift_z", "shoulder", "elbow", "wrist")
JOINT_NAMES: tuple[str, ...] = (*ARM_JOINTS, "gripper")
ARM_DT = 0.01  # s: the arm's servo/bookkeeping period while it moves
GRASP_TOL_XY = 0.05  # m: grasp centre to item centre, horizontal: nearer, the physics decides
GRIP_MIN = 0.02  # m: fingers closing over less of an item than this do not take it
PLACE_TOL_X = 0.025
PLACE_TOL_Z = 0.04
STOP_DECEL = 3.0  # a hold while moving brakes at this times each joint's acceleration limit
HOLD_SLACK = 0.003  # m: fingers commanded this much wider than a held item let it go
CONTACT_SLACK = 1e-4  # m: a contact this much deeper than the last counts as pressing in


class Robot(Piece):
    """Joint state, the running trajectory, the gripper and what it holds."""

    def __init__(self, shared: Shared, shelves: Shelves) -> None:
        super().__init__(shared)
        store = shared.store
        self.shelves = shelves
        m = shared.bodies.model
        self.qadr = {
            n: int(m.jnt_qposadr[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, n)])
            for n in (*ARM_JOINTS, "finger_l", "finger_r")
        }
        self.limits = {j.name: (j.lower, j.upper) for j in store.robot.joints}
        self.vmax = {j.name: j.max_velocity for j in store.robot.joints}
        self.max_opening = store.robot.gripper.max_opening
        self.grip_speed = self.max_opening / store.robot.gripper.close_time_s
        self.holding: Item | None = None
        self.held_yaw_offset = 0.0
        self.held_below = 0.0  # the held item's centre below the grasp centre (m): where the fingers took it
        self.contact_depth = 0.0  # the deepest contact the arm is in now (m); 0 when it touches nothing
        self.shape = ArmShape.of(store.robot)
        self.handling = Handling(shared, shelves)
        self.physics = True  # contact physics for containers; False: bookkeeping (see World)
        self.effort = 0.0  # the fingers' squeeze (N), as the gripper reports it
        self.q = {n: 0.0 for n in ARM_JOINTS}
        self.q["lift_z"] = min(max(0.3, self.limits["lift_z"][0]), self.limits["lift_z"][1])
        self.q["rail_x"] = min(max(self.q["rail_x"], self.limits["rail_x"][0]), self.limits["rail_x"][1])
        self.qd = {n: 0.0 for n in JOINT_NAMES}
        self.target = dict(self.q)
        self.drives = Drives(store.robot, ARM_JOINTS, self.q)
        self.decel = np.array([store.robot.joint(n).max_acceleration * STOP_DECEL for n in ARM_JOINTS])
        self.blocked = False  # a contact held the arm back since its last command (logged once)
        self.path: JointPath | None = None
        self.opening = self.max_opening
        self.grip_cmd = self.max_opening
        self.grasp_tried = False  # this close of the fingers met a container already (one grasp per close)

    # --- commands and state -------------------------------------------------------------

    def joint_positions(self) -> dict[str, float]:
        return {**self.q, "gripper": self.opening}

    def joint_velocities(self) -> dict[str, float]:
        return dict(self.qd)

    def clamp(self, name: str, value: float) -> float:
        lo, hi = self.limits[name]
        return min(max(float(value), lo), hi)

    def set_joint_targets(self, targets: Mapping[str, float]) -> None:
        """Hold these positions from now (a step; drops a running trajectory)."""
        self.path = None
        self.blocked = False
        for n, v in targets.items():
            if n == "gripper":
                self.set_gripper(v)
            elif n in self.target:
                self.target[n] = self.clamp(n, v)
            else:
                raise KeyError(f"unknown joint {n!r}; joints are {list(JOINT_NAMES)}")

    def set_trajectory(self, path: JointPath) -> None:
        """Execute a trajectory; it replaces the running one (joint_trajectory_controller semantics)."""
        unknown = [n for n in path.joint_names if n not in self.target]
        if unknown:
            raise KeyError(f"unknown joints {unknown}; joints are {list(ARM_JOINTS)}")
        path.begin(self.clock(), self.q)
        self.path = path
        self.blocked = False

    def stop_trajectory(self) -> None:
        """Stop and hold: where the arm is now, or, driven and moving, where it can brake to."""
        self.path = None
        self.target = dict(self.q)
        self.blocked = False
        if self.physics and self.drives.moving:
            q, v = np.array(self.drives.q), np.array(self.drives.v)
            duration = max(float(np.max(np.abs(v) / self.decel)), 1e-3)
            path = JointPath.from_points(ARM_JOINTS, self.clock(), [duration], [q + v * duration / 2], [[0.0] * 5])
            path.start_velocities = v.copy()
            self.set_trajectory(path)

    @property
    def trajectory_active(self) -> bool:
        return self.path is not None and self.clock() < self.path.end_time

    def set_gripper(self, opening: float) -> None:
        cmd = min(max(float(opening), 0.0), self.max_opening)
        if cmd > self.grip_cmd:
            self.grasp_tried = False
        self.grip_cmd = cmd

    def teleport(self, joints: Mapping[str, float]) -> None:
        """Set joints instantly (tests, datasets): no motion and no collision stop (a contact it lands
        in is where the arm starts from: it may move out of it). A physics episode under way is
        settled first: the arm does not drag it along the jump."""
        self.handling.settle()
        if self.handling.active:  # carrying: the container rides on by bookkeeping from here
            self.holding, self.held_below, self.held_yaw_offset = self.handling.to_bookkeeping()
        for n, v in joints.items():
            if n == "gripper":
                self.opening = self.grip_cmd = min(max(float(v), 0.0), self.max_opening)
            else:
                self.q[n] = self.target[n] = self.clamp(n, v)
        self.path = None
        self.drives.place([self.q[n] for n in ARM_JOINTS])
        self.blocked = False
        self.write()
        self.contact_depth = max((depth for depth, *_ in self.contacts()), default=0.0)

    def grasp_centre(self) -> tuple[float, float, float, float]:
        r = self.store.robot
        q1, q2, q3 = self.q["shoulder"], self.q["elbow"], self.q["wrist"]
        x = (
            self.q["rail_x"]
            + r.upper_arm * math.cos(q1)
            + r.forearm * math.cos(q1 + q2)
            + r.tool_length * math.cos(q1 + q2 + q3)
        )
        y = (
            r.rail_y
            + r.upper_arm * math.sin(q1)
            + r.forearm * math.sin(q1 + q2)
            + r.tool_length * math.sin(q1 + q2 + q3)
        )
        return (x, y, r.base_height + self.q["lift_z"], q1 + q2 + q3)

    def hand(self) -> HandPose:
        return HandPose(*self.grasp_centre())

    @property
    def busy(self) -> bool:
        """The arm or gripper is moving, or a physics episode runs (time is then stepped at the
        servo period, not fast-forwarded)."""
        if self.path is not None or self.handling.active:
            return True
        if any(abs(self.target[n] - self.q[n]) > 1e-12 for n in ARM_JOINTS):
            return True
        if self.physics and (self.drives.moving or self.drives.sagging(self.handling.faults.drive_scale)):
            return True
        if self.holding is not None:
            return self.grip_cmd > self.holding.across + HOLD_SLACK
        return abs(self.grip_cmd - self.opening) > 1e-12

    def rest(self) -> None:
        """Nothing moves (the world fast-forwards): every velocity reads zero."""
        for n in JOINT_NAMES:
            self.qd[n] = 0.0
        self.drives.v = [0.0] * len(ARM_JOINTS)

    def joint_efforts(self) -> dict[str, float]:
        """Each drive's effort (N or N m; none, 0, for ideal servos) and the fingers' squeeze (N)."""
        efforts = self.drives.effort if self.physics else np.zeros(len(ARM_JOINTS))
        return {**{n: float(e) for n, e in zip(ARM_JOINTS, efforts, strict=True)}, "gripper": self.effort}

    def drop_held(self) -> None:
        """What the gripper holds leaves the world (an operator took it, a restart put it down)."""
        if self.holding is not None:
            self.handling.episode = None
            self.bodies.release(self.holding)
            self.holding = None

    # --- motion -------------------------------------------------------------------------

    def write(self) -> None:
        """Put the joints (and a held item) into the MuJoCo state."""
        data = self.bodies.data
        qpos = data.qpos
        for n in ARM_JOINTS:
            qpos[self.qadr[n]] = self.q[n]
        qpos[self.qadr["finger_l"]] = qpos[self.qadr["finger_r"]] = self.opening / 2
        if self.holding is not None and not self.handling.active:
            x, y, z, yaw = self.grasp_centre()
            a = yaw + self.held_yaw_offset
            data.mocap_pos[self.holding.mocap] = [x, y, z - self.held_below]
            data.mocap_quat[self.holding.mocap] = [math.cos(a / 2), 0, 0, math.sin(a / 2)]
        self.bodies.dirty = True

    def contacts(self) -> list[tuple[float, str, str]]:
        """What the arm touches now, deepest first: (depth m, arm geom, other geom). The arm's geoms
        collide with the case, shelves, rack, rail and obstructions only (the model's contype and
        conaffinity), never with containers."""
        model, data = self.bodies.model, self.bodies.data
        mujoco.mj_kinematics(model, data)
        mujoco.mj_collision(model, data)
        found = []
        for i in range(data.ncon):
            c = data.contact[i]
            a, b = (mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_GEOM, g) or str(g) for g in (c.geom1, c.geom2))
            arm, other = (a, b) if model.geom_contype[c.geom1] == ARM_CONTYPE else (b, a)
            found.append((max(-float(c.dist), 0.0), arm, other))
        return sorted(found, reverse=True)

    def advance(self, h: float) -> None:
        """One servo period of h seconds from the world's time now."""
        t = self.clock() + h
        old = dict(self.q)
        if self.physics:
            self._drive(h, t)
        else:
            self._servo(h, t)
        moved = any(abs(self.q[n] - old[n]) > 1e-12 for n in ARM_JOINTS)
        opening, empty = self.opening, self.holding is None
        if not self.handling.active:
            self._advance_gripper(h)
        self.write()
        if moved or self.opening != opening:
            self._stop_on_contact(old, opening if empty and self.holding is None else None)
        if self.handling.active:
            self._advance_episode(h)
            self.write()
        for n in ARM_JOINTS:
            self.qd[n] = (self.q[n] - old[n]) / h

    def _reference(self, t: float) -> tuple[list[float], list[float]]:
        """Where the arm is told to be at t, and how fast; the path's end becomes the target."""
        ref = [self.target[n] for n in ARM_JOINTS]
        ref_v = [0.0] * len(ARM_JOINTS)
        path = self.path
        if path is not None:
            pos, vel = path.state(t)
            if path.joint_names == ARM_JOINTS:  # the arm controller's paths name all five
                ref, ref_v = pos.tolist(), vel.tolist()
            else:
                for n, p, v in zip(path.joint_names, pos.tolist(), vel.tolist(), strict=True):
                    i = ARM_JOINTS.index(n)
                    ref[i], ref_v[i] = p, v
            if t >= path.end_time:
                self.target.update(path.sample(path.end_time))
                self.path = None
        return ref, ref_v

    def _drive(self, h: float, t: float) -> None:
        """The drives follow the reference; at rest on the target they are put on it exactly."""
        ref, ref_v = self._reference(t)
        dr = self.drives
        sku = self.store.skus.get(self.holding.sku or "") if self.holding is not None else None
        dr.hold(sku.mass if sku is not None else 0.0)
        dr.weaken(self.handling.faults.drive_scale)
        dr.advance(h, ref, ref_v)
        if self.path is None and dr.settled(ref):
            dr.place(ref)
        for n, x in zip(ARM_JOINTS, dr.q, strict=True):
            self.q[n] = float(x)

    def _servo(self, h: float, t: float) -> None:
        """Ideal servos (no contact physics): on the reference, at most SPEED_MARGIN x top speed."""
        ref, _ = self._reference(t)
        for i, n in enumerate(ARM_JOINTS):
            reach = self.vmax[n] * SPEED_MARGIN * h
            self.q[n] = self.clamp(n, min(max(ref[i], self.q[n] - reach), self.q[n] + reach))

    def _stop_on_contact(self, old: dict[str, float], opening: float | None) -> None:
        """After a step: a new contact, or a deeper one, blocks the arm where it was (and the empty
        fingers where they were, ``opening``); moving out of or along a contact goes on. The drives
        push on (the trajectory runs on): the arm stalls until its controller stops it."""
        touching = self.contacts()
        depth = touching[0][0] if touching else 0.0
        if not touching:
            self.contact_depth = 0.0
            return
        if depth <= self.contact_depth + CONTACT_SLACK:
            # Along or out of a contact; held back by one, only out of it counts (no creeping in).
            self.contact_depth = min(self.contact_depth, depth) if self.blocked else depth
            return
        self.q = old
        self.drives.stop([old[n] for n in ARM_JOINTS])
        if opening is not None:
            self.opening = self.grip_cmd = opening
        self.write()
        if self.blocked:
            return
        self.blocked = True
        _, arm, other = touching[0]
        x, y, z, _ = self.grasp_centre()
        self.log(
            "arm_collision",
            detail=f"{arm} touched {other} ({depth * 1000:.1f} mm deep, {len(touching)} contacts) with the grasp"
            f" centre at ({x:.3f}, {y:.3f}, {z:.3f}); the arm stalled there",
        )

    def _advance_episode(self, h: float) -> None:
        """One servo period of the physics episode: a release first, then the island's step."""
        hs = self.handling
        before = self.opening
        if self.holding is not None and self.grip_cmd > self.opening + HOLD_SLACK:
            self._release_in_episode()
        if hs.active:
            hs.step(h, self.hand(), self.grip_cmd)
            self.opening, self.effort = hs.opening, hs.effort
            held = hs.episode.item if hs.episode is not None else None
            outcome = hs.judge(self.grip_cmd)
            if outcome == "held":
                self.holding = held
            elif outcome == "dropped" and self.holding is not None:
                self.holding = None
            if not hs.active:
                self.effort = 0.0
        self.qd["gripper"] = (self.opening - before) / h

    def _release_in_episode(self) -> None:
        """The fingers open on a container held by friction: into the lane whose loading point it
        is at, back to a stock pick point, or it falls."""
        item, ep = self.holding, self.handling.episode
        assert item is not None and ep is not None
        self.holding = None
        pos, _ = ep.island.pose(0)
        x, y, z = (float(v) for v in pos)
        lv = self._loading_lane(item, x, y, z)
        if lv is not None:
            self.handling.start_place(lv.id, self.opening, self.hand())
            return
        self.handling.episode = None
        self._put_back_or_drop(item, x, y, z)

    def _advance_gripper(self, h: float) -> None:
        before = self.opening
        step = self.grip_speed * h
        after = min(self.grip_cmd, before + step) if self.grip_cmd > before else max(self.grip_cmd, before - step)
        if self.holding is not None:
            if self.grip_cmd > self.holding.across + HOLD_SLACK:
                self.opening = after
                self._place_held()
            else:
                self.opening = self.holding.across
        else:
            self.opening = after
            if after < before and not self.grasp_tried:
                self._try_grasp(before, after)
        self.qd["gripper"] = (self.opening - before) / h

    # --- grasp and release --------------------------------------------------------------

    def _graspable(self) -> tuple[Item, str, str, float] | None:
        """The item at the grasp centre, with where it is ("stock", location id, or "lane", lane id)
        and the height of its centre."""
        x, y, z, _ = self.grasp_centre()
        for loc in self.store.stock.locations:
            front = self.shelves.stock_front[loc.id]
            if front is None:
                continue
            px, py, _ = self.store.stock_pick_point(loc)
            dx, dy = self.shelves.stock_nudge.get(loc.id, (0.0, 0.0))
            px, py = px + dx, py + dy
            centre = loc.z + front.height / 2
            if math.hypot(px - x, py - y) <= GRASP_TOL_XY and self._fingers_on(z, centre, front):
                return front, "stock", loc.id, centre
        for lane_id, items in self.shelves.lanes.items():
            if not items:
                continue
            px, py, pz = self.shelves.item_centre(lane_id, len(items) - 1)
            if math.hypot(px - x, py - y) <= GRASP_TOL_XY and self._fingers_on(z, pz, items[-1]):
                return items[-1], "lane", lane_id, pz
        return None

    def _fingers_on(self, z: float, centre: float, item: Item) -> bool:
        """Whether fingers closing at grasp height ``z`` close over at least :data:`GRIP_MIN` of the
        height of an item centred at ``centre``."""
        half = self.shape.finger_half[2]
        return min(centre + item.height / 2, z + half) - max(centre - item.height / 2, z - half) >= GRIP_MIN

    def _try_grasp(self, before: float, after: float) -> None:
        found = self._graspable()
        if found is None:
            return
        item, where, key, centre = found
        if item.kind == "container" and self.physics:  # contact physics from here until it rests somewhere
            if self.grip_cmd >= item.across:
                return  # fingers settling at a width it fits through are no grasp
            if where == "stock":
                loc = self.store.stock_by_id[key]
                px, py, _ = self.store.stock_pick_point(loc)
                at = (px, py, centre)
            else:
                at = self.shelves.item_centre(key, len(self.shelves.lanes[key]) - 1)
            self.handling.start_grasp(item, where, key, at, self.hand(), before)
            self.grasp_tried = True
            self.opening = self.handling.opening
            return
        if not after <= item.across <= before:
            return  # the fingers are not closing across this item's width now
        sku = item.sku
        lane_id = key if where == "lane" else None
        if where == "stock":
            self.shelves.take_stock_front(key)
        else:
            self.shelves.lanes[key].pop()
            self.shelves.layout_lane(key)
        self.bodies.unhide(item.body)
        self.holding = item
        self.held_yaw_offset = -self.grasp_centre()[3]
        self.held_below = self.grasp_centre()[2] - centre
        self.opening = item.across
        self.log("grasp", lane_id=lane_id, sku=sku, detail=f"from {where} {key}")

    def _place_held(self) -> None:
        """Let go of an item held by bookkeeping (not a container in a physics episode)."""
        item = self.holding
        assert item is not None
        self.holding = None
        x, y, z, _ = self.grasp_centre()
        z -= self.held_below  # the item's centre
        lv = self._loading_lane(item, x, y, z)
        if lv is not None:
            if item.pitch <= self.shelves.free_length(lv.id) + 1e-9:
                self.shelves.lanes[lv.id].append(item)
                self.shelves.layout_lane(lv.id)
                self.log("placed", lane_id=lv.id, sku=item.sku)
                return
            self.log("dropped", lane_id=lv.id, sku=item.sku, detail="the lane is full")
            self.bodies.release(item)
            return
        self._put_back_or_drop(item, x, y, z)

    def _loading_lane(self, item: Item, x: float, y: float, z: float) -> LaneView | None:
        """The lane at whose loading point an item centred at (x, y, z) is let go, if any."""
        for lv in self.store.lanes:
            zc = lv.board_z(lv.back_y + item.pitch / 2) + item.height / 2
            if (
                abs(x - lv.lane.x) <= PLACE_TOL_X
                and lv.back_y - 0.04 <= y <= lv.back_y + item.pitch + 0.05
                and abs(z - zc) <= PLACE_TOL_Z
            ):
                return lv
        return None

    def _put_back_or_drop(self, item: Item, x: float, y: float, z: float) -> None:
        """A released item centred at (x, y, z), not in a lane: back into stock at a pick point, or lost."""
        if item.kind == "container":
            for loc in self.store.stock.locations:
                px, py, _ = self.store.stock_pick_point(loc)
                pz = loc.z + item.height / 2
                near = math.hypot(px - x, py - y) <= 0.03 and abs(pz - z) <= PLACE_TOL_Z
                # Any container put back at a pick point stays there (a wrong one is a mix-up again).
                if near and self.shelves.put_back(loc.id, item):
                    self.log("returned", sku=item.sku, detail=f"to stock {loc.id}")
                    return
        self.log("dropped", sku=item.sku, detail=f"released at {[round(x, 3), round(y, 3), round(z, 3)]}")
        self.bodies.release(item)

    # --- checkpoints --------------------------------------------------------------------

    def state(self) -> dict[str, object]:
        held = self.holding.sku if self.holding is not None and self.holding.kind == "container" else None
        return {"joints": {n: self.q[n] for n in ARM_JOINTS}, "held": held}

    def restore(self, state: Mapping[str, Any]) -> None:
        """Stand at the checkpointed pose with the gripper open, holding nothing (the world
        returned a held container to the back room)."""
        self.drop_held()
        self.teleport({**state["joints"], "gripper": self.max_opening})
