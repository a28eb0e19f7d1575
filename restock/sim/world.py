"""The simulated store as a plain Python object: MuJoCo model, customers, staff, events. No rclpy.

Used by the sim node (restock.nodes.sim), the vision dataset generator and the tests::

    from restock.sim.world import World
    w = World(load_store("config/stores/corner_store.yaml"), seed=1)
    w.fill_lanes(1.0)                         # every lane full (the default start is full)
    w.set_gripper(0.1)
    w.set_joint_targets({"rail_x": 0.5, "lift_z": 0.2, "shoulder": 0.3, "elbow": 0.5, "wrist": 0.0})
    w.step(2.0)                               # sim seconds; idle time is fast-forwarded
    rgb = w.render("cam_left")                # (H, W, 3) uint8, the camera's own resolution
    seg = w.render_segmentation("cam_left")   # (H, W) int32 object ids, -1 = nothing
    info = w.object_info(int(seg[240, 320]))  # ObjectInfo(kind="container", sku="cola_500", lane_id=..., slot=0)

Time: ``w.time`` is sim seconds since the Unix epoch (float); the store's local time is UTC.
``World(..., start_time=...)`` takes epoch seconds or an ISO string (default
:data:`DEFAULT_START`, a Monday 06:00). :meth:`World.step` advances it; it is the clock.

Robot (the contract the arm controller codes against; see restock.store.description.Robot):
joints ``rail_x`` (prismatic along x, carriage at y = robot.rail_y), ``lift_z`` (prismatic z; the
arm plane is at z = base_height + lift_z), ``shoulder``, ``elbow``, ``wrist`` (revolute about +z;
shoulder = 0 points along +x); grasp centre at
``(rail_x + l1 c1 + l2 c12 + lt c123, rail_y + l1 s1 + l2 s12 + lt s123, base_height + lift_z)``,
tool yaw q1+q2+q3, parallel fingers closing across the tool direction; ``gripper`` = opening (m).
The joints are ideal position servos: they follow the commanded trajectory exactly (clamped to
the joint limits), which is how a well-tuned industrial controller looks at this time scale. An
arm link touching an obstruction stops the arm where it was (event ``arm_collision``) and drops
the running trajectory, as a real controller's collision detection would.

Grasping: closing the fingers with the grasp centre on a graspable item (the front container of
a back-room stock location, or the backmost item of a lane) makes the fingers stop at the item's
width and the item ride with the tool; with probability ``failed_grasp_probability`` it slips
(event ``grasp_slipped``: the item stays, the fingers close fully, so a grasp check on the
opening sees it). Opening the fingers releases the item: into a lane when it is at that lane's
loading point (it slides forward behind the others, gravity feed), back into stock at a stock
pick point, otherwise it falls and is lost (event ``dropped``).

Lanes are gravity-fed columns kept as bookkeeping (no free-jointed containers): index 0 is the
front a customer sees. Customers take the front container; a sale of a SKU whose lanes are all
empty at the front is a lost sale. Staff refill back-room stock on ``store.stock.refill``.

Public API (stable; the vision dataset generator and the sim node build on it):

- construction: ``World(store, seed=0, start_time=DEFAULT_START, fill=1.0, render=True)``;
  ``store``, ``model`` (mujoco.MjModel), ``data`` (mujoco.MjData), ``time``, ``rng``.
- time: ``step(dt)``; ``run_until(t)``.
- robot: ``joint_positions() -> dict`` (rail_x, lift_z, shoulder, elbow, wrist, gripper),
  ``joint_velocities() -> dict``, ``set_joint_targets(dict)`` (hold these positions now),
  ``set_trajectory(JointPath)`` / ``stop_trajectory()`` (see restock.sim.trajectory),
  ``trajectory_active``, ``arm_busy``, ``set_gripper(opening)``, ``teleport(dict)`` (set joints instantly,
  for tests and datasets), ``grasp_centre() -> (x, y, z, yaw)``, ``held() -> ObjectInfo | None``,
  ``failed_grasp_probability`` (attribute, 0..1).
- store state: ``lane_contents(lane_id) -> list[ObjectInfo]`` front first, ``lane_count(lane_id)``
  (containers of any SKU), ``lane_counts() -> dict``, ``stock_quantity(location_id)``,
  ``fill_lanes(fraction | dict lane_id -> count)``, ``set_lane(lane_id, items)`` (items: SKU ids,
  ``"unfamiliar"`` or ``"obstruction"``, front first), ``take_front(lane_id, n=1)`` (a person takes
  items without a sale: staff, an operator), ``remove(object_id)``.
- customers: ``set_demand(generator)`` (restock.demand.generator.DemandGenerator, sampled with this
  world's seed) or ``set_sales_log(sales)`` (a list of restock.demand.generator.Sale, e.g. from
  restock.demand.saleslog.read_sales_log), ``customer_buy(sku, quantity=1)``; ``sales`` and
  ``lost_sales`` (dict sku -> containers), ``events`` (list of SimEvent, newest last; the last
  10,000-20,000 are kept).
- events: ``put_unfamiliar(lane_id, slot=None)`` (None: at the back; 0: the front) -> object id,
  ``put_obstruction(lane_id=None, at=None)`` (in a lane's column, or a box in the arm's corridor at
  store-frame point ``at``) -> object id, ``show_hand(camera_id, lane_id=None, duration_s=None)``
  -> object id, ``hide_hand(object_id)``, ``schedule(t, callable)`` (run at sim time t),
  ``random_events(rate_per_hour, kinds=...)`` (seeded); scripted events from text:
  restock.sim.events.schedule_events(world, "+60 unfamiliar r1_l03 0; 08:15 hand cam_left").
- rendering: ``render(camera_id, width=None, height=None) -> (H, W, 3) uint8``,
  ``render_segmentation(camera_id, ...) -> (H, W) int32`` object ids (-1: background),
  ``object_info(object_id) -> ObjectInfo`` (valid until the world changes),
  ``boxes(camera_id, min_pixels=20) -> list[(ObjectInfo, (x1, y1, x2, y2), pixels)]`` from one
  segmentation render.
- domain randomisation: ``randomize_appearance(rng, lighting=True, colors=True, camera_jitter_m=0.02,
  camera_jitter_deg=2.0)`` and ``reset_appearance()``; ``camera_name(camera_id)`` is the MuJoCo
  camera's name for anyone who wants to reach into ``model`` directly.
- evaluation: ``ground_truth() -> restock.records.SimGroundTruth``.

Rendering uses MUJOCO_GL=egl (set here if unset), shadows and reflections off.
"""

from __future__ import annotations

import heapq
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

os.environ.setdefault("MUJOCO_GL", "egl")

import mujoco
import numpy as np

from restock.records import LaneTruth, SimEvent, SimGroundTruth
from restock.sim.bodies import Bodies, Item, ObjectInfo
from restock.sim.customers import Customers
from restock.sim.incidents import Incidents
from restock.sim.mjcf import HIDDEN_GROUP, Layout, build_mjcf
from restock.sim.shelves import Shelves
from restock.sim.simtime import parse_time
from restock.sim.trajectory import JointPath
from restock.store.description import Store

DEFAULT_START = "2026-07-06T06:00:00"  # a Monday morning, UTC
ARM_JOINTS: tuple[str, ...] = ("rail_x", "lift_z", "shoulder", "elbow", "wrist")
JOINT_NAMES: tuple[str, ...] = (*ARM_JOINTS, "gripper")
ARM_DT = 0.01  # s: the arm's servo/bookkeeping period while it moves
GRASP_TOL_XY = 0.02  # m: grasp centre to item centre, horizontal
GRASP_TOL_Z = 0.03
PLACE_TOL_X = 0.025
PLACE_TOL_Z = 0.04
CHECKPOINT_VERSION = 1
MAX_EVENTS = 2_000  # events kept in World.events (the oldest half is dropped beyond this; ~1,600 a day)


class World:
    """The simulated store. See the module docstring for the API."""

    def __init__(
        self,
        store: Store,
        seed: int = 0,
        start_time: float | str = DEFAULT_START,
        fill: float = 1.0,
        render: bool = True,
    ) -> None:
        self.store = store
        self.seed = int(seed)
        self.rng = np.random.default_rng([self.seed, 1])  # events, grasps, customers' lane choice
        self.time = parse_time(start_time)
        self.start_time = self.time
        xml, layout = build_mjcf(store)
        self.mjcf = xml
        self.layout: Layout = layout
        self.model = mujoco.MjModel.from_xml_string(xml)
        self.data = mujoco.MjData(self.model)
        self._render_enabled = render
        self._renderers: dict[tuple[int, int, bool], mujoco.Renderer] = {}
        self._scene_option = mujoco.MjvOption()
        self._scene_option.geomgroup[HIDDEN_GROUP] = 0
        m = self.model
        self._qadr = {
            n: int(m.jnt_qposadr[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, n)])
            for n in (*ARM_JOINTS, "finger_l", "finger_r")
        }
        self._limits = {j.name: (j.lower, j.upper) for j in store.robot.joints}
        self._max_opening = store.robot.gripper.max_opening
        self._grip_speed = self._max_opening / store.robot.gripper.close_time_s
        self.bodies = Bodies(store, self.model, self.data, layout, self.rng)
        self.shelves = Shelves(store, self.bodies, self._log)
        self.incidents = Incidents(store, self.bodies, self.shelves, self.rng, self._log, self._now, self.schedule)
        demand_rng = np.random.default_rng([self.seed, 2])
        self.customers = Customers(store, self.shelves, self.incidents, self.rng, demand_rng, self._log, self._now)
        self._held: Item | None = None
        self._held_yaw_offset = 0.0
        self.failed_grasp_probability = 0.0
        self.events: list[SimEvent] = []
        self._events_reported = 0
        self._q = {n: 0.0 for n in ARM_JOINTS}
        self._q["lift_z"] = min(max(0.3, self._limits["lift_z"][0]), self._limits["lift_z"][1])
        self._q["rail_x"] = min(max(self._q["rail_x"], self._limits["rail_x"][0]), self._limits["rail_x"][1])
        self._qd = {n: 0.0 for n in JOINT_NAMES}
        self._target = dict(self._q)
        self._path: JointPath | None = None
        self._opening = self._max_opening
        self._grip_cmd = self._max_opening
        self._slipped_this_close = False
        self._scheduled: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = 0
        self.shelves.next_refill = self.shelves.refill_after(self.time)
        self._saved_appearance: dict[str, np.ndarray] | None = None
        self._write_arm()
        if fill > 0:
            self.fill_lanes(fill)
        self.shelves.update_stock_fronts()

    # --- names and bodies ---------------------------------------------------------------

    def _body(self, name: str) -> int:
        return self.bodies.body(name)

    def camera_name(self, camera_id: str) -> str:
        self.store.camera(camera_id)  # raises KeyError naming the cameras
        return camera_id

    # --- shelves and back room (restock.sim.shelves) ------------------------------------

    @property
    def lanes(self) -> dict[str, list[Item]]:
        return self.shelves.lanes

    @property
    def stock(self) -> dict[str, int]:
        return self.shelves.stock

    def set_lane(self, lane_id: str, items: Iterable[str], check_room: bool = True) -> None:
        self.shelves.set_lane(lane_id, items, check_room)

    def fill_lanes(self, fill: float | Mapping[str, int]) -> None:
        self.shelves.fill_lanes(fill)

    def lane_contents(self, lane_id: str) -> list[ObjectInfo]:
        return self.shelves.lane_contents(lane_id)

    def lane_count(self, lane_id: str) -> int:
        return self.shelves.lane_count(lane_id)

    def lane_counts(self) -> dict[str, int]:
        return self.shelves.lane_counts()

    def stock_quantity(self, location_id: str) -> int:
        return self.shelves.stock_quantity(location_id)

    def take_front(self, lane_id: str, n: int = 1) -> list[ObjectInfo]:
        return self.shelves.take_front(lane_id, n)

    def refill_stock(self) -> None:
        self.shelves.refill_stock()

    def staff_top_up(self, sku: str, quantity: int = 0) -> tuple[str, int, int]:
        return self.shelves.staff_top_up(sku, quantity)

    # --- what a body is, and taking one out ----------------------------------------------

    def remove(self, object_id: int) -> ObjectInfo:
        """Take one object out of the world (an operator clears an item, a hand withdraws)."""
        info = self.object_info(object_id)
        if info.lane_id is not None:
            self.shelves.remove_from_lane(info.lane_id, object_id)
        elif info.corridor:
            self.incidents.remove_from_corridor(object_id)
        elif info.kind == "hand":
            self.hide_hand(object_id)
        elif info.held and self._held is not None:
            self.bodies.release(self._held)
            self._held = None
        else:
            raise ValueError(f"object {object_id} ({info.kind}) cannot be removed")
        self._log("removed", lane_id=info.lane_id, sku=info.sku, detail=info.kind)
        return info

    # --- checkpoints: a simulator killed mid-day resumes the same store ------------------

    def checkpoint(self) -> dict[str, object]:
        """What a restarted simulator needs to go on with this store: the time, every lane's
        column, the back room, the tills' counts, corridor obstructions and the arm's pose. What
        is in motion (a trajectory, a customer's hand) is not kept; a held container is."""
        held = self._held.sku if self._held is not None and self._held.kind == "container" else None
        return {
            "v": CHECKPOINT_VERSION,
            "store": self.store.name,
            "time": self.time,
            "start_time": self.start_time,
            "lanes": {
                lane_id: [i.sku if i.kind == "container" else i.kind for i in items]
                for lane_id, items in self.shelves.lanes.items()
            },
            "stock": dict(self.shelves.stock),
            **self.customers.state(),
            **self.incidents.state(),
            "joints": {n: self._q[n] for n in ARM_JOINTS},
            "held": held,
        }

    def restore(self, state: Mapping[str, Any], resume_at: float | None = None) -> None:
        """Go on from a checkpoint of this store at ``resume_at`` (default: its time; never
        earlier). The arm stands at its checkpointed pose with the gripper open; a container it
        held goes back to the back room (the restart put it down). Raises ValueError for a
        checkpoint of another store or version, naming what differs."""
        if state.get("v") != CHECKPOINT_VERSION:
            raise ValueError(f"checkpoint version {state.get('v')!r}, expected {CHECKPOINT_VERSION}")
        lanes = state["lanes"]
        if state.get("store") != self.store.name or set(lanes) != set(self.shelves.lanes):
            raise ValueError(f"checkpoint of store {state.get('store')!r} does not match store {self.store.name!r}")
        t = float(state["time"])
        self.time = t if resume_at is None else max(t, float(resume_at))
        self.start_time = float(state["start_time"])
        for lane_id, items in lanes.items():
            self.set_lane(lane_id, items, check_room=False)
        self.incidents.restore(state)
        self.shelves.stock = {loc: int(state["stock"][loc]) for loc in self.shelves.stock}
        if state.get("held") is not None:
            loc = next((x for x in self.store.stock.locations if x.sku == state["held"]), None)
            if loc is not None:
                self.shelves.stock[loc.id] = min(self.shelves.stock[loc.id] + 1, loc.capacity)
        self.shelves.update_stock_fronts()
        self.customers.restore(state)
        if self._held is not None:
            self.bodies.release(self._held)
            self._held = None
        self.teleport({**state["joints"], "gripper": self._max_opening})
        self.shelves.next_refill = self.shelves.refill_after(self.time)
        self._log("resumed", detail=f"from a checkpoint at {t:.1f}")

    # --- customers (restock.sim.customers) ----------------------------------------------

    @property
    def sales(self) -> dict[str, int]:
        return self.customers.sales

    @property
    def lost_sales(self) -> dict[str, int]:
        return self.customers.lost_sales

    def set_demand(self, generator: object) -> None:
        self.customers.set_demand(generator)

    def set_sales_log(self, sales: Iterable[object]) -> None:
        self.customers.set_sales_log(sales)

    def customer_buy(self, sku: str, quantity: int = 1, lane_id: str | None = None) -> int:
        return self.customers.buy(sku, quantity, lane_id)

    # --- events -------------------------------------------------------------------------

    def _log(self, kind: str, lane_id: str | None = None, sku: str | None = None, detail: str = "") -> None:
        self.events.append(SimEvent(stamp=self.time, kind=kind, lane_id=lane_id, sku=sku, detail=detail))
        if len(self.events) > MAX_EVENTS:  # a bounded history: months of running stay small
            drop = MAX_EVENTS // 2
            del self.events[:drop]
            self._events_reported = max(0, self._events_reported - drop)

    def _now(self) -> float:
        return self.time

    def schedule(self, t: float, action: Callable[[], None]) -> None:
        """Run ``action`` when sim time reaches t (epoch s)."""
        self._seq += 1
        heapq.heappush(self._scheduled, (float(t), self._seq, action))

    def clear_foreign(self, lane_id: str | None) -> int:
        """A person (the remote operator's arm work, or a clerk) takes every unfamiliar item and
        obstruction out of a lane, or out of the corridor when ``lane_id`` is None. Returns how many."""
        if lane_id is not None:
            ids = [i.body for i in self.shelves.lanes.get(lane_id, []) if i.kind in ("unfamiliar", "obstruction")]
        else:
            ids = [entry[0].body for entry in self.incidents.corridor]
        for body in ids:
            self.remove(body)
        if ids:
            self._log("operator_cleared", lane_id=lane_id, detail=f"{len(ids)} item(s)")
        return len(ids)

    # --- incidents (restock.sim.incidents) ----------------------------------------------

    def put_unfamiliar(self, lane_id: str, slot: int | None = None) -> int:
        return self.incidents.put_unfamiliar(lane_id, slot)

    def put_obstruction(self, lane_id: str | None = None, at: Sequence[float] | None = None) -> int:
        return self.incidents.put_obstruction(lane_id, at)

    def show_hand(self, camera_id: str, lane_id: str | None = None, duration_s: float | None = None) -> int:
        return self.incidents.show_hand(camera_id, lane_id, duration_s)

    def hide_hand(self, object_id: int) -> None:
        self.incidents.hide_hand(object_id)

    def random_events(
        self,
        rate_per_hour: float,
        kinds: Sequence[str] = ("unfamiliar", "obstruction", "hand"),
        until: float | None = None,
    ) -> int:
        return self.incidents.random_events(rate_per_hour, kinds, until)

    def _try(self, action: Callable[[], object]) -> None:
        self.incidents.attempt(action)

    # --- the robot ----------------------------------------------------------------------

    def joint_positions(self) -> dict[str, float]:
        return {**self._q, "gripper": self._opening}

    def joint_velocities(self) -> dict[str, float]:
        return dict(self._qd)

    def _clamp(self, name: str, value: float) -> float:
        lo, hi = self._limits[name]
        return min(max(float(value), lo), hi)

    def set_joint_targets(self, targets: Mapping[str, float]) -> None:
        """Hold these positions from now (a step; drops a running trajectory)."""
        self._path = None
        for n, v in targets.items():
            if n == "gripper":
                self.set_gripper(v)
            elif n in self._target:
                self._target[n] = self._clamp(n, v)
            else:
                raise KeyError(f"unknown joint {n!r}; joints are {list(JOINT_NAMES)}")

    def set_trajectory(self, path: JointPath) -> None:
        """Execute a trajectory; it replaces the running one (joint_trajectory_controller semantics)."""
        unknown = [n for n in path.joint_names if n not in self._target]
        if unknown:
            raise KeyError(f"unknown joints {unknown}; joints are {list(ARM_JOINTS)}")
        path.begin(self.time, self._q)
        self._path = path

    def stop_trajectory(self) -> None:
        """Stop and hold where the arm is now."""
        self._path = None
        self._target = dict(self._q)

    @property
    def trajectory_active(self) -> bool:
        return self._path is not None and self.time < self._path.end_time

    def set_gripper(self, opening: float) -> None:
        cmd = min(max(float(opening), 0.0), self._max_opening)
        if cmd < self._grip_cmd:
            self._slipped_this_close = False
        self._grip_cmd = cmd

    def teleport(self, joints: Mapping[str, float]) -> None:
        """Set joints instantly (tests, datasets): no motion, no collision check."""
        for n, v in joints.items():
            if n == "gripper":
                self._opening = self._grip_cmd = min(max(float(v), 0.0), self._max_opening)
            else:
                self._q[n] = self._target[n] = self._clamp(n, v)
        self._path = None
        self._write_arm()

    def grasp_centre(self) -> tuple[float, float, float, float]:
        r = self.store.robot
        q1, q2, q3 = self._q["shoulder"], self._q["elbow"], self._q["wrist"]
        x = (
            self._q["rail_x"]
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
        return (x, y, r.base_height + self._q["lift_z"], q1 + q2 + q3)

    def held(self) -> ObjectInfo | None:
        return None if self._held is None else self.object_info(self._held.body)

    def _write_arm(self) -> None:
        qpos = self.data.qpos
        for n in ARM_JOINTS:
            qpos[self._qadr[n]] = self._q[n]
        qpos[self._qadr["finger_l"]] = qpos[self._qadr["finger_r"]] = self._opening / 2
        if self._held is not None:
            x, y, z, yaw = self.grasp_centre()
            a = yaw + self._held_yaw_offset
            self.data.mocap_pos[self._held.mocap] = [x, y, z]
            self.data.mocap_quat[self._held.mocap] = [math.cos(a / 2), 0, 0, math.sin(a / 2)]
        self.bodies.dirty = True

    def _arm_collides(self) -> bool:
        if not self.incidents.obstructed():
            return False
        mujoco.mj_kinematics(self.model, self.data)
        mujoco.mj_collision(self.model, self.data)
        return self.data.ncon > 0

    def _advance_arm(self, h: float) -> None:
        t = self.time + h
        want = dict(self._target)
        if self._path is not None:
            want.update(self._path.sample(t))
            if t >= self._path.end_time:
                self._target.update(self._path.sample(self._path.end_time))
                self._path = None
        old = dict(self._q)
        for n in ARM_JOINTS:
            self._q[n] = self._clamp(n, want[n])
        moved = any(abs(self._q[n] - old[n]) > 1e-12 for n in ARM_JOINTS)
        self._advance_gripper(h)
        self._write_arm()
        if moved and self._arm_collides():
            self._q = old
            self._target = dict(old)
            self._path = None
            self._write_arm()
            self._log("arm_collision", detail="an arm link touched an obstruction; the trajectory was dropped")
        for n in ARM_JOINTS:
            self._qd[n] = (self._q[n] - old[n]) / h

    def _advance_gripper(self, h: float) -> None:
        before = self._opening
        step = self._grip_speed * h
        after = min(self._grip_cmd, before + step) if self._grip_cmd > before else max(self._grip_cmd, before - step)
        if self._held is not None:
            if self._grip_cmd > self._held.across + 0.003:
                self._opening = after
                self._place_held()
            else:
                self._opening = self._held.across
        else:
            self._opening = after
            if after < before and not self._slipped_this_close:
                self._try_grasp(before, after)
        self._qd["gripper"] = (self._opening - before) / h

    def _graspable(self) -> tuple[Item, str, str] | None:
        """The item at the grasp centre, with where it is: ("stock", location id) or ("lane", lane id)."""
        x, y, z, _ = self.grasp_centre()
        for loc in self.store.stock.locations:
            front = self.shelves.stock_front[loc.id]
            if front is None:
                continue
            px, py, pz = self.store.stock_pick_point(loc)
            if math.hypot(px - x, py - y) <= GRASP_TOL_XY and abs(pz - z) <= GRASP_TOL_Z:
                return front, "stock", loc.id
        for lane_id, items in self.shelves.lanes.items():
            if not items:
                continue
            px, py, pz = self.shelves.item_centre(lane_id, len(items) - 1)
            if math.hypot(px - x, py - y) <= GRASP_TOL_XY and abs(pz - z) <= GRASP_TOL_Z:
                return items[-1], "lane", lane_id
        return None

    def _try_grasp(self, before: float, after: float) -> None:
        found = self._graspable()
        if found is None:
            return
        item, where, key = found
        if not after <= item.across <= before:
            return  # the fingers are not closing across this item's width now
        sku = item.sku
        if self.rng.random() < self.failed_grasp_probability:
            self._slipped_this_close = True
            self._log("grasp_slipped", lane_id=key if where == "lane" else None, sku=sku, detail=f"from {where} {key}")
            return
        if where == "stock":
            self.shelves.stock[key] -= 1
            self.shelves.stock_front[key] = None
            self.shelves.update_stock_fronts()
        else:
            self.shelves.lanes[key].pop()
            self.shelves.layout_lane(key)
        for g in self.bodies.geoms[item.body]:
            self.model.geom_group[g] = 0
        self._held = item
        self._held_yaw_offset = -self.grasp_centre()[3]
        self._opening = item.across
        self._log("grasp", lane_id=key if where == "lane" else None, sku=sku, detail=f"from {where} {key}")

    def _place_held(self) -> None:
        item = self._held
        assert item is not None
        self._held = None
        x, y, z, _ = self.grasp_centre()
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
                    self._log("placed", lane_id=lv.id, sku=item.sku)
                    return
                self._log("dropped", lane_id=lv.id, sku=item.sku, detail="the lane is full")
                self.bodies.release(item)
                return
        if item.kind == "container":
            for loc in self.store.stock.locations:
                px, py, pz = self.store.stock_pick_point(loc)
                near = math.hypot(px - x, py - y) <= 0.03 and abs(pz - z) <= PLACE_TOL_Z
                if loc.sku == item.sku and near and self.shelves.stock[loc.id] < loc.capacity:
                    self.shelves.stock[loc.id] += 1
                    self.bodies.release(item)
                    self.shelves.update_stock_fronts()
                    self._log("returned", sku=item.sku, detail=f"to stock {loc.id}")
                    return
        self._log("dropped", sku=item.sku, detail=f"released at {[round(x, 3), round(y, 3), round(z, 3)]}")
        self.bodies.release(item)

    # --- time ---------------------------------------------------------------------------

    @property
    def arm_busy(self) -> bool:
        """The arm or gripper is moving (time is then stepped at the servo period, not fast-forwarded)."""
        return self._arm_busy

    @property
    def _arm_busy(self) -> bool:
        if self._path is not None:
            return True
        if any(abs(self._target[n] - self._q[n]) > 1e-12 for n in ARM_JOINTS):
            return True
        if self._held is not None:
            return self._grip_cmd > self._held.across + 0.003
        return abs(self._grip_cmd - self._opening) > 1e-12

    def _next_event_time(self) -> float:
        t = min(self.shelves.next_refill, self.customers.next_time())
        if self._scheduled:
            t = min(t, self._scheduled[0][0])
        return t

    def _run_due(self) -> None:
        self.customers.fill(self.time)
        while True:  # deliveries first, then scheduled events, then customers: the order is part of a seeded run
            if self.shelves.refill_if_due(self.time):
                continue
            if self._scheduled and self._scheduled[0][0] <= self.time:
                _, _, action = heapq.heappop(self._scheduled)
                action()
                continue
            sale = self.customers.pop_due(self.time)
            if sale is None:
                break
            self.customers.buy(sale.sku, sale.quantity, sale.lane_id)

    def step(self, dt: float) -> None:
        """Advance sim time by dt seconds: arm motion, customers, staff, scheduled events."""
        if not dt >= 0 or not math.isfinite(dt):
            raise ValueError(f"dt must be a non-negative finite number, got {dt}")
        end = self.time + dt
        while self.time < end - 1e-9:
            if self._arm_busy:
                h = min(ARM_DT, end - self.time)
                self._advance_arm(h)
                self.time += h
            else:
                for n in JOINT_NAMES:
                    self._qd[n] = 0.0
                self.time = min(end, max(self.time, self._next_event_time()))
            self._run_due()
        self.time = max(self.time, end)

    def run_until(self, t: float) -> None:
        self.step(max(0.0, t - self.time))

    # --- rendering ----------------------------------------------------------------------

    def _renderer(self, width: int, height: int, segmentation: bool) -> mujoco.Renderer:
        if not self._render_enabled:
            raise RuntimeError("this World was made with render=False (no OpenGL context is created)")
        key = (width, height, segmentation)
        r = self._renderers.get(key)
        if r is None:
            if width > self.model.vis.global_.offwidth or height > self.model.vis.global_.offheight:
                self.model.vis.global_.offwidth = max(width, self.model.vis.global_.offwidth)
                self.model.vis.global_.offheight = max(height, self.model.vis.global_.offheight)
            r = mujoco.Renderer(self.model, height=height, width=width, max_geom=4000)
            r.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = 0
            r.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = 0
            r.scene.flags[mujoco.mjtRndFlag.mjRND_SKYBOX] = 0
            if segmentation:
                r.enable_segmentation_rendering()
            self._renderers[key] = r
        return r

    def _prepare(self) -> None:
        if self.bodies.dirty:
            mujoco.mj_kinematics(self.model, self.data)
            mujoco.mj_camlight(self.model, self.data)
            self.bodies.dirty = False

    def render(self, camera_id: str, width: int | None = None, height: int | None = None) -> np.ndarray:
        """An RGB image (H, W, 3) uint8 from a store camera, at its resolution unless given."""
        cam = self.store.camera(camera_id)
        r = self._renderer(width or cam.width, height or cam.height, False)
        self._prepare()
        r.update_scene(self.data, camera=camera_id, scene_option=self._scene_option)
        return r.render().copy()

    def render_segmentation(self, camera_id: str, width: int | None = None, height: int | None = None) -> np.ndarray:
        """Object ids (H, W) int32 (body ids; -1 where nothing): look them up with :meth:`object_info`."""
        cam = self.store.camera(camera_id)
        r = self._renderer(width or cam.width, height or cam.height, True)
        self._prepare()
        r.update_scene(self.data, camera=camera_id, scene_option=self._scene_option)
        seg = r.render()
        geom = seg[..., 0]
        out = np.full(geom.shape, -1, dtype=np.int32)
        is_geom = (seg[..., 1] == int(mujoco.mjtObj.mjOBJ_GEOM)) & (geom >= 0)
        out[is_geom] = self.model.geom_bodyid[geom[is_geom]]
        return out

    def boxes(
        self, camera_id: str, min_pixels: int = 20, width: int | None = None, height: int | None = None
    ) -> list[tuple[ObjectInfo, tuple[int, int, int, int], int]]:
        """Visible objects with a vision label: (info, (x1, y1, x2, y2) px, visible pixels)."""
        seg = self.render_segmentation(camera_id, width, height)
        out = []
        for oid in np.unique(seg):
            if oid < 0:
                continue
            info = self.object_info(int(oid))
            if info.label is None:
                continue
            ys, xs = np.nonzero(seg == oid)
            if xs.size < min_pixels:
                continue
            out.append((info, (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1), int(xs.size)))
        return out

    def object_info(self, object_id: int) -> ObjectInfo:
        """What a body is now (an id from :meth:`render_segmentation`)."""
        body = int(object_id)
        if body in self.bodies.static_kind:
            return ObjectInfo(body, self.bodies.static_kind[body])
        if self._held is not None and self._held.body == body:
            return self.bodies.info(self._held, held=True)
        for lane_id, items in self.shelves.lanes.items():
            for k, item in enumerate(items):
                if item.body == body:
                    return self.bodies.info(item, lane_id=lane_id, slot=k)
        for loc_id, front in self.shelves.stock_front.items():
            if front is not None and front.body == body:
                return self.bodies.info(front, stock_location=loc_id)
        found = self.incidents.find(body)
        if found is not None:
            return found
        return ObjectInfo(body, "other")

    # --- domain randomisation -----------------------------------------------------------

    def randomize_appearance(
        self,
        rng: np.random.Generator,
        lighting: bool = True,
        colors: bool = True,
        camera_jitter_m: float = 0.02,
        camera_jitter_deg: float = 2.0,
    ) -> None:
        """Perturb lights, colours and camera poses (undo with :meth:`reset_appearance`)."""
        m = self.model
        if self._saved_appearance is None:
            self._saved_appearance = {
                k: getattr(m, k).copy() for k in ("light_diffuse", "light_ambient", "geom_rgba", "cam_pos", "cam_quat")
            }
            self._saved_headlight = (m.vis.headlight.ambient.copy(), m.vis.headlight.diffuse.copy())
        self.reset_appearance(keep_saved=True)
        if lighting:
            m.light_diffuse[:] = np.clip(m.light_diffuse * rng.uniform(0.6, 1.4, (m.nlight, 1)), 0, 1)
            m.vis.headlight.ambient[:] = np.clip(self._saved_headlight[0] * rng.uniform(0.6, 1.4), 0, 1)
            m.vis.headlight.diffuse[:] = np.clip(self._saved_headlight[1] * rng.uniform(0.6, 1.4), 0, 1)
        if colors:
            jitter = rng.normal(0, 0.04, (m.ngeom, 3))
            m.geom_rgba[:, :3] = np.clip(m.geom_rgba[:, :3] + jitter, 0, 1)
        for i in range(m.ncam):
            m.cam_pos[i] += rng.normal(0, camera_jitter_m, 3)
            axis = rng.normal(0, 1, 3)
            axis /= np.linalg.norm(axis)
            ang = math.radians(rng.normal(0, camera_jitter_deg))
            dq = np.array([math.cos(ang / 2), *(math.sin(ang / 2) * axis)])
            q = np.empty(4)
            mujoco.mju_mulQuat(q, dq, m.cam_quat[i])
            m.cam_quat[i] = q
        self.bodies.dirty = True

    def reset_appearance(self, keep_saved: bool = False) -> None:
        if self._saved_appearance is None:
            return
        m = self.model
        for k, v in self._saved_appearance.items():
            if k == "geom_rgba":
                # Unfamiliar items are recoloured on each placement: keep their current colours.
                keep = np.isin(m.geom_bodyid, self.bodies.unfamiliar_bodies)
                m.geom_rgba[~keep, :3] = v[~keep, :3]
            else:
                getattr(m, k)[:] = v
        m.vis.headlight.ambient[:], m.vis.headlight.diffuse[:] = self._saved_headlight
        if not keep_saved:
            self._saved_appearance = None
        self.bodies.dirty = True

    # --- evaluation ---------------------------------------------------------------------

    def ground_truth(self) -> SimGroundTruth:
        """Lane contents, stock, sales and lost sales now, and the events since the previous call."""
        lanes = {}
        for lv in self.store.lanes:
            items = self.shelves.lanes[lv.id]
            lanes[lv.id] = LaneTruth(
                sku=lv.lane.sku,
                capacity=lv.lane.capacity,
                count=sum(1 for i in items if i.kind == "container"),
                items=[i.sku if i.kind == "container" else i.kind for i in items],  # type: ignore[misc]
            )
        new = self.events[self._events_reported :]
        self._events_reported = len(self.events)
        held = None
        if self._held is not None:
            held = self._held.sku if self._held.kind == "container" else self._held.kind
        return SimGroundTruth(
            stamp=self.time,
            lanes=lanes,
            stock=dict(self.shelves.stock),
            sales=dict(self.sales),
            lost_sales=dict(self.lost_sales),
            held=held,
            events=new,
        )
