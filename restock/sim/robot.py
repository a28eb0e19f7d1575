"""The simulator's arm: joints, trajectory, gripper and grasp. No rclpy.

The contract the arm controller codes against (see restock.store.description.Robot): joints
``rail_x`` (prismatic along x, carriage at y = robot.rail_y), ``lift_z`` (prismatic z; the arm
plane is at z = base_height + lift_z), ``shoulder``, ``elbow``, ``wrist`` (revolute about +z;
shoulder = 0 points along +x); grasp centre at
``(rail_x + l1 c1 + l2 c12 + lt c123, rail_y + l1 s1 + l2 s12 + lt s123, base_height + lift_z)``,
tool yaw q1+q2+q3, parallel fingers closing across the tool direction; ``gripper`` = opening (m).
The joints are ideal position servos: they follow the commanded trajectory exactly (clamped to
the joint limits), which is how a well-tuned industrial controller looks at this time scale. An
arm part touching the case, a shelf, the rack, the rail or an obstruction stops the arm where it was
(event ``arm_collision``, naming the parts, the depth and the pose) and drops the running
trajectory, as a real controller's collision detection would.

Grasping: closing the fingers on a graspable item (the front container of a back-room stock
location, or the backmost item of a lane: the grasp centre over it, the fingers over at least
:data:`GRIP_MIN` of its height) makes the fingers stop at the item's width and the item ride with
the tool, held where the fingers took it; with probability ``failed_grasp_probability`` it slips
(event ``grasp_slipped``: the item stays, the fingers close fully, so a grasp check on the
opening sees it). Opening the fingers releases the item: into a lane when it is at that lane's
loading point (it slides forward behind the others, gravity feed), back into stock at a stock
pick point, otherwise it falls and is lost (event ``dropped``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import mujoco

from restock.sim.bodies import Item, Piece, Shared
from restock.sim.mjcf import ARM_CONTYPE
from restock.sim.shelves import Shelves
from restock.sim.trajectory import JointPath
from restock.store.arm_shape import ArmShape

ARM_JOINTS: tuple[str, ...] = ("rail_x", "lift_z", "shoulder", "elbow", "wrist")
JOINT_NAMES: tuple[str, ...] = (*ARM_JOINTS, "gripper")
ARM_DT = 0.01  # s: the arm's servo/bookkeeping period while it moves
GRASP_TOL_XY = 0.02  # m: grasp centre to item centre, horizontal
GRIP_MIN = 0.02  # m: fingers closing over less of an item than this do not take it
PLACE_TOL_X = 0.025
PLACE_TOL_Z = 0.04
HOLD_SLACK = 0.003  # m: fingers commanded this much wider than a held item let it go
CONTACT_SLACK = 1e-4  # m: a contact this much deeper than the last counts as pressing in


class Robot(Piece):
    """Joint state, the running trajectory, the gripper and what it holds.

    The shared rng decides grasp slips.
    """

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
        self.max_opening = store.robot.gripper.max_opening
        self.grip_speed = self.max_opening / store.robot.gripper.close_time_s
        self.holding: Item | None = None
        self.held_yaw_offset = 0.0
        self.held_below = 0.0  # the held item's centre below the grasp centre (m): where the fingers took it
        self.contact_depth = 0.0  # the deepest contact the arm is in now (m); 0 when it touches nothing
        self.shape = ArmShape.of(store.robot)
        self.failed_grasp_probability = 0.0
        self.q = {n: 0.0 for n in ARM_JOINTS}
        self.q["lift_z"] = min(max(0.3, self.limits["lift_z"][0]), self.limits["lift_z"][1])
        self.q["rail_x"] = min(max(self.q["rail_x"], self.limits["rail_x"][0]), self.limits["rail_x"][1])
        self.qd = {n: 0.0 for n in JOINT_NAMES}
        self.target = dict(self.q)
        self.path: JointPath | None = None
        self.opening = self.max_opening
        self.grip_cmd = self.max_opening
        self.slipped_this_close = False

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

    def stop_trajectory(self) -> None:
        """Stop and hold where the arm is now."""
        self.path = None
        self.target = dict(self.q)

    @property
    def trajectory_active(self) -> bool:
        return self.path is not None and self.clock() < self.path.end_time

    def set_gripper(self, opening: float) -> None:
        cmd = min(max(float(opening), 0.0), self.max_opening)
        if cmd < self.grip_cmd:
            self.slipped_this_close = False
        self.grip_cmd = cmd

    def teleport(self, joints: Mapping[str, float]) -> None:
        """Set joints instantly (tests, datasets): no motion and no collision stop (a contact it lands
        in is where the arm starts from: it may move out of it)."""
        for n, v in joints.items():
            if n == "gripper":
                self.opening = self.grip_cmd = min(max(float(v), 0.0), self.max_opening)
            else:
                self.q[n] = self.target[n] = self.clamp(n, v)
        self.path = None
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

    @property
    def busy(self) -> bool:
        """The arm or gripper is moving (time is then stepped at the servo period, not fast-forwarded)."""
        if self.path is not None:
            return True
        if any(abs(self.target[n] - self.q[n]) > 1e-12 for n in ARM_JOINTS):
            return True
        if self.holding is not None:
            return self.grip_cmd > self.holding.across + HOLD_SLACK
        return abs(self.grip_cmd - self.opening) > 1e-12

    def rest(self) -> None:
        """Nothing moves (the world fast-forwards): every velocity reads zero."""
        for n in JOINT_NAMES:
            self.qd[n] = 0.0

    def drop_held(self) -> None:
        """What the gripper holds leaves the world (an operator took it, a restart put it down)."""
        if self.holding is not None:
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
        if self.holding is not None:
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
        want = dict(self.target)
        if self.path is not None:
            want.update(self.path.sample(t))
            if t >= self.path.end_time:
                self.target.update(self.path.sample(self.path.end_time))
                self.path = None
        old = dict(self.q)
        for n in ARM_JOINTS:
            self.q[n] = self.clamp(n, want[n])
        moved = any(abs(self.q[n] - old[n]) > 1e-12 for n in ARM_JOINTS)
        opening, empty = self.opening, self.holding is None
        self._advance_gripper(h)
        self.write()
        if moved or self.opening != opening:
            self._stop_on_contact(old, opening if empty and self.holding is None else None)
        for n in ARM_JOINTS:
            self.qd[n] = (self.q[n] - old[n]) / h

    def _stop_on_contact(self, old: dict[str, float], opening: float | None) -> None:
        """After a step: a new contact, or a deeper one, stops the arm where it was (and the empty
        fingers where they were, ``opening``); moving out of or along a contact goes on."""
        touching = self.contacts()
        depth = touching[0][0] if touching else 0.0
        if not touching or depth <= self.contact_depth + CONTACT_SLACK:
            self.contact_depth = depth
            return
        self.q = old
        self.target = dict(old)
        self.path = None
        if opening is not None:
            self.opening = self.grip_cmd = opening
        self.write()
        _, arm, other = touching[0]
        x, y, z, _ = self.grasp_centre()
        self.log(
            "arm_collision",
            detail=f"{arm} touched {other} ({depth * 1000:.1f} mm deep, {len(touching)} contacts) with the grasp"
            f" centre at ({x:.3f}, {y:.3f}, {z:.3f}); the arm stopped there",
        )

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
            if after < before and not self.slipped_this_close:
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
        if not after <= item.across <= before:
            return  # the fingers are not closing across this item's width now
        sku = item.sku
        lane_id = key if where == "lane" else None
        if self.rng.random() < self.failed_grasp_probability:
            self.slipped_this_close = True
            self.log("grasp_slipped", lane_id=lane_id, sku=sku, detail=f"from {where} {key}")
            return
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
        item = self.holding
        assert item is not None
        self.holding = None
        x, y, z, _ = self.grasp_centre()
        z -= self.held_below  # the item's centre
        for lv in self.store.lanes:
            zc = lv.board_z(lv.back_y + item.pitch / 2) + item.height / 2
            if (
                abs(x - lv.lane.x) <= PLACE_TOL_X
                and lv.back_y - 0.04 <= y <= lv.back_y + item.pitch + 0.05
                and abs(z - zc) <= PLACE_TOL_Z
            ):
                if item.pitch <= self.shelves.free_length(lv.id) + 1e-9:
                    self.shelves.lanes[lv.id].append(item)
                    self.shelves.layout_lane(lv.id)
                    self.log("placed", lane_id=lv.id, sku=item.sku)
                    return
                self.log("dropped", lane_id=lv.id, sku=item.sku, detail="the lane is full")
                self.bodies.release(item)
                return
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
