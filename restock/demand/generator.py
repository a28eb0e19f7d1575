"""The TRUE demand of a store: what the simulator's customers buy, and what the planner is judged against.

Each SKU has a daily-average rate (containers per hour) shaped by three multipliers, each with
mean 1 over its period so the average stays the base rate:

- time of day: a night floor plus a morning peak (~08:00), a lunch peak (~12:30) and an evening
  peak (~18:30); each SKU mixes them with its own weights (coffee leans to mornings, energy
  drinks to evenings) so lanes run empty at different times;
- day of week: busier on weekdays and Fridays, quieter on weekends (small per-SKU spread);
- time of year: more cold drinks in summer (peak around 20 July), an amplitude per SKU.

Time ``t`` is seconds since the Unix epoch; the store's local time is taken to be UTC.

The generator is deterministic for a given ``(store, seed, scale)``: the per-SKU parameters
come from ``seed``; the random sales come from the ``rng`` given to :meth:`DemandGenerator.sample`.

Scale: at ``scale=1`` each lane of the store sells about ``BASE_CONTAINERS_PER_LANE_DAY``
containers a day on an average day (the corner store's 33 lanes: ~330 a day). Use
:meth:`DemandGenerator.for_daily_total` to ask for a given total instead, e.g. 1,000
containers a day for the reference robot's load.

Which lane a customer takes from: a customer wants a SKU, not a lane, and takes the front
container of one of the SKU's lanes that shows stock, chosen uniformly at random
(the simulator's ``World.customer_buy`` draws it); the sale is lost only when every lane of the SKU is empty.
The planner and the evaluation harness assume the same.

Customers sometimes take more than one container: a sale event takes 1 (88 %), 2 (9 %) or 3
(3 %) containers; the event rate is the container rate divided by the mean quantity.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from restock.store.description import Store

DAY_S = 86_400.0
WEEK_S = 7 * DAY_S
YEAR_S = 365.2425 * DAY_S
BASE_CONTAINERS_PER_LANE_DAY = 10.0

# Quantity of containers per sale event (customers buying two or three at once).
QUANTITIES = np.array([1, 2, 3])
QUANTITY_PROBS = np.array([0.88, 0.09, 0.03])
MEAN_QUANTITY = float(QUANTITIES @ QUANTITY_PROBS)

# Time-of-day components: (centre hour, width hours). Gaussian bumps, wrapped around midnight.
PEAKS = {"morning": (8.0, 1.0), "lunch": (12.5, 0.9), "evening": (18.5, 1.5)}
# Hours the store is quiet (between these hours the floor is lower).
NIGHT_FLOOR = 0.08  # relative level of the small hours
DAYTIME_LEVEL = 0.45  # relative level of the day between peaks
# Day-of-week multipliers, Monday first (mean 1).
WEEKDAY_SHAPE = np.array([1.02, 1.0, 1.0, 1.03, 1.12, 0.93, 0.90])
SUMMER_PEAK_DAY = 201.0  # day of year of the summer peak (about 20 July)


class Sale(NamedTuple):
    """One customer's purchase: time (s since epoch), SKU, number of containers."""

    t: float
    sku: str
    quantity: int


@dataclass(frozen=True)
class SkuDemand:
    """The parameters of one SKU's demand (drawn from the seed)."""

    sku: str
    base_per_hour: float  # average over a year, containers per hour
    peak_weights: tuple[float, float, float]  # morning, lunch, evening
    weekday: tuple[float, ...]  # 7 multipliers, Monday first, mean 1
    summer_amplitude: float  # relative swing over the year


def _hour_of_day(t: np.ndarray) -> np.ndarray:
    return np.mod(t, DAY_S) / 3600.0


def _day_of_week(t: np.ndarray) -> np.ndarray:
    # 1970-01-01 was a Thursday (Monday = 0 -> Thursday = 3).
    return (np.floor(t / DAY_S).astype(np.int64) + 3) % 7


def _day_of_year(t: np.ndarray) -> np.ndarray:
    return np.mod(t, YEAR_S) / DAY_S


def _bump(hours: np.ndarray, centre: float, width: float) -> np.ndarray:
    d = np.abs(hours - centre)
    d = np.minimum(d, 24.0 - d)
    return np.exp(-0.5 * (d / width) ** 2)


def _daytime(hours: np.ndarray) -> np.ndarray:
    """A smooth step: quiet at night (00-06), awake from ~06:30 to ~22:30."""
    rise = 1.0 / (1.0 + np.exp(-(hours - 6.5) * 2.0))
    fall = 1.0 / (1.0 + np.exp((hours - 22.5) * 1.5))
    return NIGHT_FLOOR + (DAYTIME_LEVEL - NIGHT_FLOOR) * rise * fall


_GRID_H = np.arange(0.0, 24.0, 1.0 / 60.0)  # one-minute grid for normalising the daily shape


def _raw_profile(hours: np.ndarray, weights: tuple[float, float, float]) -> np.ndarray:
    out = _daytime(hours)
    for w, (centre, width) in zip(weights, PEAKS.values(), strict=True):
        out = out + w * _bump(hours, centre, width)
    return out


class DemandGenerator:
    """Per-SKU, time-varying true demand for one store."""

    def __init__(self, store: Store, seed: int = 0, scale: float = 1.0) -> None:
        if not (scale > 0 and math.isfinite(scale)):
            raise ValueError(f"scale must be a positive finite number, got {scale!r}")
        self.store = store
        self.seed = int(seed)
        self.scale = float(scale)
        lanes_per_sku: dict[str, int] = {}
        for lv in store.lanes:
            lanes_per_sku[lv.lane.sku] = lanes_per_sku.get(lv.lane.sku, 0) + 1
        self.skus: dict[str, SkuDemand] = {}
        self._norm: dict[str, float] = {}
        for sku in sorted(store.skus):
            rng = np.random.default_rng([self.seed, _stable_hash(sku)])
            n_lanes = lanes_per_sku.get(sku, 0)
            # Popularity: lanes are allotted roughly by sales, with a spread of +-35 %.
            per_day = BASE_CONTAINERS_PER_LANE_DAY * n_lanes * float(rng.uniform(0.65, 1.35)) * self.scale
            weights = np.array([rng.uniform(0.6, 1.6), rng.uniform(0.8, 1.8), rng.uniform(0.6, 1.5)])
            name = sku.lower()
            if "coffee" in name or "tea" in name:
                weights[0] *= 1.8  # a morning drink
            if "energy" in name or "sports" in name or "soda" in name:
                weights[2] *= 1.6  # after work and the gym
            if "water" in name:
                weights[1] *= 1.4
            weekday = WEEKDAY_SHAPE * rng.uniform(0.95, 1.05, size=7)
            weekday = weekday / weekday.mean()
            amplitude = float(rng.uniform(0.10, 0.20) if "coffee" in name else rng.uniform(0.20, 0.40))
            spec = SkuDemand(
                sku=sku,
                base_per_hour=per_day / 24.0,
                peak_weights=(float(weights[0]), float(weights[1]), float(weights[2])),
                weekday=tuple(float(w) for w in weekday),
                summer_amplitude=amplitude,
            )
            self.skus[sku] = spec
            self._norm[sku] = 1.0 / float(_raw_profile(_GRID_H, spec.peak_weights).mean())
        self._max_rate = {sku: self._upper_bound(sku) for sku in self.skus}

    @classmethod
    def for_daily_total(cls, store: Store, containers_per_day: float, seed: int = 0) -> DemandGenerator:
        """A generator whose year-average daily total over all SKUs is ``containers_per_day``."""
        unit = cls(store, seed=seed, scale=1.0)
        total = unit.mean_daily_total()
        if total <= 0:
            raise ValueError("the store has no lanes to sell from")
        return cls(store, seed=seed, scale=containers_per_day / total)

    # --- rates --------------------------------------------------------------------------

    def time_of_day(self, sku: str, t: float | np.ndarray) -> np.ndarray:
        """The time-of-day multiplier (mean 1 over a day)."""
        spec = self._spec(sku)
        return _raw_profile(_hour_of_day(np.asarray(t, dtype=float)), spec.peak_weights) * self._norm[sku]

    def day_of_week(self, sku: str, t: float | np.ndarray) -> np.ndarray:
        spec = self._spec(sku)
        return np.asarray(spec.weekday)[_day_of_week(np.asarray(t, dtype=float))]

    def time_of_year(self, sku: str, t: float | np.ndarray) -> np.ndarray:
        spec = self._spec(sku)
        doy = _day_of_year(np.asarray(t, dtype=float))
        return 1.0 + spec.summer_amplitude * np.cos(2 * np.pi * (doy - SUMMER_PEAK_DAY) / 365.2425)

    def rate(self, sku: str, t: float | np.ndarray) -> float | np.ndarray:
        """Expected containers per hour of ``sku`` at time ``t`` (s since epoch); vectorised over t."""
        spec = self._spec(sku)
        r = spec.base_per_hour * self.time_of_day(sku, t) * self.day_of_week(sku, t) * self.time_of_year(sku, t)
        return float(r) if np.ndim(r) == 0 else r

    def expected(self, sku: str, t0: float, t1: float, step_s: float = 60.0) -> float:
        """Expected containers of ``sku`` sold in [t0, t1) (midpoint rule on ``step_s`` steps)."""
        if t1 <= t0:
            return 0.0
        n = max(1, math.ceil((t1 - t0) / step_s))
        edges = np.linspace(t0, t1, n + 1)
        mids = 0.5 * (edges[:-1] + edges[1:])
        return float(np.sum(self.rate(sku, mids)) * (t1 - t0) / n / 3600.0)

    def mean_daily_total(self) -> float:
        """Year-average containers per day over all SKUs."""
        return 24.0 * sum(s.base_per_hour for s in self.skus.values())

    def daily_total(self, day_start: float) -> float:
        """Expected containers sold over all SKUs in the day starting at ``day_start``."""
        return sum(self.expected(sku, day_start, day_start + DAY_S, 300.0) for sku in self.skus)

    # --- sampling -----------------------------------------------------------------------

    def sample(self, t0: float, t1: float, rng: np.random.Generator, skus: Iterable[str] | None = None) -> list[Sale]:
        """Sales in [t0, t1), time-ordered: a non-homogeneous Poisson process per SKU, by thinning."""
        if t1 <= t0:
            return []
        out: list[Sale] = []
        for sku in sorted(skus) if skus is not None else sorted(self.skus):
            lam_max = self._max_rate[sku] / MEAN_QUANTITY  # events per hour, an upper bound
            n = int(rng.poisson(lam_max * (t1 - t0) / 3600.0))
            if n == 0:
                continue
            times = np.sort(rng.uniform(t0, t1, size=n))
            keep = rng.uniform(0.0, lam_max, size=n) * MEAN_QUANTITY < self.rate(sku, times)
            times = times[keep]
            qty = rng.choice(QUANTITIES, size=times.size, p=QUANTITY_PROBS)
            out.extend(Sale(float(t), sku, int(q)) for t, q in zip(times, qty, strict=True))
        out.sort(key=lambda s: s.t)
        return out

    # --- helpers ------------------------------------------------------------------------

    def _spec(self, sku: str) -> SkuDemand:
        try:
            return self.skus[sku]
        except KeyError:
            raise KeyError(f"unknown SKU {sku!r}; the store sells {sorted(self.skus)}") from None

    def _upper_bound(self, sku: str) -> float:
        spec = self.skus[sku]
        tod = float(_raw_profile(_GRID_H, spec.peak_weights).max()) * self._norm[sku] * 1.02
        return spec.base_per_hour * tod * max(spec.weekday) * (1.0 + spec.summer_amplitude)


def _stable_hash(text: str) -> int:
    """A hash that does not change between runs (Python's str hash is salted)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
