"""How far a new store trusts its fleet prior: a running score of the prior against the store's own model.

A fleet prior (restock.demand.prior) is built from other stores; a new store may be unlike them
(other hours, other levels, other bursts), and then the prior costs sales until the store's own
sales have outweighed it. The guard watches: each time the model is refitted, the sales since the
previous fit are scored under the two forecasts made then, the model with the prior and the
store's own model without it (the same sales, the generic prior), each a negative binomial with
its own mean and the larger of the two dispersions (bursty sales are weak evidence per sale). What
is judged is the forecast's mean (the week's shape, the level, the yearly term); how bursty the
store is the model measures from its own sales anyway (restock.demand.model). The prior's weight
is the posterior probability that it forecasts better: ``sigmoid(log odds + Σ log-likelihood with
- Σ without)``, from the prior odds (:attr:`restock.demand.model.DemandPrior.fleet_prior_odds`). Only forecasts made before the sales
count (a prequential score), so a model is never judged on what it has already learned.

Pure numpy/scipy; the model (restock.demand.model) hands it its history arrays and forecasts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln


def nb_loglik(y: np.ndarray, mu: np.ndarray, dispersion: float | np.ndarray) -> np.ndarray:
    """Log-likelihood of counts ``y`` with mean ``mu`` and variance ``dispersion * mu`` (a negative
    binomial; Poisson at dispersion 1). Counts may be fractional (sales spread over hours)."""
    y = np.asarray(y, dtype=float)
    mu = np.maximum(np.asarray(mu, dtype=float), 1e-9)
    phi = np.maximum(np.asarray(dispersion, dtype=float), 1.0 + 1e-6) * np.ones_like(mu)
    r = mu / (phi - 1.0)
    return gammaln(y + r) - gammaln(r) - gammaln(y + 1.0) + r * np.log(r / (r + mu)) + y * np.log(mu / (r + mu))


@dataclass
class Forecast:
    """One model's forecast as of a fit: week tables (containers/hour per SKU), yearly terms, dispersion."""

    tables: np.ndarray  # [sku, 168]
    yearly: np.ndarray  # [sku, 2]
    dispersion: float


class FleetGuard:
    """The running score of a fleet prior against the store's own model (see the module doc)."""

    def __init__(self, prior_odds: float) -> None:
        self.log_odds = math.log(prior_odds) if prior_odds > 0 else -math.inf
        self.score = 0.0  # Σ log-likelihood with the prior - without it, over the sales scored
        self.scored = 0.0  # containers scored
        self._seen: tuple[int, np.ndarray, np.ndarray] | None = None  # (first day, counts, exposure) at the last fit
        self.forecasts: tuple[Forecast, Forecast] | None = None  # (with the prior, without) as of the last fit

    @property
    def weight(self) -> float:
        evidence = self.log_odds + self.score
        if math.isinf(evidence):
            return 1.0 if evidence > 0 else 0.0
        return 1.0 / (1.0 + math.exp(-min(max(evidence, -50.0), 50.0)))

    def new_cells(
        self, first_day: int, counts: np.ndarray, exposure: np.ndarray, open_days: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """What came since the last fit, per [sku, day, hour] cell of an open day: (sku rows, day
        numbers, hours, containers, exposure hours); then remembers the arrays as seen."""
        seen_c, seen_e = np.zeros_like(counts), np.zeros_like(exposure)
        if self._seen is not None:
            day0, c, e = self._seen
            off = day0 - first_day  # the arrays only grow (days before or after), never shrink
            if off >= 0 and off + c.shape[1] <= counts.shape[1] and c.shape[0] <= counts.shape[0]:
                seen_c[: c.shape[0], off : off + c.shape[1]] = c
                seen_e[: e.shape[0], off : off + e.shape[1]] = e
        dc, de = counts - seen_c, exposure - seen_e
        self._seen = (first_day, counts.copy(), exposure.copy())
        new = ((de > 1e-9) | (np.abs(dc) > 1e-9)) & open_days[None, :, None]
        i, d, h = np.nonzero(new)
        return i, d + first_day, h, np.maximum(dc[i, d, h], 0.0), np.maximum(de[i, d, h], 0.0)

    def add(self, containers: np.ndarray, with_prior: np.ndarray, without: np.ndarray) -> None:
        """Score new cells: their containers and each forecast's expected containers."""
        if containers.size == 0 or self.forecasts is None:
            return
        a, b = self.forecasts
        # The means compete at one dispersion, the larger: a burst is weak evidence if either
        # model expects bursts (the dispersion itself is the store's own as its days come).
        dispersion = max(a.dispersion, b.dispersion)
        self.score += float(np.sum(nb_loglik(containers, with_prior, dispersion)))
        self.score -= float(np.sum(nb_loglik(containers, without, dispersion)))
        self.scored += float(containers.sum())
