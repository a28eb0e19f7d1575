"""Short-term demand: a burst that has started goes on for a while (a nowcast on top of the weekly model).

Real sales cluster: a bus unloads, a class lets out, a vending machine's office has its break. The
weekly model (restock.demand.model) knows only the average of each hour, so the first sales of a
burst tell it nothing and the planner and the back-room alerts see the burst only once it has
emptied the shelf. Here the sales of the last minutes are an estimate of the rate *now*:

    recent(t) = Σ q_i exp(-(t - t_i) / window_s) / window_s      (containers per second)

and the part of it above the weekly model's rate is expected to go on, fading:

    rate(t + u) = base(t + u) + gain * max(recent(t) - base(t), 0) * exp(-u / decay_s)

``gain``, ``window_s`` and ``decay_s`` are learned from a sales history (:func:`fit_burst`): for each
5-minute step of the history, how much the next hour sold above the weekly model, against the
excess of the recent rate (least squares for the gain, a small grid for the two times). Demand
without clusters (Poisson around the weekly shape) gets a gain near 0, so the nowcast adds nothing
there; a log whose sales come in bursts gets a gain near 1 and a decay as long as its bursts.

A burst has an age, too: one that began five minutes ago has most of it to come, one that has run
for half an hour is nearly over, and the last minutes' rate alike says neither. So the excess is
read on a second, longer window as well, ``age_gain * (recent_long(t) - base(t))`` added inside
the max (while the short window shows an excess), fitted together with the gain: a negative
``age_gain`` is a burst that wanes with its age, 0 (a history it does not help) the nowcast above.
Exposure time, not wall time, ages the recent sales: while a SKU is sold out its sales are lost
and unseen, so a burst that emptied the shelf is not taken as over.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

STEP_S = 300.0  # the history's resolution for fitting
FIT_AHEAD_S = 3600.0  # what the fit predicts: the next hour's sales above the weekly model
WINDOWS_S = (300.0, 900.0, 1800.0)  # not below STEP_S: the fit sees the history in steps
DECAYS_S = (300.0, 900.0, 1800.0, 3600.0, 7200.0)
MAX_GAIN = 1.5
LONG_WINDOWS_S = (1800.0, 3600.0)  # the second window, for a burst's age
MAX_AGE_GAIN = 8.0  # the two windows' gains, fitted together, may grow large against each other
AGE_MIN_GAIN = 0.05  # the share of the squared error a burst's age must explain to be used


@dataclass(frozen=True)
class BurstFit:
    gain: float = 0.0  # 0: no nowcast
    window_s: float = 900.0
    decay_s: float = 1800.0
    samples: int = 0  # history steps with a positive excess the fit used
    dispersion: float = 1.0  # variance / mean of an hour's sales around the weekly model (1: Poisson)
    age_gain: float = 0.0  # the longer window's excess, for a burst's age (0: not used)
    long_window_s: float = 3600.0


def _decayed_sum(x: np.ndarray, step_s: float, window_s: float) -> np.ndarray:
    """Σ_{j<=k} x_j exp(-(k - j) step / window) along the last axis (the recent sales at the end of step k)."""
    a = float(np.exp(-step_s / window_s))
    return lfilter([1.0], [1.0, -a], x, axis=-1)


def fit_burst(counts: np.ndarray, base: np.ndarray, open_step: np.ndarray, step_s: float = STEP_S) -> BurstFit:
    """Learn the nowcast from a history: ``counts`` and ``base`` (the weekly model's expectation)
    are containers per [sku, step]; ``open_step`` marks the steps of open days (closed days and
    gaps hold no evidence). Pooled over SKUs: one gain and two times for the store."""
    n = counts.shape[1]
    ahead = round(FIT_AHEAD_S / step_s)
    if n <= ahead + 1 or counts.sum() <= 0:
        return BurstFit()
    # Sales in the next hour above the weekly model, from step k + 1 on.
    cum_x = np.concatenate([np.zeros((counts.shape[0], 1)), np.cumsum(counts - base, axis=1)], axis=1)
    future = cum_x[:, ahead + 1 : n + 1] - cum_x[:, 1 : n - ahead + 1]  # steps k = 0 .. n - ahead - 1
    closed = np.convolve((~open_step).astype(float), np.ones(ahead + 1), mode="full")
    ok = closed[ahead:n] == 0  # no closed step in k .. k + ahead
    # How clustered sales are: an hour's variance over its mean around the weekly model (method of
    # moments over the open hours; Poisson 1). Bursts make the back room's demand far less certain.
    hours = (n // ahead) * ahead
    xs = counts[:, :hours].reshape(counts.shape[0], -1, ahead).sum(axis=2)
    bs = base[:, :hours].reshape(base.shape[0], -1, ahead).sum(axis=2)
    whole = open_step[:hours].reshape(-1, ahead).all(axis=1)[None, :] & (bs > 0)
    dispersion = float(max(1.0, np.sum((xs - bs)[whole] ** 2) / max(np.sum(bs[whole]), 1e-9)))
    best = BurstFit(dispersion=dispersion)
    best_gain_sse = np.inf
    aged, aged_sse = best, np.inf
    u = (np.arange(ahead) + 0.5) * step_s
    longs = {w: (_decayed_sum(counts - base, step_s, w) / w)[:, : n - ahead] for w in LONG_WINDOWS_S}
    for window in WINDOWS_S:
        excess = (_decayed_sum(counts - base, step_s, window) / window)[:, : n - ahead]  # per second
        use = (excess > 0) & ok[None, :]
        if use.sum() < 10:
            continue
        e, f = excess[use], future[use]
        for decay in DECAYS_S:
            # The expected excess over the next hour, per unit of excess rate now.
            k = float(np.sum(np.exp(-u / decay)) * step_s)
            g = e * k
            gain = float(np.clip(np.dot(g, f) / max(np.dot(g, g), 1e-12), 0.0, MAX_GAIN))
            sse = float(np.sum((f - gain * g) ** 2))
            if sse < best_gain_sse:
                best_gain_sse = sse
                best = BurstFit(gain, window, decay, int(use.sum()), dispersion)
            for long_w in (w for w in LONG_WINDOWS_S if w > window):
                fit = _fit_with_age(g, longs[long_w][use] * k, f)
                if fit is not None and fit[2] < aged_sse:
                    aged_sse = fit[2]
                    aged = BurstFit(fit[0], window, decay, int(use.sum()), dispersion, fit[1], long_w)
    # A burst's age is taken only where it explains clearly more (noise always explains a little).
    return aged if aged_sse < (1.0 - AGE_MIN_GAIN) * best_gain_sse else best


def _fit_with_age(g: np.ndarray, h: np.ndarray, f: np.ndarray) -> tuple[float, float, float] | None:
    """Least squares of ``f`` on the short window's ``g`` and the long window's ``h`` together:
    (gain, age gain, squared error), or None where the short window's gain would not be positive."""
    a = np.array([[np.dot(g, g), np.dot(g, h)], [np.dot(g, h), np.dot(h, h)]])
    if abs(np.linalg.det(a)) < 1e-12 * max(a[0, 0] * a[1, 1], 1e-300):
        return None
    gain, age = np.linalg.solve(a, np.array([np.dot(g, f), np.dot(h, f)]))
    if not 0.0 < gain <= MAX_AGE_GAIN or abs(age) > MAX_AGE_GAIN:
        return None
    return float(gain), float(age), float(np.sum((f - np.maximum(gain * g + age * h, 0.0)) ** 2))


class BurstState:
    """The recent sales per SKU, aged by each SKU's exposure time; the nowcast's excess rate."""

    def __init__(self, fit: BurstFit | None = None) -> None:
        self.fit = fit or BurstFit()
        self.recent = np.zeros(0)  # decayed containers per SKU, as of ``clock_at``
        self.recent_long = np.zeros(0)  # the same over the fit's long window
        self.clock = np.zeros(0)  # exposure seconds per SKU
        self.clock_at = np.zeros(0)  # each SKU's exposure clock at its last sale

    def add_sku(self) -> None:
        self.recent = np.append(self.recent, 0.0)
        self.recent_long = np.append(self.recent_long, 0.0)
        self.clock = np.append(self.clock, 0.0)
        self.clock_at = np.append(self.clock_at, 0.0)

    def expose(self, rows: np.ndarray, seconds: float) -> None:
        self.clock[rows] += seconds

    def sale(self, i: int, quantity: float) -> None:
        since = self.clock[i] - self.clock_at[i]
        self.recent[i] = self.recent[i] * np.exp(-since / self.fit.window_s) + quantity
        self.recent_long[i] = self.recent_long[i] * np.exp(-since / self.fit.long_window_s) + quantity
        self.clock_at[i] = self.clock[i]

    def recent_rate(self, rows: np.ndarray, long: bool = False) -> np.ndarray:
        """Containers per hour the recent sales say (over the long window: ``long``), per SKU of ``rows``."""
        w = self.fit.long_window_s if long else self.fit.window_s
        held = self.recent_long if long else self.recent
        return held[rows] * np.exp(-(self.clock[rows] - self.clock_at[rows]) / w) * 3600.0 / w

    def excess(self, rows: np.ndarray, base_now: np.ndarray, ahead_s: np.ndarray) -> np.ndarray:
        """Containers per hour to add for each SKU of ``rows`` (rows) at ``ahead_s`` from now (columns)."""
        if self.fit.gain <= 0 or not rows.size:
            return np.zeros((rows.size, np.size(ahead_s)))
        short = self.recent_rate(rows) - base_now
        now = self.fit.gain * np.maximum(short, 0.0)
        if self.fit.age_gain:
            aged = self.fit.age_gain * (self.recent_rate(rows, long=True) - base_now)
            now = np.where(short > 0, np.maximum(now + aged, 0.0), 0.0)
        fade = np.exp(-np.maximum(np.asarray(ahead_s, dtype=float), 0.0) / self.fit.decay_s)
        return now[:, None] * np.where(np.asarray(ahead_s) >= 0, fade, 0.0)[None, :]


FINE_MAX_SKUS = 64  # the burst fit is pooled: the best sellers say how a store's sales cluster
FINE_MAX_CELLS = 4_000_000  # SKU-steps kept for it (32 MB); older days go first, 28 are kept


def fine_counts(learned: np.ndarray, n_skus: int, until: float) -> tuple[int, np.ndarray, np.ndarray]:
    """A log's sales (rows of time, SKU index, containers) per SKU and 5-minute step, from the first
    sale's day to ``until``, for the burst fit: (first step, SKU rows, counts), bounded in size."""
    sold = np.bincount(learned[:, 1].astype(np.int64), weights=learned[:, 2], minlength=n_skus)
    rows = np.sort(np.argsort(-sold, kind="stable")[: min(FINE_MAX_SKUS, n_skus)])
    step = np.floor(learned[:, 0] / STEP_S).astype(np.int64)
    per_day = round(86_400.0 / STEP_S)
    last = max(math.ceil(until / STEP_S), int(step.max()) + 1)
    first = (int(step.min()) // per_day) * per_day
    keep_days = max(28, FINE_MAX_CELLS // (rows.size * per_day))
    first = max(first, (last // per_day - keep_days) * per_day)
    where = np.full(n_skus, -1)
    where[rows] = np.arange(rows.size)
    use = (step >= first) & (where[learned[:, 1].astype(np.int64)] >= 0)
    counts = np.zeros((rows.size, last - first))
    np.add.at(counts, (where[learned[use, 1].astype(np.int64)], step[use] - first), learned[use, 2])
    return first, rows, counts
