"""The simulated store as a plain Python object: the small front over its pieces. No rclpy.

Used by the sim node (nodes/sim.py), the vision dataset generator and the tests::

    from restock.sim.world import World
    w = World(load_store("config/stores/corner_store.yaml"), seed=1)
    w.fill_lanes(1.0)                         # every lane full (the default start is full)
    w.set_gripper(0.1)
    w.set_joint_targets({"rail_x": 0.5, "lift_z": 0.2, "shoulder": 0.3, "elbow": 0.5, "wrist": 0.0})
    w.step(2.0)                               # sim seconds; idle time is fast-forwarded
    rgb = w.render("cam_left")                # (H, W, 3) uint8, the camera's own resolution
    seg = w.render_segmentation("cam_left")   # (H, W) int32 object ids, -1 = nothing
    info = w.object_info(int(seg[240, 320]))  # ObjectInfo(kind="container", sku="cola_500", lane_id=..., slot=0)

:class:`World` holds what every piece shares: the store, the MuJoCo ``model`` and ``data``, the
clock, the seeded ``rng``, the event list and the schedule, and it saves and restores
checkpoints. The rest lives in the pieces, each reachable as an attribute and documented in its
own module; World keeps thin methods of the same names for its callers:

- ``bodies`` (restock.sim.bodies): the pools of spare bodies and :class:`ObjectInfo`.
- ``shelves`` (restock.sim.shelves): lanes as gravity-fed columns, the back room, staff refills.
- ``customers`` (restock.sim.customers): demand or a sales log, the tills' ``sales`` and ``lost_sales``.
- ``incidents`` (restock.sim.incidents): unfamiliar items, obstructions, hands, seeded random
  events; scripted ones come from restock.sim.events.schedule_events.
- ``robot`` (restock.sim.robot): joints, trajectory, gripper and grasp: the arm's contract.
- ``cameras`` (restock.sim.cameras): renders, segmentation, boxes, domain randomisation.

Time: ``w.time`` is sim seconds since the Unix epoch (float); the store's local time is UTC.
``World(..., physics=False)`` grasps and places by bookkeeping instead of contact physics (the
old mode, kept as the speed benchmark's baseline: nothing slips or jams there).
``World(..., start_time=...)`` takes epoch seconds or an ISO string (default
:data:`DEFAULT_START`, a Monday 06:00). :meth:`World.step` advances it: at the arm's servo
period while the arm or gripper moves, otherwise straight to the next delivery, scheduled
action or sale. ``events`` lists SimEvent records, newest last (a bounded history).
Rendering uses MUJOCO_GL=egl (set here if unset).
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

from restock.records import SimEvent, SimGroundTruth
from restock.sim.bodies import Bodies, Item, ObjectInfo, Shared
from restock.sim.cameras import Cameras
from restock.sim.customers import Customers
from restock.sim.incidents import Incidents
from restock.sim.island import Faults
from restock.sim.mjcf import Layout, build_mjcf
from restock.sim.robot import ARM_DT, ARM_JOINTS, JOINT_NAMES, Robot
from restock.sim.shelves import Shelves
from restock.sim.simtime import parse_time
from restock.sim.trajectory import JointPath
from restock.store.description import Store

__all__ = ["ARM_JOINTS", "DEFAULT_START", "JOINT_NAMES", "ObjectInfo", "World", "parse_time"]

DEFAULT_START = "2026-07-06T06:00:00"  # a Monday morning, UTC
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
        physics: bool = True,
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
        self.bodies = Bodies(store, self.model, self.data, layout, self.rng)
        shared = Shared(store, self.bodies, self.rng, self._log, self._now)
        self.shelves = Shelves(shared)
        self.incidents = Incidents(shared, self.shelves, self.schedule)
        self.customers = Customers(shared, self.shelves, self.incidents, np.random.default_rng([self.seed, 2]))
        self.cameras = Cameras(store, self.bodies, self.object_info, enabled=render)
        self.robot = Robot(shared, self.shelves)
        self.robot.physics = physics  # False: grasps and releases by bookkeeping (a benchmark's baseline)
        self.events: list[SimEvent] = []
        self._events_reported = 0
        self._scheduled: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = 0
        self.shelves.next_refill = self.shelves.refill_after(self.time)
        self.robot.write()
        if fill > 0:
            self.fill_lanes(fill)
        self.shelves.update_stock_fronts()

    # --- names and bodies ---------------------------------------------------------------

    def _body(self, name: str) -> int:
        return self.bodies.body(name)

    def camera_name(self, camera_id: str) -> str:
        return self.cameras.camera_name(camera_id)

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

    def put_mixup(self, location_id: str, sku: str | None = None) -> str:
        return self.incidents.put_mixup(location_id, sku)

    def clear_mixups(self, location_id: str) -> int:
        """A person takes the wrong containers out of a back-room location (an operator's answer)."""
        n = self.shelves.clear_mixups(location_id)
        if n:
            self._log("operator_cleared", detail=f"{n} wrong container(s) from stock {location_id}")
        return n

    # --- what a body is, and taking one out ----------------------------------------------

    def object_info(self, object_id: int) -> ObjectInfo:
        """What a body is now (an id from :meth:`render_segmentation`)."""
        body = int(object_id)
        if body in self.bodies.static_kind:
            return ObjectInfo(body, self.bodies.static_kind[body])
        holding = self.robot.holding
        if holding is not None and holding.body == body:
            return self.bodies.info(holding, held=True)
        found = self.shelves.find(body) or self.incidents.find(body)
        return ObjectInfo(body, "other") if found is None else found

    def remove(self, object_id: int) -> ObjectInfo:
        """Take one object out of the world (an operator clears an item, a hand withdraws)."""
        info = self.object_info(object_id)
        if info.lane_id is not None:
            self.shelves.remove_from_lane(info.lane_id, object_id)
        elif info.corridor:
            self.incidents.remove_from_corridor(object_id)
        elif info.kind == "hand":
            self.hide_hand(object_id)
        elif info.held and self.robot.holding is not None:
            self.robot.drop_held()
        else:
            raise ValueError(f"object {object_id} ({info.kind}) cannot be removed")
        self._log("removed", lane_id=info.lane_id, sku=info.sku, detail=info.kind)
        return info

    def unstick_lane(self, lane_id: str) -> int:
        """A person sets a lane's jammed or tipped containers straight (they slide home); how many."""
        if lane_id not in self.shelves.lanes or not self.shelves.stuck(lane_id):
            return 0
        n = self.shelves.unstick(lane_id)
        self._log("operator_cleared", lane_id=lane_id, detail=f"{n} stuck container(s) set straight")
        return n

    def clear_foreign(self, lane_id: str | None) -> int:
        """A person (the remote operator's arm work, or a clerk) takes every unfamiliar item and
        obstruction out of a lane, or out of the corridor when ``lane_id`` is None. Returns how many."""
        if lane_id is not None:
            self.unstick_lane(lane_id)
        if lane_id is not None:
            ids = [i.body for i in self.shelves.lanes.get(lane_id, []) if i.kind in ("unfamiliar", "obstruction")]
        else:
            ids = [entry[0].body for entry in self.incidents.corridor]
        for body in ids:
            self.remove(body)
        if ids:
            self._log("operator_cleared", lane_id=lane_id, detail=f"{len(ids)} item(s)")
        return len(ids)

    # --- checkpoints: a simulator killed mid-day resumes the same store ------------------

    def checkpoint(self) -> dict[str, object]:
        """What a restarted simulator needs to go on with this store: the time, every lane's
        column, the back room, the tills' counts, corridor obstructions and the arm's pose. What
        is in motion (a trajectory, a customer's hand) is not kept; a held container is."""
        return {
            "v": CHECKPOINT_VERSION,
            "store": self.store.name,
            "time": self.time,
            "start_time": self.start_time,
            **self.shelves.state(),
            **self.customers.state(),
            **self.incidents.state(),
            **self.robot.state(),
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
        # Lanes, corridor, back room, tills, arm: the order fixes which pooled body each item gets.
        self.shelves.restore_lanes(lanes)
        self.incidents.restore(state)
        self.shelves.restore_stock(state["stock"], state.get("held"), state.get("mixups"))
        self.customers.restore(state)
        self.robot.restore(state)
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

    # --- incidents (restock.sim.incidents) ----------------------------------------------

    def put_unfamiliar(self, lane_id: str, slot: int | None = None) -> int:
        return self.incidents.put_unfamiliar(lane_id, slot)

    def put_obstruction(self, lane_id: str | None = None, at: Sequence[float] | None = None) -> int:
        return self.incidents.put_obstruction(lane_id, at)

    def show_hand(self, camera_id: str, lane_id: str | None = None, duration_s: float | None = None) -> int:
        return self.incidents.show_hand(camera_id, lane_id, duration_s)

    def hide_hand(self, object_id: int) -> None:
        self.incidents.hide_hand(object_id)

    def random_events(self, rate_per_hour: float, **options: Any) -> int:
        return self.incidents.random_events(rate_per_hour, **options)

    def _try(self, action: Callable[[], object]) -> None:
        self.incidents.attempt(action)

    # --- the robot (restock.sim.robot) --------------------------------------------------

    # --- physical faults (tests, scripted events, the day's chaos): no dice, causes --------

    @property
    def faults(self) -> Faults:
        """The fault knobs: ``grip_force_scale`` (a weak gripper), ``friction_scale``, ``kick``, and
        ``drive_scale`` (a joint's drive giving that share of its effort)."""
        return self.robot.handling.faults

    def nudge_stock(self, location_id: str, dx: float, dy: float) -> None:
        """Push a back-room location's front container off its pick point by (dx, dy) m (staff
        put it down carelessly): the arm's grasp meets it there."""
        old = self.shelves.stock_nudge.get(location_id, (0.0, 0.0))
        self.shelves.stock_nudge[location_id] = (old[0] + dx, old[1] + dy)
        self.shelves._refresh_front(location_id)
        self._log("nudged", detail=f"stock {location_id} front by ({dx:+.3f}, {dy:+.3f}) m")

    def random_faults(self, rate_per_hour: float, until: float | None = None) -> int:
        """Schedule seeded physical faults (Poisson, ``rate_per_hour``) until ``until`` (default a
        day): a stock front container nudged up to 3 cm, a lane's backmost container tipped over, or
        the next container let go flicked out of the fingers (up to 0.6 m/s, any way but down)."""
        rng = np.random.default_rng([self.seed, 3])  # its own stream: the day's other draws stay as they were
        until = self.time + 86400.0 if until is None else until
        n = int(rng.poisson(rate_per_hour * (until - self.time) / 3600.0))
        for t in np.sort(rng.uniform(self.time, until, n)):
            which = rng.random()
            if which < 0.4:
                loc = self.store.stock.locations[int(rng.integers(len(self.store.stock.locations)))].id
                dx, dy = (float(v) for v in rng.uniform(-0.03, 0.03, 2))
                self.schedule(float(t), lambda loc=loc, dx=dx, dy=dy: self._try(lambda: self.nudge_stock(loc, dx, dy)))
            elif which < 0.6:
                v = rng.uniform(-0.6, 0.6, 3)
                kick = (float(v[0]), float(v[1]), abs(float(v[2])))
                self.schedule(float(t), lambda kick=kick: setattr(self.faults, "kick", kick))
            else:
                lane = self.store.lanes[int(rng.integers(len(self.store.lanes)))].id
                self.schedule(float(t), lambda lane=lane: self._try(lambda: self.tip_in_lane(lane)))
        return n

    def tip_in_lane(self, lane_id: str) -> None:
        """The backmost container of a lane falls over where it stands and lies along the lane: the
        lane is jammed (nothing placed behind it slides home) until a person clears it."""
        items = self.shelves.lanes[self.shelves.lane(lane_id).id]
        if not items or items[-1].kind != "container":
            raise ValueError(f"lane {lane_id} has no container at its back to tip over")
        item = items[-1]
        lv = self.shelves.lane(lane_id)
        (x, y, _), _ = self.shelves.item_pose(lane_id, len(items) - 1)
        tilt = math.radians(lv.row.tilt_deg)
        # Lying on its side along the lane (its top towards the front), on the tilted board.
        a = -math.pi / 2 - tilt
        cy = y + item.pitch / 2 - item.height / 2  # its front where its front stood, lying towards the back
        item.stuck, item.pose = (
            "tipped",
            ((x, cy, lv.board_z(cy) + item.across / 2), (math.cos(a / 2), math.sin(a / 2), 0.0, 0.0)),
        )
        self.shelves.layout_lane(lane_id)
        self._log("tipped", lane_id=lane_id, sku=item.sku, detail="fault: tipped over where it stood")

    def joint_positions(self) -> dict[str, float]:
        return self.robot.joint_positions()

    def joint_efforts(self) -> dict[str, float]:
        """Efforts as a ros2_control state interface reports them: each arm drive's (N or N m) and
        the gripper's squeeze (N)."""
        return self.robot.joint_efforts()

    def joint_velocities(self) -> dict[str, float]:
        return self.robot.joint_velocities()

    def set_joint_targets(self, targets: Mapping[str, float]) -> None:
        self.robot.set_joint_targets(targets)

    def set_trajectory(self, path: JointPath) -> None:
        self.robot.set_trajectory(path)

    def stop_trajectory(self) -> None:
        self.robot.stop_trajectory()

    @property
    def trajectory_active(self) -> bool:
        return self.robot.trajectory_active

    @property
    def arm_busy(self) -> bool:
        return self.robot.busy

    def set_gripper(self, opening: float) -> None:
        self.robot.set_gripper(opening)

    def teleport(self, joints: Mapping[str, float]) -> None:
        self.robot.teleport(joints)

    def grasp_centre(self) -> tuple[float, float, float, float]:
        return self.robot.grasp_centre()

    def held(self) -> ObjectInfo | None:
        holding = self.robot.holding
        return None if holding is None else self.object_info(holding.body)

    # --- time ---------------------------------------------------------------------------

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
            if self.robot.busy:
                h = min(ARM_DT, end - self.time)
                self.robot.advance(h)
                self.time += h
            else:
                self.robot.rest()
                self.time = min(end, max(self.time, self._next_event_time()))
            self._run_due()
        self.time = max(self.time, end)

    def run_until(self, t: float) -> None:
        self.step(max(0.0, t - self.time))

    # --- cameras (restock.sim.cameras) --------------------------------------------------

    def render(self, camera_id: str, width: int | None = None, height: int | None = None) -> np.ndarray:
        return self.cameras.render(camera_id, width, height)

    def render_segmentation(self, camera_id: str, width: int | None = None, height: int | None = None) -> np.ndarray:
        return self.cameras.render_segmentation(camera_id, width, height)

    def render_depth(self, camera_id: str, width: int | None = None, height: int | None = None) -> np.ndarray:
        return self.cameras.render_depth(camera_id, width, height)

    def boxes(
        self, camera_id: str, min_pixels: int = 20, width: int | None = None, height: int | None = None
    ) -> list[tuple[ObjectInfo, tuple[int, int, int, int], int]]:
        return self.cameras.boxes(camera_id, min_pixels, width, height)

    def randomize_appearance(self, rng: np.random.Generator, **options: Any) -> None:
        self.cameras.randomize_appearance(rng, **options)

    def reset_appearance(self) -> None:
        self.cameras.reset_appearance()

    # --- evaluation ---------------------------------------------------------------------

    def ground_truth(self) -> SimGroundTruth:
        """Lane contents, stock, sales and lost sales now, and the events since the previous call."""
        new = self.events[self._events_reported :]
        self._events_reported = len(self.events)
        held = None if self.robot.holding is None else self.robot.holding.what
        return SimGroundTruth(
            stamp=self.time,
            lanes=self.shelves.truth(),
            stock=dict(self.shelves.stock),
            sales=dict(self.sales),
            lost_sales=dict(self.lost_sales),
            held=held,
            events=new,
        )
