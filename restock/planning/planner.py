"""The restock planner: which lanes to fill, with how many containers, in what order.

Demand is per SKU: a customer takes from any lane of the SKU that shows stock, so a SKU's
lanes form one *pool* and a sale is lost only when the whole pool is empty (the same rule as
the simulator's customers, restock.demand.generator). For each pool with ``s`` containers on
the shelf and demand ``D ~ Poisson(μ)`` over the horizon, the expected lost sales are

    L(s) = E[(D - s)+] = μ - Σ_{j<s} P(D > j)

Adding q containers avoids ``L(s) - L(s+q)`` lost sales at a robot cost of
``setup + q * cycle(lane)`` seconds. The plan is chosen greedily by lost sales avoided per
robot-second (L is convex, so the marginal value falls as a pool fills and a greedy pick of
the best ratio is the natural knapsack heuristic), until the robot's time over the horizon is
spent. A horizon of a few hours makes the planner fill lanes before a predicted rush.

Fewer, fuller trips: every container sold is moved once, so a container moved now costs no more
robot time than later; what a trip costs is its setup and a chance to fail. So a lane with less
room than ``batch_fraction`` of its capacity waits for a fuller trip unless its SKU (or the lane
itself) is predicted to run out within ``urgent_s``, and with robot time to spare a lane that gets
a task is filled up. An urgent lane with less room than ``urgent_fraction`` still waits, and in
spare time is served only where its SKU's coming demand outruns the robot (there every robot
second is a sale later; elsewhere a burst the robot keeps up with nibbles a container or two from
every lane, and topping each up is a trip per container). (With a saturated robot and a small back room that staff do not top up, the
old one-container top-ups kept more on the shelf at each delivery: see the README.)

Waiting for fuller trips must not idle a robot that the coming demand will keep busy: when
nothing is planned and moving the horizon's expected demand takes at least ``idle_fill_share`` of
the robot's time, or sales come in bursts (``idle_fill_dispersion``), the waiting lane with at least ``idle_fill`` of its capacity free whose SKU runs
out first is filled now (quiet hours before a peak move stock forward instead of idling; see
restock.planning.bound for how far from the best possible that leaves a saturated robot).

Order: earliest predicted run-out first, in windows of ``order_window_s``; inside a window,
one sweep along the rail (alternating direction), so the arm does not shuttle back and forth.
Lanes that wait for an operator, or already have a task outstanding, get no new task.
Everything is numpy; a re-plan of 1,000 lanes takes a few milliseconds (bench/planner_replan.py).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.special import pdtr

from restock.planning.timing import RobotTiming
from restock.store.description import Store

# Rates of every pool (rows) at the given times (columns), containers per hour.
RateFn = Callable[[np.ndarray], np.ndarray]
# A candidate task on the planner's heap: (-benefit per second, pool, lane, quantity, benefit, cost s).
Fill = tuple[float, int, int, int, float, float]


@dataclass(frozen=True)
class PlannerConfig:
    horizon_s: float = 3 * 3600.0
    step_s: float = 300.0  # resolution of the demand forecast over the horizon
    min_benefit: float = 0.02  # lost sales a task must avoid to be worth planning
    order_window_s: float = 900.0
    robot_share: float = 1.0  # fraction of the horizon the robot may be planned for
    fill_tolerance: float = 0.6  # take the largest quantity whose value per second is within this of the best
    topup_below: float = 0.5  # with robot time left over, top up lanes below this fraction of capacity
    # Fewer, fuller trips: with robot time to spare, a lane that gets a task is filled up (every
    # container sold is moved once, so moving it now costs no more robot time than later).
    fill_up: bool = True
    # ... and a lane with less room than this fraction of its capacity waits for a fuller trip,
    # unless its SKU is predicted to run out within ``urgent_s`` (waiting would then lose sales).
    batch_fraction: float = 0.75
    # 5 minutes: the burst nowcast (restock.demand.burst) says when a burst empties a SKU, so a
    # lane can wait that close to it for a fuller trip (10 min: 8% more trips on the coffee log).
    urgent_s: float = 300.0
    # ... but an urgent lane with less room than this fraction of its capacity still waits for a
    # fuller trip: in a burst the robot keeps up with, customers empty every lane a little, and
    # topping each up by a container or two is a trip per container. With nothing else to do the
    # robot serves it only where its SKU's coming demand outruns the robot (then every robot
    # second counts). At batch_fraction: a lane gets a trip of its own once it has room for a
    # fuller one (0.625, with spare-time top-ups anywhere: 1.30x the reactive policy's tasks per
    # container on the chain's store 367 at 12 s, 3,031 lost; 0.75: 1.16x, 3,053).
    urgent_fraction: float = 0.75
    # ... or anywhere the robot has nothing else to do (the foresight oracle: knowing when each
    # burst comes, it loses fewer with those quick turns, 1,876 vs 2,028 on the coffee log at 12 s).
    spare_time_small_trips: bool = False
    # ...nor, if > 0, when moving the horizon's expected demand takes this share of it (0: off). A
    # saturated robot with a small back room nobody tops up loses less with quick one-container
    # turns (the issue-5 week without alerts at 0.8: 63 lost vs 151), at twice the trips.
    saturated_share: float = 0.0
    # A robot with nothing planned fills, rather than idles, the open lane with at least this share
    # of its capacity free whose SKU runs out first (0: off). Waiting for fuller trips idles it
    # while demand builds; under a peak that robot time is lost sales.
    idle_fill: float = 0.5
    # ... only while moving the horizon's expected demand takes at least this share of it (a robot
    # with time to spare all day would only make more trips) ...
    idle_fill_share: float = 1.25
    # ... or while sales come in bursts, an hour's varying this many times more than Poisson ones
    # (restock.demand.burst): then a burst may come to any SKU at any time, and a shelf filled in
    # the quiet before it loses less (coffee log, dispersion 75, 12 s: 2,430 -> 2,242 lost).
    # Under calmer demand lanes drain as forecast and waiting for a fuller trip costs nothing.
    idle_fill_dispersion: float = 20.0


@dataclass(frozen=True)
class PlannedTask:
    lane_index: int
    lane_id: str
    sku: str
    quantity: int
    stock_id: str
    due: float  # when the SKU's pool is predicted to run empty without this task (inf: not in horizon)
    benefit: float  # expected lost sales avoided over the horizon
    duration_s: float
    priority: float  # lost sales avoided per robot-hour


@dataclass
class _PlanState:
    """One plan's working figures: the shelf it starts from and what is left as tasks are chosen."""

    level: np.ndarray  # containers per lane, as planned from
    pending: np.ndarray  # containers of outstanding tasks per lane
    pool_level: np.ndarray  # containers per pool, planned ones included
    open_free: np.ndarray  # room per lane that may still get containers (0: blocked or waiting)
    stock_left: np.ndarray  # back-room containers per pool not yet planned
    cycle: np.ndarray  # robot seconds per container, per lane
    loss: np.ndarray  # expected lost sales per pool and shelf level (expected_lost_table)
    due: np.ndarray  # predicted run-out time per pool
    budget: float  # robot seconds left to plan
    free: np.ndarray  # room per lane, waiting lanes included
    blocked: np.ndarray  # lanes that may get no task
    load: float  # share of the horizon's robot time that moving its expected demand takes
    small_urgent: np.ndarray  # urgent lanes with little room: served only if nothing else is
    dispersion: float = 1.0  # how much more an hour's sales vary than Poisson ones (bursts)
    robot_bound: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # per pool (_robot_bound)
    tasks: list[PlannedTask] = field(default_factory=list)
    by_lane: dict[int, int] = field(default_factory=dict)  # lane -> its task's index in ``tasks``


class LaneTable:
    """The static facts the planner needs about lanes, as arrays (from a Store or synthetic)."""

    def __init__(
        self,
        lane_ids: Sequence[str],
        lane_x: Sequence[float],
        capacity: Sequence[int],
        lane_sku: Sequence[str],
        stock: dict[str, tuple[str, float]],  # sku -> (stock location id, x)
    ) -> None:
        self.lane_ids = list(lane_ids)
        self.index = {lid: i for i, lid in enumerate(self.lane_ids)}
        self.x = np.asarray(lane_x, dtype=float)
        self.capacity = np.asarray(capacity, dtype=np.int64)
        self.skus = sorted(set(lane_sku))
        sku_index = {s: i for i, s in enumerate(self.skus)}
        self.pool = np.array([sku_index[s] for s in lane_sku], dtype=np.int64)
        self.lane_sku = list(lane_sku)
        missing = [s for s in self.skus if s not in stock]
        if missing:
            raise ValueError(f"no back-room stock location for {missing}")
        self.stock_id = [stock[s][0] for s in self.skus]
        self.stock_x = np.array([stock[s][1] for s in self.skus])
        self.pool_capacity = np.bincount(self.pool, weights=self.capacity, minlength=len(self.skus)).astype(np.int64)

    @classmethod
    def from_store(cls, store: Store) -> LaneTable:
        stock: dict[str, tuple[str, float]] = {}
        for loc in store.stock.locations:
            stock.setdefault(loc.sku, (loc.id, loc.x))
        lanes = store.lanes
        return cls(
            [lv.id for lv in lanes],
            [lv.lane.x for lv in lanes],
            [lv.lane.capacity for lv in lanes],
            [lv.lane.sku for lv in lanes],
            stock,
        )

    def __len__(self) -> int:
        return len(self.lane_ids)


def expected_lost_table(mu: np.ndarray, max_level: int) -> np.ndarray:
    """L[p, s] = E[(D_p - s)+] for D_p ~ Poisson(mu_p), s = 0..max_level."""
    mu = np.asarray(mu, dtype=float)
    j = np.arange(max_level)
    # Poisson pmf by recurrence (fast); scipy's pdtr where exp(-mu) would underflow.
    ratios = np.empty((mu.size, max(max_level, 1)))
    ratios[:, 0] = np.exp(-mu)
    if max_level > 1:
        ratios[:, 1:] = mu[:, None] / j[None, 1:]
    cdf = np.cumsum(np.cumprod(ratios, axis=1), axis=1)[:, :max_level]
    big = mu > 600.0
    if big.any():
        cdf[big] = pdtr(j[None, :], mu[big][:, None])
    tail = np.clip(1.0 - cdf, 0.0, 1.0)  # P(D > j)
    out = np.empty((mu.size, max_level + 1))
    out[:, 0] = mu
    out[:, 1:] = mu[:, None] - np.cumsum(tail, axis=1)
    return np.maximum(out, 0.0)


class Planner:
    def __init__(self, lanes: LaneTable, timing: RobotTiming, config: PlannerConfig | None = None) -> None:
        self.lanes = lanes
        self.timing = timing
        self.config = config or PlannerConfig()

    def forecast(self, now: float, rates: RateFn) -> tuple[np.ndarray, np.ndarray]:
        """Checkpoint times (s from now) and cumulative expected demand per pool at each."""
        c = self.config
        n = max(1, int(np.ceil(c.horizon_s / c.step_s)))
        mids = now + (np.arange(n) + 0.5) * c.step_s
        per_step = np.maximum(rates(mids), 0.0) * (c.step_s / 3600.0)
        return (np.arange(n) + 1) * c.step_s, np.cumsum(per_step, axis=1)

    def plan(
        self,
        now: float,
        count: np.ndarray,  # expected containers per lane
        rates: RateFn,
        stock: np.ndarray,  # back-room containers per pool
        blocked: np.ndarray | None = None,  # lanes that may get no new task
        pending: np.ndarray | None = None,  # containers of outstanding tasks per lane
        robot_free_in_s: float = 0.0,  # robot time already committed (outstanding tasks)
        count_sd: np.ndarray | None = None,  # uncertainty of ``count``: fill no more than surely fits
        dispersion: float = 1.0,  # the demand's learned dispersion (restock.demand.burst; 1: Poisson)
    ) -> list[PlannedTask]:
        state = self._start(now, count, rates, stock, blocked, pending, robot_free_in_s, count_sd)
        if state is None:
            return []
        state.dispersion = dispersion
        self._choose_by_value(state)
        self._top_up(state)
        small = state.small_urgent & (state.robot_bound[self.lanes.pool] | self.config.spare_time_small_trips)
        if not state.tasks and small.any():
            # Nothing else to do, and the SKU's coming demand outruns the robot: every robot second
            # counts there, so its urgent lanes with little room are served after all. Elsewhere they
            # wait for a fuller trip (a trip of a container or two per lane as a burst nibbles at them).
            state.open_free = np.where(small, state.free, state.open_free)
            self._choose_by_value(state)
        if self.config.fill_up:
            self._fill_up(state.tasks, state.open_free, state.stock_left, state.cycle, state.budget)
        if not state.tasks and self.config.idle_fill > 0:
            self._fill_idle(state)
        return self.order(now, state.tasks)

    def _start(
        self,
        now: float,
        count: np.ndarray,
        rates: RateFn,
        stock: np.ndarray,
        blocked: np.ndarray | None,
        pending: np.ndarray | None,
        robot_free_in_s: float,
        count_sd: np.ndarray | None,
    ) -> _PlanState | None:
        """The shelf as the plan starts from it, the forecast, and which lanes are open (None: no robot time)."""
        lt, c = self.lanes, self.config
        n_pools = len(lt.skus)
        if blocked is None:
            blocked = np.zeros(len(lt), dtype=bool)
        if pending is None:
            pending = np.zeros(len(lt), dtype=np.int64)
        level = np.clip(np.rint(count).astype(np.int64), 0, lt.capacity)
        surely = level if count_sd is None else np.ceil(np.asarray(count) + np.asarray(count_sd) - 0.25)
        free = np.maximum(lt.capacity - np.clip(surely, level, lt.capacity).astype(np.int64) - pending, 0)
        pool_level = np.minimum(
            np.bincount(lt.pool, weights=level + pending, minlength=n_pools).astype(np.int64), lt.pool_capacity
        )
        checkpoints, cum = self.forecast(now, rates)
        mu = cum[:, -1]
        loss = expected_lost_table(mu, int(lt.pool_capacity.max()))
        due = _run_out_times(now, checkpoints, cum, pool_level)
        cycle = self.timing.cycle_s(lt.x, lt.stock_x[lt.pool])  # per lane, s per container
        stock_left = np.asarray(stock, dtype=np.int64).copy()
        budget = c.robot_share * c.horizon_s - robot_free_in_s
        if budget <= 0:
            return None
        # The share of the horizon's robot time that moving its expected demand takes.
        lanes_of_pool = np.maximum(np.bincount(lt.pool, minlength=n_pools), 1)
        load = float(mu @ (np.bincount(lt.pool, weights=cycle, minlength=n_pools) / lanes_of_pool)) / c.horizon_s
        waits = self._waits(now, free, level, due, cum, load)
        # An urgent lane is never asked for more room than any lane (batch_fraction 0: none waits).
        little = min(c.urgent_fraction, c.batch_fraction) * lt.capacity
        small_urgent = ~waits & ~blocked & (free > 0) & (free < little)
        open_free = np.where(blocked | waits | small_urgent, 0, free)
        state = _PlanState(
            level,
            pending,
            pool_level,
            open_free,
            stock_left,
            cycle,
            loss,
            due,
            budget,
            free,
            blocked,
            load,
            small_urgent,
        )
        # A saturated robot (saturated_share) is bound everywhere: quick turns for every SKU.
        saturated = c.saturated_share > 0 and load > c.saturated_share
        state.robot_bound = self._robot_bound(checkpoints, cum, cycle) | saturated
        return state

    def _robot_bound(self, checkpoints: np.ndarray, cum: np.ndarray, cycle: np.ndarray) -> np.ndarray:
        """Per pool: moving the SKU's sales of the next ``urgent_s`` alone, at its fastest lane's
        cycle, takes the robot at least that long (a burst it cannot keep up with)."""
        lt, c = self.lanes, self.config
        k = min(int(c.urgent_s // c.step_s), cum.shape[1] - 1)
        fastest = np.full(len(lt.skus), np.inf)
        np.minimum.at(fastest, lt.pool, cycle)
        return cum[:, k] * fastest >= checkpoints[k]

    def _waits(
        self, now: float, free: np.ndarray, level: np.ndarray, due: np.ndarray, cum: np.ndarray, load: float
    ) -> np.ndarray:
        """Per lane: does it wait for a fuller trip (fewer, fuller trips, unless it would run out)."""
        lt, c = self.lanes, self.config
        n_pools = len(lt.skus)
        # A lane's own run-out counts too (customers take from any stocked lane of the SKU).
        lanes_of_pool = np.bincount(lt.pool, minlength=n_pools)
        lane_sold = cum[lt.pool, min(int(c.urgent_s // c.step_s), cum.shape[1] - 1)] / lanes_of_pool[lt.pool]
        waits = (free < c.batch_fraction * lt.capacity) & (due[lt.pool] > now + c.urgent_s) & (lane_sold < level)
        # A robot that the coming demand keeps busy anyway gains nothing by waiting for fuller trips
        # and loses the quick turn to whichever SKU runs out next: no lane waits then.
        if c.saturated_share > 0 and load > c.saturated_share:
            waits[:] = False
        return waits

    def _choose_by_value(self, s: _PlanState) -> None:
        """Greedy by lost sales avoided per robot second, until the robot's time is spent."""
        lt, c = self.lanes, self.config
        n_pools = len(lt.skus)
        # Per pool, the candidate lane is the open one with the most free space; lanes of a pool
        # are taken in that order (a pointer per pool into one sorted array).
        order = np.lexsort((-s.open_free, lt.pool))
        order = order[s.open_free[order] > 0]
        starts = np.searchsorted(lt.pool[order], np.arange(n_pools + 1))
        ptr = starts[:-1].copy()
        end = starts[1:]

        def fills(pools: np.ndarray) -> list[Fill]:
            lane = order[ptr[pools]]
            room = np.minimum(s.open_free[lane], s.stock_left[pools])
            q_max = np.minimum(room, lt.pool_capacity[pools] - s.pool_level[pools])
            return _best_fills(pools, lane, q_max, s.pool_level[pools], s.loss, self.timing.setup_s, s.cycle, c)

        def candidate(p: int) -> None:
            """The pool's next open lane and its fill, after a task took from the pool."""
            while ptr[p] < end[p] and s.open_free[order[ptr[p]]] <= 0:
                ptr[p] += 1
            if ptr[p] < end[p] and s.stock_left[p] > 0:
                for fill in fills(np.array([p])):
                    heapq.heappush(heap, fill)

        heap = fills(np.flatnonzero((ptr < end) & (s.stock_left > 0)))  # every pool's first candidate at once
        heapq.heapify(heap)
        while heap and s.budget > 0:
            _ratio, p, i, q, benefit, cost = heapq.heappop(heap)
            if cost > s.budget:
                # Fit what the remaining time allows, if that is still worth it.
                q = int((s.budget - self.timing.setup_s) // s.cycle[i])
                if q <= 0:
                    continue
                benefit = float(s.loss[p, s.pool_level[p]] - s.loss[p, s.pool_level[p] + q])
                cost = self.timing.setup_s + q * float(s.cycle[i])
                if benefit < c.min_benefit:
                    continue
            self._add_valued(s, p, i, q, benefit, cost)
            candidate(p)

    def _add_valued(self, s: _PlanState, p: int, i: int, q: int, benefit: float, cost: float) -> None:
        """Plan ``q`` containers for lane ``i`` (pool ``p``), merged with the lane's task if it has one."""
        lt = self.lanes
        if i in s.by_lane:  # a second helping for the same lane: one task, one setup
            k = s.by_lane[i]
            prev = s.tasks[k]
            total_cost = prev.duration_s + cost - self.timing.setup_s
            total_benefit = prev.benefit + benefit
            s.tasks[k] = PlannedTask(
                i,
                prev.lane_id,
                prev.sku,
                prev.quantity + q,
                prev.stock_id,
                prev.due,
                total_benefit,
                total_cost,
                3600.0 * total_benefit / total_cost,
            )
            cost -= self.timing.setup_s
        else:
            s.by_lane[i] = len(s.tasks)
            s.tasks.append(
                PlannedTask(
                    lane_index=i,
                    lane_id=lt.lane_ids[i],
                    sku=lt.skus[p],
                    quantity=q,
                    stock_id=lt.stock_id[p],
                    due=float(s.due[p]),
                    benefit=benefit,
                    duration_s=cost,
                    priority=3600.0 * benefit / cost,
                )
            )
        s.budget -= cost
        s.pool_level[p] += q
        s.stock_left[p] -= q
        s.open_free[i] -= q

    def _fill_idle(self, s: _PlanState) -> None:
        """Nothing planned: one lane waiting for a fuller trip is filled now (its SKU's run-out first,
        then the most room), so the robot moves stock forward instead of idling."""
        lt, c = self.lanes, self.config
        if s.load < c.idle_fill_share and s.dispersion < c.idle_fill_dispersion:
            return
        room = np.minimum(s.free, s.stock_left[lt.pool])
        ok = np.flatnonzero(~s.blocked & (room >= np.maximum(c.idle_fill * lt.capacity, 1)))
        if not ok.size:
            return
        i = int(ok[np.lexsort((-room[ok], s.due[lt.pool[ok]]))[0]])
        p, q = int(lt.pool[i]), int(room[i])
        cost = self.timing.setup_s + q * float(s.cycle[i])
        s.tasks.append(PlannedTask(i, lt.lane_ids[i], lt.skus[p], q, lt.stock_id[p], float(s.due[p]), 0.0, cost, 0.0))
        s.stock_left[p] -= q

    def _top_up(self, s: _PlanState) -> None:
        """Spare robot time: top up lanes that run low even if their SKU is safe (on-shelf availability
        per lane, and stock moved forward in quiet hours), emptiest first."""
        lt, c = self.lanes, self.config
        shelf = s.level + s.pending
        low = (s.open_free > 0) & (shelf < c.topup_below * lt.capacity)
        for i in np.flatnonzero(low)[np.argsort(shelf[low] / lt.capacity[low])]:
            p = int(lt.pool[i])
            q = int(min(s.open_free[i], s.stock_left[p]))
            cost = self.timing.setup_s + q * float(s.cycle[i])
            if q <= 0 or cost > s.budget:
                continue
            if i in s.by_lane:  # merge with the lane's planned task: one setup
                k = s.by_lane[int(i)]
                prev = s.tasks[k]
                cost -= self.timing.setup_s
                total = prev.duration_s + cost
                s.tasks[k] = PlannedTask(
                    int(i),
                    prev.lane_id,
                    prev.sku,
                    prev.quantity + q,
                    prev.stock_id,
                    prev.due,
                    prev.benefit,
                    total,
                    3600.0 * prev.benefit / total,
                )
            else:
                s.by_lane[int(i)] = len(s.tasks)
                s.tasks.append(
                    PlannedTask(int(i), lt.lane_ids[i], lt.skus[p], q, lt.stock_id[p], float(s.due[p]), 0.0, cost, 0.0)
                )
            s.budget -= cost
            s.stock_left[p] -= q
            s.open_free[i] -= q

    def _fill_up(
        self, tasks: list[PlannedTask], open_free: np.ndarray, stock_left: np.ndarray, cycle: np.ndarray, budget: float
    ) -> None:
        """Fill each planned lane up with the robot time left, most valuable tasks first."""
        lt = self.lanes
        for k in sorted(range(len(tasks)), key=lambda k: -tasks[k].priority):
            t = tasks[k]
            i, p = t.lane_index, int(lt.pool[t.lane_index])
            extra = int(min(open_free[i], stock_left[p], max(budget, 0.0) // cycle[i]))
            if extra <= 0:
                continue
            cost = extra * float(cycle[i])
            total = t.duration_s + cost
            tasks[k] = PlannedTask(
                i, t.lane_id, t.sku, t.quantity + extra, t.stock_id, t.due, t.benefit, total, 3600.0 * t.benefit / total
            )
            budget -= cost
            stock_left[p] -= extra
            open_free[i] -= extra

    def order(self, now: float, tasks: list[PlannedTask]) -> list[PlannedTask]:
        """Earliest run-out first by window; one rail sweep per window, alternating direction."""
        w = self.config.order_window_s

        def key(t: PlannedTask) -> tuple[float, float, float]:
            window = np.floor((t.due - now) / w) if np.isfinite(t.due) else 1e9
            x = float(self.lanes.x[t.lane_index])
            return (window, x if window % 2 == 0 else -x, -t.priority)

        return sorted(tasks, key=key)


def _run_out_times(now: float, checkpoints: np.ndarray, cum: np.ndarray, level: np.ndarray) -> np.ndarray:
    """When cumulative expected demand first reaches each pool's level (inf beyond the horizon)."""
    reached = cum >= np.maximum(level, 0.5)[:, None]
    first = np.argmax(reached, axis=1)
    hit = reached[np.arange(cum.shape[0]), first]
    prev_t = np.where(first > 0, checkpoints[np.maximum(first - 1, 0)], 0.0)
    prev_c = np.where(first > 0, cum[np.arange(cum.shape[0]), np.maximum(first - 1, 0)], 0.0)
    this_t = checkpoints[first]
    this_c = cum[np.arange(cum.shape[0]), first]
    frac = np.clip((np.maximum(level, 0.5) - prev_c) / np.maximum(this_c - prev_c, 1e-9), 0, 1)
    return np.where(hit, now + prev_t + frac * (this_t - prev_t), np.inf)


def _best_fills(
    pools: np.ndarray,
    lanes: np.ndarray,
    q_max: np.ndarray,
    level: np.ndarray,
    loss: np.ndarray,
    setup_s: float,
    cycle: np.ndarray,
    c: PlannerConfig,
) -> list[Fill]:
    """The candidate rule, for each pool at once: its lane ``lanes[k]`` filled by the largest quantity
    (up to ``q_max[k]``, the pool at ``level[k]``) nearly as good per robot second as the best (fewer,
    fuller trips), if that avoids at least ``c.min_benefit`` expected lost sales."""
    if not pools.size:
        return []
    q = np.arange(1, max(int(q_max.max()), 1) + 1)[None, :]
    valid = q <= q_max[:, None]
    s0 = level[:, None]
    idx = np.minimum(s0 + q, loss.shape[1] - 1)
    benefit = np.where(valid, loss[pools[:, None], s0] - loss[pools[:, None], idx], 0.0)
    cost = setup_s + q * cycle[lanes][:, None]
    ratio = np.where(valid, benefit / cost, -np.inf)
    good = ratio >= c.fill_tolerance * ratio.max(axis=1, keepdims=True)
    k = good.shape[1] - 1 - np.argmax(good[:, ::-1], axis=1)  # the largest good quantity
    rows = np.arange(pools.size)
    chosen = benefit[rows, k]
    keep = (q_max > 0) & (chosen >= c.min_benefit)
    return [
        (-float(ratio[r, k[r]]), int(pools[r]), int(lanes[r]), int(k[r] + 1), float(chosen[r]), float(cost[r, k[r]]))
        for r in np.flatnonzero(keep)
    ]
