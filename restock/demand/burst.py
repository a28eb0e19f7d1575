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
Exposure time, not wall time, ages the recent sales: while a SKU is sold out its sales are lost
and unseen, so a burst that emptied the shelf is not taken as over.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

STEP_S = 300.0  # the history's resolution for fitting
FIT_AHEAD_S = 3600.0  # what the fit predicts: the next hour's sales above the weekly model
WINDOWS_S = (300.0, 900.0, 1800.0)  # not below STEP_S: the fit sees the history in steps
DECAYS_S = (300.0, 900.0, 1800.0, 3600.0, 7200.0)
MAX_GAIN = 1.5


@dataclass(frozen=True)
class BurstFit:
    gain: float = 0.0  # 0: no nowcast
    window_s: float = 900.0
    decay_s: float = 1800.0
    samples: int = 0  # history steps with a positive excess the fit used
    dispersion: float = 1.0  # variance / mean of an hour's sales around the weekly model (1: Poisson)


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
    for window in WINDOWS_S:
        excess = (_decayed_sum(counts - base, step_s, window) / window)[:, : n - ahead]  # per second
        use = (excess > 0) & ok[None, :]
        if use.sum() < 10:
            continue
        e, f = excess[use], future[use]
        for decay in DECAYS_S:
            # The expected excess over the next hour, per unit of excess rate now.
            u = (np.arange(ahead) + 0.5) * step_s
            g = e * float(np.sum(np.exp(-u / decay)) * step_s)
            gain = float(np.clip(np.dot(g, f) / max(np.dot(g, g), 1e-12), 0.0, MAX_GAIN))
            sse = float(np.sum((f - gain * g) ** 2))
            if sse < best_gain_sse:
                best_gain_sse = sse
                best = BurstFit(gain, window, decay, int(use.sum()), dispersion)
    return best


class BurstState:
    """The recent sales per SKU, aged by each SKU's exposure time; the nowcast's excess rate."""

    def __init__(self, fit: BurstFit | None = None) -> None:
        self.fit = fit or BurstFit()
        self.recent = np.zeros(0)  # decayed containers per SKU, as of ``clock_at``
        self.clock = np.zeros(0)  # exposure seconds per SKU
        self.clock_at = np.zeros(0)  # each SKU's exposure clock at its last sale

    def add_sku(self) -> None:
        self.recent = np.append(self.recent, 0.0)
        self.clock = np.append(self.clock, 0.0)
        self.clock_at = np.append(self.clock_at, 0.0)

    def expose(self, rows: np.ndarray, seconds: float) -> None:
        self.clock[rows] += seconds

    def sale(self, i: int, quantity: float) -> None:
        w = self.fit.window_s
        self.recent[i] = self.recent[i] * np.exp(-(self.clock[i] - self.clock_at[i]) / w) + quantity
        self.clock_at[i] = self.clock[i]

    def recent_rate(self, rows: np.ndarray) -> np.ndarray:
        """Containers per hour the recent sales say, per SKU of ``rows``."""
        w = self.fit.window_s
        return self.recent[rows] * np.exp(-(self.clock[rows] - self.clock_at[rows]) / w) * 3600.0 / w

    def excess(self, rows: np.ndarray, base_now: np.ndarray, ahead_s: np.ndarray) -> np.ndarray:
        """Containers per hour to add for each SKU of ``rows`` (rows) at ``ahead_s`` from now (columns)."""
        if self.fit.gain <= 0 or not rows.size:
            return np.zeros((rows.size, np.size(ahead_s)))
        now = self.fit.gain * np.maximum(self.recent_rate(rows) - base_now, 0.0)
        fade = np.exp(-np.maximum(np.asarray(ahead_s, dtype=float), 0.0) / self.fit.decay_s)
        return now[:, None] * np.where(np.asarray(ahead_s) >= 0, fade, 0.0)[None, :]
