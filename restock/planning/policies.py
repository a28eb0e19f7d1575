"""Restock policies for the store model: the baselines and the planner (learned or oracle)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

from restock.demand.model import DemandModel
from restock.planning.backroom import AlertConfig, BackroomWatch, forecast
from restock.planning.lanes import LaneEstimator
from restock.planning.planner import Planner, PlannerConfig
from restock.planning.storemodel import SaleIn, StoreView, Task
from restock.planning.timing import RobotTiming


class RateSource(Protocol):
    def rate(self, sku: str, t: np.ndarray) -> np.ndarray: ...


class SalesForesight:
    """Perfect foresight of a sales log: the rate at t is what the log really sells around t.

    The containers sold in the ``window_s`` centred on t, per hour: the planner's forecast steps
    then sum to the log's real demand over its horizon, peaks and gaps included.
    """

    def __init__(self, sales: Sequence[SaleIn], window_s: float = 300.0) -> None:
        self.window_s = window_s
        by_sku: dict[str, list[tuple[float, int]]] = {}
        for s in sales:
            by_sku.setdefault(s.sku, []).append((s.t, s.quantity))
        self._t: dict[str, np.ndarray] = {}
        self._cum: dict[str, np.ndarray] = {}
        for sku, rows in by_sku.items():
            rows.sort()
            self._t[sku] = np.array([r[0] for r in rows])
            self._cum[sku] = np.concatenate([[0.0], np.cumsum([r[1] for r in rows])])

    def rate(self, sku: str, t: np.ndarray) -> np.ndarray:
        t = np.asarray(t, dtype=float)
        if sku not in self._t:
            return np.zeros_like(t)
        times, cum = self._t[sku], self._cum[sku]
        half = self.window_s / 2
        sold = cum[np.searchsorted(times, t + half)] - cum[np.searchsorted(times, t - half)]
        return sold * 3600.0 / self.window_s


def oracle_config(config: PlannerConfig | None = None) -> PlannerConfig:
    """The planner's rules for the foresight oracle: fewer, fuller trips as the learned planner's,
    but quick turns wherever the robot is free (knowing when each burst comes, it loses fewer
    with them), so that it stays the strongest baseline this planner has."""
    return replace(config or PlannerConfig(), urgent_fraction=0.625, spare_time_small_trips=True)


class _NoLearning:
    def on_sale(self, t: float, sku: str, quantity: int, lane_index: int) -> None:
        pass

    def on_exposure(self, t0: float, t1: float, available: np.ndarray) -> None:
        pass

    def on_front(self, t: float, lane_index: int, state: str) -> None:
        pass

    def on_task_done(self, t: float, lane_index: int, placed: int) -> None:
        pass


def reactive_lanes(
    count: np.ndarray, capacity: np.ndarray, stock: np.ndarray, threshold: float, blocked: np.ndarray | None = None
) -> np.ndarray:
    """The reactive rule: lanes at or below ``threshold`` of capacity with room and stock behind
    them (``stock`` per lane), not ``blocked``, emptiest first (ties in lane order).

    One rule for the baseline policy here and the planner node's reactive mode (restock.planning.core).
    """
    frac = count / capacity
    low = (frac <= threshold) & (stock > 0) & (count < capacity)
    if blocked is not None:
        low &= ~blocked
    return np.flatnonzero(low)[np.argsort(frac[low], kind="stable")]


@dataclass
class ReactivePolicy(_NoLearning):
    """Refill the emptiest lane once it falls to ``threshold`` of its capacity; fill it up."""

    threshold: float = 0.25
    name: str = "reactive"

    def next_task(self, view: StoreView) -> Task | None:
        lt = view.lanes
        lanes = reactive_lanes(view.count, lt.capacity, view.stock[lt.pool], self.threshold)
        if not len(lanes):
            return None
        i = int(lanes[0])
        return Task(i, int(lt.capacity[i] - view.count[i]))


@dataclass
class FixedRoundPolicy(_NoLearning):
    """Every ``period_s``, one sweep along the rail topping up every lane that is not full."""

    period_s: float = 2 * 3600.0
    name: str = "fixed-round"
    _queue: list[int] = field(default_factory=list)
    _next_round: float | None = None

    def next_task(self, view: StoreView) -> Task | None:
        lt = view.lanes
        if self._next_round is None:
            self._next_round = view.now
        if view.now >= self._next_round and not self._queue:
            self._queue = [int(i) for i in np.argsort(lt.x)]
            self._next_round += self.period_s * np.ceil((view.now - self._next_round + 1e-9) / self.period_s)
        while self._queue:
            i = self._queue.pop(0)
            q = int(min(lt.capacity[i] - view.count[i], view.stock[lt.pool[i]]))
            if q > 0:
                return Task(i, q)
        return None


class PlannerPolicy:
    """The restock planner over a demand forecast: the learned model, or the true rates (oracle).

    ``alerts``: it also forecasts each SKU's back room against the demand until the next delivery
    and raises staff alerts (restock.planning.backroom); the store model's staff answer them.

    ``camera_only``: the policy does not read the true lane counts nor hear sales; it keeps its own
    lane estimates (restock.planning.lanes) from lane fronts and its own results, and learns from
    sales inferred when a lane of known count is next seen empty (no point-of-sale feed).
    """

    def __init__(
        self,
        name: str,
        timing: RobotTiming,
        lanes_table: object,
        model: DemandModel | None = None,
        truth: RateSource | None = None,
        config: PlannerConfig | None = None,
        refit_every_s: float = 3600.0,
        camera_only: bool = False,
        alerts: AlertConfig | None = None,
        dispersion: float = 1.0,
    ) -> None:
        """``dispersion``: with the true rates, how much an hour's sales vary around them against
        Poisson ones (a learned model keeps its own): the oracle then follows the same rules the
        learned planner does for bursty demand (the idle fill, the back room's risk)."""
        if (model is None) == (truth is None):
            raise ValueError("give either a learned model or the true demand")
        self.name = name
        self.planner = Planner(lanes_table, timing, config)  # type: ignore[arg-type]
        self.model = model
        self.truth = truth
        self.oracle_dispersion = dispersion
        self.refit_every_s = refit_every_s
        self._last_fit = -np.inf
        self.camera_only = camera_only
        self.estimator = LaneEstimator(self.planner.lanes) if camera_only else None
        self._started = False
        skus = self.planner.lanes.skus
        self.watch = BackroomWatch(len(skus), alerts) if alerts is not None else None
        if model is not None:
            for s in skus:
                model.add_sku(s, int(np.sum(np.array(self.planner.lanes.lane_sku) == s)))

    def rates(self, t: np.ndarray) -> np.ndarray:
        skus = self.planner.lanes.skus
        if self.model is not None:
            return self.model.rates_matrix(t, skus)
        assert self.truth is not None
        return np.stack([np.asarray(self.truth.rate(s, t)) for s in skus])

    def dispersion(self) -> float:
        """How bursty demand is, as the plan and the back-room forecast take it (restock.demand.burst)."""
        return self.model.burst.fit.dispersion if self.model is not None else self.oracle_dispersion

    def next_task(self, view: StoreView) -> Task | None:
        if self.model is not None and view.now - self._last_fit >= self.refit_every_s:
            self.model.fit()
            self._last_fit = view.now
        count = view.count
        sd = None
        if self.estimator is not None:
            if not self._started:
                self.estimator.stamp = view.now
                self._started = True
            self.estimator.predict(view.now, self.rates(np.array([view.now]))[:, 0])
            count = self.estimator.mean
            sd = np.sqrt(self.estimator.var)
        dispersion = self.dispersion()
        plan = self.planner.plan(view.now, count, self.rates, view.stock, count_sd=sd, dispersion=dispersion)
        if not plan:
            return None
        first = plan[0]
        return Task(first.lane_index, first.quantity)

    def staff_alerts(self, view: StoreView) -> list[int]:
        """Pools whose back-room alert is raised now (restock.planning.backroom)."""
        if self.watch is None or view.stock_capacity is None or not np.isfinite(view.next_delivery):
            return []
        lt = self.planner.lanes
        shelf = np.bincount(lt.pool, weights=view.count, minlength=len(lt.skus))
        dispersion = self.dispersion()
        fc = forecast(
            view.now,
            self.rates,
            view.stock,
            shelf,
            lt.pool_capacity,
            view.next_delivery,
            self.watch.config.step_s,
            dispersion,
        )
        return [c.pool for c in self.watch.update(fc) if c.state == "raised"]

    def on_staff_answered(self, t: float, pool: int) -> None:
        """Staff answered this pool's alert (the node hears a BackroomRestock): it is closed."""
        if self.watch is not None:
            self.watch.answered(pool)

    def on_sale(self, t: float, sku: str, quantity: int, lane_index: int) -> None:
        if self.model is not None:
            self.model.add_sale(t, sku, quantity)

    def on_front(self, t: float, lane_index: int, state: str) -> None:
        if self.estimator is None:
            return
        inferred = self.estimator.observe(lane_index, state, None, t)
        if inferred is not None and self.model is not None:
            # One lane's share of the SKU's demand: exposure weighted by that share.
            lanes = self.planner.lanes
            share = 1.0 / max(1, int(np.sum(lanes.pool == lanes.pool[lane_index])))
            self.model.add_sales_spread(inferred.sku, inferred.t0, inferred.t1, inferred.containers)
            self.model.add_exposure(inferred.sku, inferred.t0, inferred.t1, share)

    def on_task_done(self, t: float, lane_index: int, placed: int) -> None:
        if self.estimator is not None:
            self.estimator.restocked(lane_index, placed, t)

    def on_exposure(self, t0: float, t1: float, available: np.ndarray) -> None:
        # Without a POS feed, exposure comes with the inferred sales (on_front), not from here:
        # SKU-wide exposure with only some lanes' sales would read as low demand.
        if self.model is not None and not self.camera_only:
            skus = self.planner.lanes.skus
            self.model.add_exposure_all(t0, t1, [s for s, a in zip(skus, available, strict=True) if a])
