"""The learned demand model: a rate per SKU by hour of the week, with uncertainty, from sales and exposure.

Method (hierarchical Gamma-Poisson, i.e. empirical-Bayes Poisson rates with conjugate priors):

- The history is kept as sufficient statistics: per SKU, per day, per hour of the day, the
  containers sold and the *exposure*, the hours the SKU was on the shelf. Time when every lane of
  a SKU was empty is not exposure (a stockout censors demand: no sale then says nothing about
  how many customers wanted one), so sales are always divided by the time they could happen.
- A yearly term ``s(t) = exp(a cos θ + b sin θ)`` (θ the phase of the year from the summer peak)
  scales exposure. Its prior is a 25 % midsummer lift for cold drinks; with four weeks of history
  or more, ``(a, b)`` are refit per SKU by penalised Poisson regression of daily totals
  (scipy L-BFGS, a Gaussian penalty towards the prior).
- The weekly table is shrunk in three levels: a SKU level (prior: ``prior_per_lane_day`` times
  the SKU's lanes, worth ``level_strength_h`` hours of data), an hour-of-day profile pooled over
  the week (prior: a generic store-day shape, smoothed over neighbouring hours), a day-of-week
  factor (Gamma prior with mean 1), and each of the 168 hour-of-week bins (Gamma prior centred
  on profile x day factor). Each level's posterior is Gamma(shape α, rate β): mean α/β,
  standard deviation √α/β. A new SKU starts from the priors and moves as its sales arrive.
- Old days weigh less (half-life ``half_life_days``) so the model follows changing habits.
- Real logs have closed days, holidays and gaps: a day on which no SKU sold at all is taken as
  closed (or not logged) and its exposure does not count, so a Christmas Day or a missing day does
  not read as a quiet weekday. A SKU learned from a log counts as exposed only from its first sale
  on (:meth:`DemandModel.learn_log`): a SKU that appears later is not read as unsold before.

- A burst under way goes on for a while: the rates ahead of the latest time seen add the recent
  sales' excess over the weekly rate, fading, with a gain and times learned from how a log's sales
  cluster (restock.demand.burst; Poisson demand learns a gain of about 0, so nothing changes).

Predictions interpolate linearly between hour centres so that peaks are not flattened into
steps. Time ``t`` is seconds since the Unix epoch; store local time is UTC.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import minimize

from restock.demand.burst import STEP_S, BurstState, fine_counts, fit_burst
from restock.demand.guard import FleetGuard, Forecast
from restock.demand.prior import FleetPrior

DAY_S = 86_400.0
HOURS = 24
WEEK_H = 7 * HOURS
SUMMER_PEAK_DAY = 201.0
YEAR_DAYS = 365.2425


class DemandError(ValueError):
    """Input the demand model cannot take (unknown SKU, negative quantity, bad time)."""


@dataclass(frozen=True)
class DemandPrior:
    prior_per_lane_day: float = 10.0  # containers per lane per day for a SKU with no history
    level_strength_h: float = 24.0  # the SKU level prior is worth this many hours of exposure
    profile_strength_h: float = 3.0  # each hour of the pooled daily profile
    weekday_strength: float = 20.0  # pseudo-containers behind the day-of-week factor (mean 1)
    bin_strength_h: float = 4.0  # each hour-of-week bin
    yearly_a: float = 0.25  # prior log-amplitude of the yearly term (summer lift)
    yearly_b: float = 0.0
    yearly_sd: float = 0.15  # prior sd of (a, b)
    yearly_min_days: int = 28  # fit the yearly term only with this much history
    half_life_days: float = 56.0
    # With a fleet prior (restock.demand.prior): the store-wide scale of the fleet's levels is
    # worth this many hours of the store's expected sales.
    fleet_scale_strength_h: float = 6.0
    # The fleet prior's weight is the posterior probability that the model with it forecasts the
    # store's sales better than the store's own model without it (restock.demand.guard), at these
    # odds before any sale: 99:1, the prior being other stores' data and the generic one a guess. A prior from unlike stores fades to the generic one as the store's sales come
    # (math.inf: always trusted). The score is kept over the store's first ``yearly_min_days``.
    fleet_prior_odds: float = 99.0
    # A new store's own dispersion of hourly sales weighs its open days against this many days
    # of the dispersion it started from (restock.demand.burst; the fleet prior's, else Poisson).
    dispersion_strength_days: float = 3.0


# A generic shape of a store's day (mean 1): quiet at night, busy in the day. Only a prior;
# the data decide where the peaks are.
_GENERIC_DAY = np.array([0.25] * 6 + [0.8] + [1.35] * 15 + [0.8, 0.45])
_GENERIC_DAY = _GENERIC_DAY / _GENERIC_DAY.mean()
_SMOOTH = np.array([0.2, 0.6, 0.2])  # neighbouring hours share evidence in the pooled profile


def day_index(t: float | np.ndarray) -> np.ndarray:
    return np.floor(np.asarray(t, dtype=float) / DAY_S).astype(np.int64)


def weekday_of_day(day: np.ndarray | int) -> np.ndarray:
    """Monday = 0 (1970-01-01, day 0, was a Thursday)."""
    return (np.asarray(day) + 3) % 7


def year_phase(t: float | np.ndarray) -> np.ndarray:
    doy = np.mod(np.asarray(t, dtype=float) / DAY_S, YEAR_DAYS)
    return 2 * np.pi * (doy - SUMMER_PEAK_DAY) / YEAR_DAYS


def _circular_smooth(x: np.ndarray) -> np.ndarray:
    """Smooth along the last axis (hours), wrapping around midnight."""
    return _SMOOTH[0] * np.roll(x, 1, axis=-1) + _SMOOTH[1] * x + _SMOOTH[2] * np.roll(x, -1, axis=-1)


class DemandModel:
    """Learned per-SKU demand. Feed it sales and exposure; call :meth:`fit`; ask for rates."""

    def __init__(self, lanes_per_sku: dict[str, int], prior: DemandPrior | None = None) -> None:
        self.prior = prior or DemandPrior()
        self.skus: list[str] = []
        self._index: dict[str, int] = {}
        self.lanes_per_sku: dict[str, int] = {}
        self.first_day: int | None = None
        self._counts = np.zeros((0, 0, HOURS))  # [sku, day - first_day, hour]
        self._exposure = np.zeros((0, 0, HOURS))  # hours on the shelf
        self.yearly = np.zeros((0, 2))  # (a, b) per SKU
        self.last_t = -math.inf  # time of the latest sale or exposure
        self._alpha = np.zeros((0, WEEK_H))
        self._beta = np.ones((0, WEEK_H))
        self._mean = np.zeros((0, WEEK_H))
        self.burst = BurstState()  # the short-term nowcast (restock.demand.burst), learned by learn_log
        self._fine: tuple[int, np.ndarray, np.ndarray] | None = None  # (first step, SKU rows, their counts per step)
        self.fleet: FleetPrior | None = None  # other stores' models, for a new store (set_fleet)
        self.kinds: dict[str, str] = {}  # SKU -> kind (bottle, can, carton), for the fleet prior
        self.fleet_scale = 1.0  # the store's level against the fleet's, learned from all its sales
        self.guard: FleetGuard | None = None  # how far the fleet prior is trusted (set_fleet)
        self._fleet_tables = np.zeros((0, WEEK_H))  # per SKU: the fleet's containers/hour (0 rows: none)
        for sku, n in sorted(lanes_per_sku.items()):
            self.add_sku(sku, n)
        self.fit()

    def set_fleet(self, prior: FleetPrior | None, kinds: dict[str, str] | None = None) -> None:
        """Start from a fleet prior (restock.demand.prior): each SKU's hour-of-day, weekday and level
        priors become the fleet's (the SKU's own shape, else its kind's, else the store's, scaled by
        its lanes here) and its yearly term the fleet's, as far as the prior has forecast the
        store's sales better than its own model (:attr:`fleet_weight`), and the burst nowcast the
        fleet's until this store's own log teaches one (its dispersion replaced by the store's own
        as its days come). None: back to the generic priors."""
        self.fleet = prior
        self.kinds = dict(kinds or {})
        self.guard = FleetGuard(self.prior.fleet_prior_odds) if prior is not None else None
        if prior is not None and prior.burst is not None and self.burst.fit.samples == 0:
            self.burst.fit = prior.burst
        self._fleet_tables = np.zeros((0, WEEK_H))
        self.fit()

    @property
    def fleet_weight(self) -> float:
        """How far the fleet prior is trusted (restock.demand.guard; 1 without a prior)."""
        return self.guard.weight if self.guard is not None else 1.0

    # --- data in ------------------------------------------------------------------------

    def add_sku(self, sku: str, lanes: int = 1) -> None:
        """A new SKU starts from the priors (no effect if it is known)."""
        if sku in self.lanes_per_sku:
            if self.lanes_per_sku[sku] != lanes:
                self.lanes_per_sku[sku] = lanes
                self._fleet_tables = np.zeros((0, WEEK_H))  # the fleet's level is per lane
            return
        self._index[sku] = len(self.skus)
        self.skus.append(sku)
        self.lanes_per_sku[sku] = lanes
        n_days = self._counts.shape[1]
        self._counts = np.concatenate([self._counts, np.zeros((1, n_days, HOURS))])
        self._exposure = np.concatenate([self._exposure, np.zeros((1, n_days, HOURS))])
        self.yearly = np.concatenate([self.yearly, [[self.prior.yearly_a, self.prior.yearly_b]]])
        self._alpha = np.concatenate([self._alpha, np.zeros((1, WEEK_H))])
        self._beta = np.concatenate([self._beta, np.ones((1, WEEK_H))])
        self._mean = np.concatenate([self._mean, np.zeros((1, WEEK_H))])
        self.burst.add_sku()
        self._fleet_tables = np.zeros((0, WEEK_H))
        self._fit_sku(len(self.skus) - 1)

    def sku_index(self, sku: str) -> int:
        try:
            return self._index[sku]
        except KeyError:
            raise DemandError(f"unknown SKU {sku!r}; the model knows {self.skus}") from None

    def add_sale(self, t: float, sku: str, quantity: int) -> None:
        """Containers sold at t (they count whether or not the exposure is recorded yet)."""
        if not math.isfinite(t) or t < 0:
            raise DemandError(f"bad sale time {t!r}")
        if quantity < 0:
            raise DemandError(f"negative quantity {quantity} for {sku}")
        i = self.sku_index(sku)
        d = self._day_row(int(day_index(t)))
        self._counts[i, d, int((t % DAY_S) // 3600)] += quantity
        self.burst.sale(i, quantity)
        self.last_t = max(self.last_t, t)

    def add_sales_spread(self, sku: str, t0: float, t1: float, containers: float) -> None:
        """Containers known to have sold somewhere in [t0, t1] (inferred from a lane going empty):
        spread over the interval in proportion to the current rate, hour by hour."""
        if containers <= 0 or t1 <= t0:
            return
        i = self.sku_index(sku)
        edges = np.arange(math.floor(t0 / 3600.0), math.ceil(t1 / 3600.0) + 1) * 3600.0
        edges[0], edges[-1] = t0, t1
        mids = 0.5 * (edges[:-1] + edges[1:])
        weight = np.maximum(self.rates_matrix(mids, [sku])[0], 1e-6) * np.diff(edges)
        share = containers * weight / weight.sum()
        for t, q in zip(mids, share, strict=True):
            d = self._day_row(int(day_index(t)))
            self._counts[i, d, int((t % DAY_S) // 3600)] += q
        self.last_t = max(self.last_t, t1)

    def add_exposure(self, sku: str, t0: float, t1: float, weight: float = 1.0) -> None:
        """The SKU was on the shelf (some lane showed stock) from t0 to t1.

        ``weight`` < 1: the sales counted for the interval are a share of the SKU's demand
        (one lane of several, as sales inferred from one lane are)."""
        if t1 <= t0:
            return
        i = self.sku_index(sku)
        self._add_exposure_rows(np.array([i]), t0, t1, weight)

    def add_exposure_all(self, t0: float, t1: float, available: Iterable[str] | None = None) -> None:
        """Exposure for every SKU in ``available`` (default: all) from t0 to t1."""
        if t1 <= t0:
            return
        names = self.skus if available is None else list(available)
        rows = np.array([self.sku_index(s) for s in names], dtype=np.int64)
        if rows.size:
            self._add_exposure_rows(rows, t0, t1)

    def _add_exposure_rows(self, rows: np.ndarray, t0: float, t1: float, weight: float = 1.0) -> None:
        self.burst.expose(rows, t1 - t0)
        self._day_row(int(day_index(t0)))
        self._day_row(int(day_index(max(t0, t1 - 1e-6))))
        h0 = math.floor(t0 / 3600.0)
        h1 = math.ceil(t1 / 3600.0)
        for h in range(h0, h1):
            lo, hi = max(t0, h * 3600.0), min(t1, (h + 1) * 3600.0)
            if hi <= lo:
                continue
            day, hour = divmod(h, HOURS)
            self._exposure[rows, day - self.first_day, hour] += weight * (hi - lo) / 3600.0  # type: ignore[operator]
        self.last_t = max(self.last_t, t1)

    def _day_row(self, day: int) -> int:
        """Row of ``day`` in the history arrays, growing them as needed."""
        if self.first_day is None:
            self.first_day = day
        if day < self.first_day:
            pad = self.first_day - day
            z = np.zeros((len(self.skus), pad, HOURS))
            self._counts = np.concatenate([z, self._counts], axis=1)
            self._exposure = np.concatenate([z.copy(), self._exposure], axis=1)
            self.first_day = day
        row = day - self.first_day
        if row >= self._counts.shape[1]:
            grow = row + 1 - self._counts.shape[1]
            z = np.zeros((len(self.skus), grow, HOURS))
            self._counts = np.concatenate([self._counts, z], axis=1)
            self._exposure = np.concatenate([self._exposure, z.copy()], axis=1)
        return row

    # --- fitting ------------------------------------------------------------------------

    def fit(self, refit_yearly: bool = True) -> None:
        """Recompute the posterior tables from the history (a few ms for a year of 10 SKUs)."""
        watch = self.guard is not None and self.history_days() < self.prior.yearly_min_days
        if watch:
            self._score_fleet()
        self._fit_fleet_scale()
        self._blend_fleet()
        for i in range(len(self.skus)):
            if refit_yearly and self.history_days() >= self.prior.yearly_min_days:
                self._fit_sku(i)
                self._fit_yearly(i)
            self._fit_sku(i)
        if self._fine is not None:
            self._fit_burst(*self._fine)
            self._fine = None
        elif self.burst.fit.samples == 0:
            self._fit_own_dispersion()
        if watch:
            self._remember_forecasts()

    def _score_fleet(self) -> None:
        """The sales since the last fit, scored under the forecasts made then (restock.demand.guard)."""
        assert self.guard is not None
        if self.first_day is None:
            return
        i, day, hour, sold, hours = self.guard.new_cells(self.first_day, self._counts, self._exposure, self.open_days())
        if self.guard.forecasts is None:
            return
        known = i < self.guard.forecasts[0].tables.shape[0]  # a SKU added since had no forecast
        i, day, hour, sold, hours = i[known], day[known], hour[known], sold[known], hours[known]
        theta = year_phase((day * HOURS + hour + 0.5) * 3600.0)
        how = weekday_of_day(day) * HOURS + hour

        def expected(f: Forecast) -> np.ndarray:
            season = np.exp(f.yearly[i, 0] * np.cos(theta) + f.yearly[i, 1] * np.sin(theta))
            return f.tables[i, how] * season * hours

        self.guard.add(sold, *(expected(f) for f in self.guard.forecasts))

    def _remember_forecasts(self) -> None:
        """The forecasts of the model trusting the prior fully and of the store's own model (the
        same sales, the generic prior), for the guard to score the next sales with: the prior is
        judged as it is, not as far as it is used, so a prior set aside can win its weight back."""
        assert self.guard is not None
        trusting, own = self._shadow(self.fleet), self._shadow(None)
        self.guard.forecasts = (
            Forecast(trusting._mean, trusting.yearly, trusting.burst.fit.dispersion),
            Forecast(own._mean, own.yearly, own.burst.fit.dispersion),
        )

    def _shadow(self, fleet: FleetPrior | None) -> DemandModel:
        """A model of this store's history with ``fleet`` trusted fully (None: the generic prior),
        fitted; it shares the history arrays (a fit only reads them) and owns what a fit writes."""
        shadow = DemandModel.__new__(DemandModel)
        shadow.__dict__.update(self.__dict__)
        shadow.fleet, shadow.guard, shadow._fine = fleet, None, None
        shadow._alpha, shadow._beta, shadow._mean = self._alpha.copy(), self._beta.copy(), self._mean.copy()
        shadow.yearly = self.yearly.copy()
        shadow.burst = BurstState(self.burst.fit)
        if fleet is None:
            shadow.yearly[:] = (self.prior.yearly_a, self.prior.yearly_b)
        shadow.fit(refit_yearly=False)
        return shadow

    def _blend_fleet(self) -> None:
        """The fleet's yearly terms while the store has too little history for its own, as far as
        the prior is trusted, the generic ones for the rest."""
        if self.fleet is None or self.history_days() >= self.prior.yearly_min_days:
            return
        w = self.fleet_weight
        generic = np.array([self.prior.yearly_a, self.prior.yearly_b])
        for i, sku in enumerate(self.skus):
            if sku in self.fleet.yearly:
                self.yearly[i] = w * np.asarray(self.fleet.yearly[sku]) + (1.0 - w) * generic

    def _fit_own_dispersion(self) -> None:
        """No log taught the nowcast (a new store): how much the store's own hourly sales vary
        around its model, shrunk towards what it started from (the fleet's, or Poisson) by
        ``dispersion_strength_days`` days, so its first days replace a prior's guess as they come."""
        open_days = self.open_days()
        n = int(open_days.sum())
        if n == 0 or not self.skus:
            return
        start = self.fleet.burst.dispersion if self.fleet is not None and self.fleet.burst is not None else 1.0
        days = np.arange(self._counts.shape[1]) + (self.first_day or 0)
        hours = (days[:, None] * HOURS + np.arange(HOURS)[None, :]) * 3600.0 + 1800.0
        rows = np.arange(len(self.skus))
        expected = self._base_rates(hours.ravel(), rows).reshape(len(self.skus), days.size, HOURS) * self._exposure
        # Every hour the SKU was on the shelf at all: a burst that emptied the shelf came in such an
        # hour, its sales many times what the rate says of that exposure; full hours alone miss it.
        use = (self._exposure > 0.0) & open_days[None, :, None]
        mean = float(expected[use].sum())
        if mean <= 0:
            return
        own = max(1.0, float(np.sum((self._counts[use] - expected[use]) ** 2)) / mean)
        k = self.prior.dispersion_strength_days
        dispersion = float(np.exp((k * math.log(max(start, 1.0)) + n * math.log(own)) / (k + n)))
        self.burst.fit = replace(self.burst.fit, dispersion=dispersion)

    def _fit_burst(self, first_step: int, rows: np.ndarray, counts: np.ndarray) -> None:
        """Learn the nowcast (restock.demand.burst) from a log's sales against the weekly model."""
        t = (first_step + np.arange(counts.shape[1]) + 0.5) * STEP_S
        base = self._base_rates(t, rows) * (STEP_S / 3600.0)
        days = day_index(t)
        open_day = np.zeros(int(days[-1] - days[0]) + 1, dtype=bool)
        open_day[np.unique(days[counts.sum(axis=0) > 0]) - days[0]] = True
        fit = fit_burst(counts, base * open_day[days - days[0]][None, :], open_day[days - days[0]])
        self.burst.fit = fit

    def history_days(self) -> int:
        return int(self._counts.shape[1])

    def learn_log(self, sales: Iterable[tuple[float, str, int]], until: float) -> int:
        """Learn a sales history (time, SKU, containers) with the shelf stocked throughout: each
        SKU is exposed from the day of its first sale to ``until``. SKUs the model does not know
        are skipped (a log may name SKUs the store no longer sells); returns the sales learned."""
        first: dict[str, float] = {}
        learned: list[tuple[float, int, int]] = []
        for t, sku, quantity in sales:
            if sku not in self._index:
                continue
            self.add_sale(t, sku, quantity)
            first[sku] = min(first.get(sku, t), t)
            learned.append((t, self._index[sku], quantity))
        for sku, t in first.items():
            self.add_exposure(sku, math.floor(t / DAY_S) * DAY_S, until)
        if learned:
            self._fine = fine_counts(np.array(learned), len(self.skus), until)
        return len(learned)

    def open_days(self) -> np.ndarray:
        """Per history day: whether anything sold (a day without a single sale was closed or not logged)."""
        return self._counts.sum(axis=(0, 2)) > 0

    def _weights_and_season(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        n_days = self._counts.shape[1]
        if n_days == 0:
            return np.zeros(0), np.zeros(0)
        days = np.arange(n_days) + (self.first_day or 0)
        # A closed day weighs nothing: its exposure with no sales is no evidence of low demand.
        weights = 0.5 ** ((days[-1] - days) / self.prior.half_life_days) * self.open_days()
        theta = year_phase((days + 0.5) * DAY_S)
        a, b = self.yearly[i]
        return weights, np.exp(a * np.cos(theta) + b * np.sin(theta))

    def _fleet_table(self, i: int) -> np.ndarray | None:
        """The fleet's week table for SKU ``i`` (containers/hour, before the store's scale), or None."""
        if self.fleet is None:
            return None
        if self._fleet_tables.shape[0] != len(self.skus):
            self._fleet_tables = (
                np.stack([self.fleet.shape_for(s, self.kinds.get(s)).table(self.lanes_per_sku[s]) for s in self.skus])
                if self.skus
                else np.zeros((0, WEEK_H))
            )
        return self._fleet_tables[i]

    def _weekly_sums(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """SKU ``i``'s weighted containers and season-scaled exposure hours per [weekday, hour]."""
        C = np.zeros((7, HOURS))
        E = np.zeros((7, HOURS))
        n_days = self._counts.shape[1]
        if n_days:
            weights, season = self._weights_and_season(i)
            dows = weekday_of_day(np.arange(n_days) + (self.first_day or 0))
            np.add.at(C, dows, self._counts[i] * weights[:, None])
            np.add.at(E, dows, self._exposure[i] * (weights * season)[:, None])
        return C, E

    def _fit_fleet_scale(self) -> None:
        """How busy this store is against the fleet's levels: one Gamma-Poisson scale over every
        SKU's sales so far (prior mean 1), so a day of a store's sales moves all its SKUs at once."""
        if self.fleet is None or not self.skus:
            self.fleet_scale = 1.0
            return
        sold = expected = 0.0
        for i in range(len(self.skus)):
            C, E = self._weekly_sums(i)
            sold += float(C.sum())
            expected += float((E * self._fleet_table(i).reshape(7, HOURS)).sum())  # type: ignore[union-attr]
        prior_n = self.prior.fleet_scale_strength_h * float(self._fleet_tables.mean(axis=1).sum())
        self.fleet_scale = (prior_n + sold) / max(prior_n + expected, 1e-9)

    def _fit_sku(self, i: int) -> None:
        p = self.prior
        C, E = self._weekly_sums(i)
        fleet = self._fleet_table(i)
        mu0 = p.prior_per_lane_day * max(1, self.lanes_per_sku[self.skus[i]]) / HOURS
        day_shape, weekday_mean = _GENERIC_DAY, np.ones(7)
        if fleet is not None and fleet.mean() > 0:
            # The fleet's shape and level (scaled to this store) instead of the generic ones, as
            # far as the prior has forecast the store's sales better than its own model.
            week = fleet.reshape(7, HOURS)
            w = self.fleet_weight
            mu0 = w * float(fleet.mean()) * self.fleet_scale + (1.0 - w) * mu0
            day_shape = w * week.mean(0) / week.mean() + (1.0 - w) * day_shape
            weekday_mean = w * week.mean(1) / week.mean() + (1.0 - w) * weekday_mean
        level = (p.level_strength_h * mu0 + C.sum()) / (p.level_strength_h + E.sum())
        ch, eh = _circular_smooth(C.sum(0)), _circular_smooth(E.sum(0))
        profile = (p.profile_strength_h * level * day_shape + ch) / (p.profile_strength_h + eh)
        weekday = (p.weekday_strength * weekday_mean + C.sum(1)) / (p.weekday_strength + (E * profile).sum(1))
        prior_bin = profile[None, :] * weekday[:, None]
        self._alpha[i] = (p.bin_strength_h * prior_bin + C).ravel()
        self._beta[i] = (p.bin_strength_h + E).ravel()
        self._mean[i] = self._alpha[i] / self._beta[i]

    def _fit_yearly(self, i: int) -> None:
        """Penalised Poisson regression of daily totals on the yearly cos/sin terms."""
        p = self.prior
        n_days = self._counts.shape[1]
        days = np.arange(n_days) + (self.first_day or 0)
        dows = weekday_of_day(days)
        table = (self._alpha[i] / self._beta[i]).reshape(7, HOURS)
        base = (table[dows] * self._exposure[i]).sum(1) * self.open_days()  # expected per day, no yearly term
        counts = self._counts[i].sum(1)
        keep = base > 0
        if keep.sum() < p.yearly_min_days:
            return
        theta = year_phase((days[keep] + 0.5) * DAY_S)
        X = np.stack([np.cos(theta), np.sin(theta)], axis=1)
        y, b0 = counts[keep], base[keep]
        # The weekly table was fitted with the current (a, b) divided out; refit relative to it.
        a_cur = self.yearly[i].copy()
        prior = np.array([p.yearly_a, p.yearly_b])

        def objective(ab: np.ndarray) -> tuple[float, np.ndarray]:
            eta = X @ ab
            mu = b0 * np.exp(eta)
            nll = float(np.sum(mu - y * eta)) + float(np.sum((ab - prior) ** 2)) / (2 * p.yearly_sd**2)
            grad = X.T @ (mu - y) + (ab - prior) / p.yearly_sd**2
            return nll, grad

        res = minimize(objective, a_cur, jac=True, method="L-BFGS-B")
        if res.success and np.all(np.isfinite(res.x)):
            self.yearly[i] = np.clip(res.x, -1.5, 1.5)

    # --- predictions --------------------------------------------------------------------

    def season(self, i: int, t: np.ndarray) -> np.ndarray:
        a, b = self.yearly[i]
        theta = year_phase(t)
        return np.exp(a * np.cos(theta) + b * np.sin(theta))

    def _interp(self, table: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Linear interpolation between hour-of-week bin centres (wrapping around the week)."""
        hw = (np.mod(t / 3600.0 + 3 * HOURS, WEEK_H)) - 0.5  # Monday 00:00 = 0; centres at .5
        lo = np.floor(hw).astype(np.int64)
        frac = hw - lo
        return table[lo % WEEK_H] * (1 - frac) + table[(lo + 1) % WEEK_H] * frac

    def rate(self, sku: str, t: float | np.ndarray) -> float | np.ndarray:
        """Posterior mean containers per hour at t (vectorised)."""
        i = self.sku_index(sku)
        tt = np.asarray(t, dtype=float)
        r = self._interp(self._alpha[i] / self._beta[i], tt) * self.season(i, tt)
        return float(r) if r.ndim == 0 else r

    def rate_sd(self, sku: str, t: float | np.ndarray) -> float | np.ndarray:
        """Posterior standard deviation of the rate at t."""
        i = self.sku_index(sku)
        tt = np.asarray(t, dtype=float)
        r = self._interp(np.sqrt(self._alpha[i]) / self._beta[i], tt) * self.season(i, tt)
        return float(r) if r.ndim == 0 else r

    def expected(self, sku: str, t0: float, t1: float, step_s: float = 300.0) -> float:
        if t1 <= t0:
            return 0.0
        n = max(1, math.ceil((t1 - t0) / step_s))
        mids = t0 + (np.arange(n) + 0.5) * (t1 - t0) / n
        return float(np.sum(self.rate(sku, mids)) * (t1 - t0) / n / 3600.0)

    def rates_matrix(self, t: np.ndarray, skus: list[str] | None = None) -> np.ndarray:
        """Mean rate (containers/hour) of each SKU (rows; default ``self.skus`` order) at each time in t:
        the weekly model's, plus a burst under way (restock.demand.burst) from the latest time seen on."""
        t = np.asarray(t, dtype=float)
        rows = (
            np.arange(len(self.skus)) if skus is None else np.array([self.sku_index(s) for s in skus], dtype=np.int64)
        )
        base = self._base_rates(t, rows)
        if self.burst.fit.gain > 0 and math.isfinite(self.last_t):
            now = self._base_rates(np.array([self.last_t]), rows)[:, 0]
            base = base + self.burst.excess(rows, now, t - self.last_t)
        return base

    def _base_rates(self, t: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """The weekly model's rates (rows: SKU indices) at times t (columns)."""
        table = self._mean[rows]
        hw = (np.mod(t / 3600.0 + 3 * HOURS, WEEK_H)) - 0.5
        lo = np.floor(hw).astype(np.int64)
        frac = hw - lo
        base = table[:, lo % WEEK_H] * (1 - frac) + table[:, (lo + 1) % WEEK_H] * frac
        theta = year_phase(t)
        a, b = self.yearly[rows, 0:1], self.yearly[rows, 1:2]
        return base * np.exp(a * np.cos(theta)[None, :] + b * np.sin(theta)[None, :])

    # --- history access (persistence, evaluation, fleet priors) -------------------------

    def week_table(self, sku: str) -> np.ndarray:
        """The fitted weekly rates of ``sku`` (containers/hour by hour of the week, Monday 00:00
        first), the yearly term divided out."""
        return self._mean[self.sku_index(sku)].copy()

    def sku_sold(self, sku: str) -> bool:
        """Whether the history holds any sale of ``sku``."""
        return bool(self._counts[self.sku_index(sku)].sum() > 0)

    def history_rows(self) -> Iterable[tuple[str, int, int, float, float]]:
        """(sku, day, hour, containers, exposure hours) for every non-empty cell."""
        if self.first_day is None:
            return
        nz = np.argwhere((self._counts != 0) | (self._exposure != 0))
        for i, d, h in nz:
            yield (
                self.skus[i],
                int(d) + self.first_day,
                int(h),
                float(self._counts[i, d, h]),
                float(self._exposure[i, d, h]),
            )

    def set_history_cell(self, sku: str, day: int, hour: int, containers: float, exposure_h: float) -> None:
        i = self.sku_index(sku)
        d = self._day_row(day)
        self._counts[i, d, hour] = containers
        self._exposure[i, d, hour] = exposure_h
