"""A fast store model for judging restock policies: lanes, customers, back-room stock and one robot.

No ROS, no MuJoCo: an event-driven replay. Customers arrive as given (the demand generator's
sample or a sales log) and take from a random lane of their SKU that has stock (the rule of
restock.demand.generator); when every lane of the SKU is empty the sale is lost. Staff refill
the back-room locations to capacity on the store's refill schedule. The robot runs one task at
a time: ``setup_s``, then one container per ``cycle_s(lane, stock)`` (robot.timing), each
container appearing in its lane when placed. Whenever the robot is idle (and once a minute
while it stays idle) the policy is asked for its next task.

A policy sees what the planner node would: the lane counts (as a perfect lane estimator would
give them), the back-room stock, the sales that happened (served sales only: lost ones are
invisible, which is what censoring is about) and which SKUs were on the shelf.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from restock.planning.planner import LaneTable
from restock.planning.timing import RobotTiming
from restock.store.description import Store

DAY_S = 86_400.0


@dataclass(frozen=True)
class Task:
    lane_index: int
    quantity: int


@dataclass
class StoreView:
    """What a policy may read (do not modify)."""

    now: float
    lanes: LaneTable
    count: np.ndarray  # containers per lane
    stock: np.ndarray  # back-room containers per pool (SKU, in lanes.skus order)
    robot_x: float
    stock_capacity: np.ndarray | None = None  # back-room capacity per pool
    next_delivery: float = np.inf  # the next scheduled refill of the back room


class Policy(Protocol):
    name: str

    def next_task(self, view: StoreView) -> Task | None: ...

    def on_sale(self, t: float, sku: str, quantity: int, lane_index: int) -> None: ...

    def on_exposure(self, t0: float, t1: float, available: np.ndarray) -> None: ...

    def on_front(self, t: float, lane_index: int, state: str) -> None:
        """A lane's front changed (present/empty), as a camera with temporal filtering reports it."""

    def on_task_done(self, t: float, lane_index: int, placed: int) -> None:
        """The robot's own bookkeeping: a task finished with ``placed`` containers in the lane."""


def staff_answered(policy: Policy, t: float, pool: int) -> None:
    """Tell a policy that staff answered its alert for ``pool`` (policies without alerts ignore it)."""
    hook = getattr(policy, "on_staff_answered", None)
    if hook is not None:
        hook(t, pool)


def staff_alerts(policy: Policy, view: StoreView) -> list[int]:
    """Pools a policy newly asks staff to restock (policies without back-room alerts ask none)."""
    ask = getattr(policy, "staff_alerts", None)
    return list(ask(view)) if ask is not None else []


@dataclass
class Trace:
    """Shelf stock over time (every ``trace_step_s``), per pool."""

    t: list[float] = field(default_factory=list)
    pool_count: list[np.ndarray] = field(default_factory=list)


@dataclass
class Outcome:
    policy: str
    demanded: int = 0
    sold: int = 0
    lost: int = 0
    lost_rack_empty: int = 0  # of ``lost``: the SKU's back-room stock was empty too (no robot could help)
    alerts: int = 0  # back-room alerts raised to staff
    staff_added: int = 0  # containers staff brought in answer to alerts
    moved: int = 0
    tasks: int = 0
    busy_s: float = 0.0
    lane_empty_s: float = 0.0  # summed over lanes
    pool_empty_s: float = 0.0  # summed over SKUs
    duration_s: float = 0.0
    n_lanes: int = 0
    n_pools: int = 0
    lost_by_sku: dict[str, int] = field(default_factory=dict)
    lost_log: list[tuple[float, int, bool]] = field(default_factory=list)  # (time, pool, supply-limited) per lost sale
    trace: Trace = field(default_factory=Trace)

    @property
    def lost_robot(self) -> int:
        """Lost while the back room had stock: the robot did not get it to the shelf in time."""
        return self.lost - self.lost_rack_empty

    @property
    def tasks_per_container(self) -> float:
        return self.tasks / max(self.moved, 1)

    @property
    def osa(self) -> float:
        """On-shelf availability: fraction of lane-time a lane showed stock."""
        return 1.0 - self.lane_empty_s / max(self.duration_s * self.n_lanes, 1e-9)

    @property
    def sku_osa(self) -> float:
        return 1.0 - self.pool_empty_s / max(self.duration_s * self.n_pools, 1e-9)


@dataclass(frozen=True)
class SaleIn:
    t: float
    sku: str
    quantity: int


class StoreModel:
    def __init__(
        self,
        store: Store,
        timing: RobotTiming,
        initial_fill: float = 1.0,
        tick_s: float = 60.0,
        trace_step_s: float = 300.0,
        staff_response_s: float = 1800.0,
        staff_topup: int = 0,
    ) -> None:
        """``staff_response_s``: staff bring stock this long after a policy's back-room alert,
        ``staff_topup`` containers (0: up to the location's capacity)."""
        self.store = store
        self.lanes = LaneTable.from_store(store)
        self.timing = timing
        self.initial_fill = initial_fill
        self.tick_s = tick_s
        self.trace_step_s = trace_step_s
        self.staff_response_s = staff_response_s
        self.staff_topup = staff_topup
        stock_cap: dict[str, int] = {}
        stock_qty: dict[str, int] = {}
        for loc in store.stock.locations:
            stock_cap[loc.sku] = stock_cap.get(loc.sku, 0) + loc.capacity
            stock_qty[loc.sku] = stock_qty.get(loc.sku, 0) + loc.quantity
        self.stock_capacity = np.array([stock_cap[s] for s in self.lanes.skus])
        self.stock_initial = np.array([stock_qty[s] for s in self.lanes.skus])
        refill = store.stock.refill
        self.refill_hours = np.arange(refill.first_at_h, 24.0, refill.every_h)

    def refill_times(self, t0: float, t1: float) -> list[float]:
        """The back room's scheduled deliveries in [t0, t1), in time order."""
        return sorted(
            d * DAY_S + h * 3600.0
            for d in range(int(t0 // DAY_S), int(t1 // DAY_S) + 1)
            for h in self.refill_hours
            if t0 <= d * DAY_S + h * 3600.0 < t1
        )

    def run(
        self, policy: Policy, sales: Sequence[SaleIn], t0: float, t1: float, seed: int = 0, pos: bool = True
    ) -> Outcome:
        """Replay ``sales`` from t0 to t1 under ``policy``. ``pos``: the policy hears each sale (a
        point-of-sale feed); without it, only lane fronts going empty/present and its own results."""
        return _Replay(self, policy, sales, t0, t1, seed, pos).run()


class _Replay:
    """One run of a StoreModel: the shelf, back room, robot and staff as events change them."""

    def __init__(
        self, model: StoreModel, policy: Policy, sales: Sequence[SaleIn], t0: float, t1: float, seed: int, pos: bool
    ) -> None:
        lt = model.lanes
        self.model, self.policy, self.sales, self.t1, self.pos = model, policy, sales, t1, pos
        self.lt = lt
        self.rng = np.random.default_rng(seed)
        self.count = np.floor(lt.capacity * model.initial_fill).astype(np.int64)
        self.stock = model.stock_initial.copy()
        self.out = Outcome(policy=policy.name, duration_s=t1 - t0, n_lanes=len(lt), n_pools=len(lt.skus))
        self.lanes_of_pool = [np.flatnonzero(lt.pool == p) for p in range(len(lt.skus))]
        self.pool_of_sku = {s: p for p, s in enumerate(lt.skus)}
        # Robot state: placements still to come for the current task.
        self.robot_x = float(lt.x.mean())
        self.placements: list[tuple[float, int]] = []  # (time, lane)
        self.robot_free_at = t0
        self.next_ask = t0
        self.refills = model.refill_times(t0, t1)
        self.next_trace = t0
        self.last_t = t0
        self.exposure_from = t0
        self.i_sale = self.i_refill = 0
        self.task_placed = 0
        self.staff: list[tuple[float, int]] = []  # (time, pool) of staff answering an alert

    def run(self) -> Outcome:
        while True:
            t_sale = self.sales[self.i_sale].t if self.i_sale < len(self.sales) else np.inf
            t_place = self.placements[0][0] if self.placements else np.inf
            t_refill = self.refills[self.i_refill] if self.i_refill < len(self.refills) else np.inf
            t_ask = max(self.next_ask, self.robot_free_at) if not self.placements else np.inf
            t_staff = self.staff[0][0] if self.staff else np.inf
            t = min(t_sale, t_place, t_refill, t_ask, t_staff, self.next_trace, self.t1)
            if t >= self.t1:
                break
            self.account(t)
            if t == self.next_trace:
                self.trace(t)
            elif t == t_place:
                self.place(t)
            elif t == t_refill:
                self.stock[:] = self.model.stock_capacity
                self.i_refill += 1
            elif t == t_staff:
                self.staff_arrives()
            elif t == t_sale:
                self.sale(t)
            else:  # the robot is idle: ask the policy
                self.ask(t)
        self.account(self.t1)
        self.report_exposure(self.t1)
        return self.out

    def account(self, until: float) -> None:
        """Add the empty lane- and SKU-time since the last event."""
        if until > self.last_t:
            dt = until - self.last_t
            self.out.lane_empty_s += dt * int(np.sum(self.count <= 0))
            pool_counts = np.bincount(self.lt.pool, weights=self.count, minlength=len(self.lt.skus))
            self.out.pool_empty_s += dt * int(np.sum(pool_counts <= 0))
            self.last_t = until

    def report_exposure(self, until: float) -> None:
        """Tell the policy which SKUs were on the shelf since the last report."""
        if until > self.exposure_from:
            available = np.bincount(self.lt.pool, weights=self.count, minlength=len(self.lt.skus)) > 0
            self.policy.on_exposure(self.exposure_from, until, available)
            self.exposure_from = until

    def trace(self, t: float) -> None:
        self.out.trace.t.append(t)
        self.out.trace.pool_count.append(np.bincount(self.lt.pool, weights=self.count, minlength=len(self.lt.skus)))
        self.next_trace += self.model.trace_step_s

    def place(self, t: float) -> None:
        """The robot puts a container in its lane (or back in the back room when the lane is full)."""
        lt, count = self.lt, self.count
        _, lane = self.placements.pop(0)
        self.report_exposure(t)
        if count[lane] < lt.capacity[lane]:
            count[lane] += 1
            self.out.moved += 1
            self.task_placed += 1
            if count[lane] == 1:
                self.policy.on_front(t, lane, "present")
        else:
            self.stock[lt.pool[lane]] += 1  # no room: the container goes back
        if not self.placements:
            self.policy.on_task_done(t, lane, self.task_placed)

    def staff_arrives(self) -> None:
        """Staff answer an alert: the pool's back room gets its top-up, and the policy hears of it."""
        t, p = self.staff.pop(0)
        room = int(self.model.stock_capacity[p] - self.stock[p])
        added = room if self.model.staff_topup <= 0 else min(room, self.model.staff_topup)
        self.stock[p] += added
        self.out.staff_added += added
        staff_answered(self.policy, t, p)

    def sale(self, t: float) -> None:
        """A customer takes each container from a random stocked lane of the SKU, or the sale is lost."""
        out, count = self.out, self.count
        sale = self.sales[self.i_sale]
        self.i_sale += 1
        p = self.pool_of_sku.get(sale.sku)
        if p is None:
            return
        out.demanded += sale.quantity
        for _ in range(sale.quantity):
            stocked = self.lanes_of_pool[p][count[self.lanes_of_pool[p]] > 0]
            if stocked.size == 0:
                out.lost += 1
                out.lost_rack_empty += int(self.stock[p] <= 0)
                out.lost_log.append((t, p, bool(self.stock[p] <= 0)))
                out.lost_by_sku[sale.sku] = out.lost_by_sku.get(sale.sku, 0) + 1
                continue
            lane = int(stocked[self.rng.integers(stocked.size)])
            self.report_exposure(t)
            count[lane] -= 1
            out.sold += 1
            if self.pos:
                self.policy.on_sale(t, sale.sku, 1, lane)
            if count[lane] == 0:
                self.policy.on_front(t, lane, "empty")

    def ask(self, t: float) -> None:
        """The robot is idle: the policy may alert staff and give the next task, which is scheduled."""
        lt, model, out = self.lt, self.model, self.out
        self.report_exposure(t)
        nxt = self.refills[self.i_refill] if self.i_refill < len(self.refills) else np.inf
        view = StoreView(t, lt, self.count.copy(), self.stock.copy(), self.robot_x, model.stock_capacity, nxt)
        for p in staff_alerts(self.policy, view):
            out.alerts += 1
            self.staff.append((t + model.staff_response_s, p))
            self.staff.sort()
        task = self.policy.next_task(view)
        self.next_ask = t + model.tick_s
        if task is None:
            return
        p = int(lt.pool[task.lane_index])
        q = int(min(task.quantity, self.stock[p]))
        if q <= 0:
            return
        self.stock[p] -= q
        self.next_ask = t  # ask again as soon as this task is done (a minute's wait is for idling)
        stock_x = float(lt.stock_x[p])
        lane_x = float(lt.x[task.lane_index])
        cycle = float(model.timing.cycle_s(lane_x, stock_x))
        start = t + model.timing.setup_s + float(abs(self.robot_x - stock_x)) / model.timing.rail_v
        self.placements = [(start + (k + 1) * cycle, task.lane_index) for k in range(q)]
        self.task_placed = 0
        self.robot_free_at = self.placements[-1][0]
        out.busy_s += self.robot_free_at - t
        out.tasks += 1
        self.robot_x = lane_x
