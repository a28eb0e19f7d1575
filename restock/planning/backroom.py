"""The back room as a resource: when each SKU's stock behind the rail runs out, and when to tell staff.

Between two deliveries (the store's refill schedule) a SKU's supply is what is on the shelf plus
what is in the back room. With demand ``D`` from now until the next delivery (the forecast's
rates summed over time) the expected sales lost for want of stock are, for ``D ~ Poisson(mu)``
and supply ``s``, ``E[(D - s)+] = mu P(D >= s) - s P(D > s)``: the *sales at risk*, which no
robot can save. The back room itself empties earlier, once the robot has moved it forward: the
robot keeps the shelf topped up, so the back room first loses what the shelf lacks now
(``pool capacity - shelf``) and then what sells.

An alert is raised for a SKU when sales are at risk before the next delivery and its back room is
predicted empty within ``lead_s``: staff get that long to bring stock, and the back room has room
for it by then (an alert right after a delivery would find a full rack). It clears once the risk
is gone (demand fell short of the forecast), with a margin so it does not flap, when stock
arrives, or when staff answer it (even finding the rack too full to take anything): if the risk
remains, a new alert follows. The same :class:`BackroomWatch` serves the planner node (restock.planning.core) and the
store model's policies (restock.planning.policies), so both raise the same alerts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.special import pdtr
from scipy.stats import nbinom

from restock import records
from restock.planning.planner import RateFn
from restock.store.description import StockRefill

DAY_S = 86_400.0


@dataclass(frozen=True)
class AlertConfig:
    lead_s: float = 3600.0  # raise when the back room is predicted empty within this (staff's lead time)
    min_at_risk: float = 2.0  # expected sales at risk before the next delivery that raise an alert
    clear_fraction: float = 0.5  # an alert clears when the risk falls below this fraction of min_at_risk
    step_s: float = 300.0  # resolution of the demand forecast


def next_delivery(refill: StockRefill, t: float) -> float:
    """The first scheduled delivery strictly after ``t`` (every ``every_h`` from ``first_at_h``, each day)."""
    day0 = math.floor(t / DAY_S) * DAY_S
    first = day0 + refill.first_at_h * 3600.0
    k = math.floor((t - first) / (refill.every_h * 3600.0)) + 1
    nxt = first + max(k, 0) * refill.every_h * 3600.0
    if nxt >= day0 + DAY_S:  # the schedule starts again each day at first_at_h
        nxt = day0 + DAY_S + refill.first_at_h * 3600.0
    return nxt


def expected_short(mu: np.ndarray, supply: np.ndarray, dispersion: float = 1.0) -> np.ndarray:
    """E[(D - s)+] for D ~ Poisson(mu), elementwise; with ``dispersion`` > 1 (variance over mean:
    sales that come in bursts), D is negative binomial with that variance."""
    mu = np.asarray(mu, dtype=float)
    s = np.maximum(np.asarray(supply, dtype=float), 0.0)
    if dispersion > 1.0 + 1e-6:
        # E[(D - s)+] = mu - sum_{j < s} P(D > j), s rounded down to whole containers.
        whole = np.floor(s).astype(np.int64)
        j = np.arange(max(int(whole.max(initial=0)), 1))
        r = np.maximum(mu, 1e-12) / (dispersion - 1.0)
        p = 1.0 / dispersion
        # The pmf by recurrence (a re-plan does this for every SKU); scipy where p^r would underflow.
        steps = np.empty((mu.size, j.size))
        steps[:, 0] = np.exp(r * np.log(p))
        steps[:, 1:] = (j[None, :-1] + r[:, None]) / (j[None, 1:]) * (1.0 - p)
        tail = 1.0 - np.cumsum(np.cumprod(steps, axis=1), axis=1)
        under = r * np.log(p) < -700.0
        if under.any():
            tail[under] = nbinom.sf(j[None, :], r[under][:, None], p)
        tail = np.clip(tail, 0.0, 1.0) * (j[None, :] < whole[:, None])
        return np.maximum(mu - tail.sum(axis=1), 0.0)
    ge = np.where(s > 0, 1.0 - pdtr(s - 1.0, mu), 1.0)  # P(D >= s)
    gt = 1.0 - pdtr(s, mu)  # P(D > s)
    return np.maximum(mu * ge - s * gt, 0.0)


@dataclass(frozen=True)
class BackroomForecast:
    """Per SKU (the planner's ``lanes.skus`` order): the forecast until the next delivery."""

    now: float
    next_delivery: float
    back_room: np.ndarray  # containers now
    shelf: np.ndarray  # containers on the shelf now
    empty_at: np.ndarray  # when the back room runs empty (inf: not before the delivery)
    at_risk: np.ndarray  # expected sales lost before the delivery for want of stock
    demand: np.ndarray  # expected containers demanded until the delivery


def forecast(
    now: float,
    rates: RateFn,
    back_room: np.ndarray,
    shelf: np.ndarray,
    pool_capacity: np.ndarray,
    until: float,
    step_s: float = 300.0,
    dispersion: float = 1.0,
) -> BackroomForecast:
    """``dispersion``: the variance over the mean of demand (restock.demand.burst; 1: Poisson). With
    bursts the back room may go much sooner than the mean says: it is taken as empty once the
    mean plus one standard deviation of the excess over Poisson reaches it, and the sales at risk
    are those of a negative binomial."""
    back = np.maximum(np.asarray(back_room, dtype=float), 0.0)
    shelf = np.maximum(np.asarray(shelf, dtype=float), 0.0)
    span = max(until - now, step_s)
    n = max(1, math.ceil(span / step_s))
    dt = span / n
    mids = now + (np.arange(n) + 0.5) * dt
    cum = np.cumsum(np.maximum(rates(mids), 0.0) * (dt / 3600.0), axis=1)
    # The robot first fills the shelf from the back room, then passes on what sells.
    lasts = back - np.minimum(back, np.maximum(pool_capacity - shelf, 0.0))
    reached = cum + np.sqrt(max(dispersion - 1.0, 0.0) * cum) >= np.maximum(lasts, 1e-9)[:, None]
    first = np.argmax(reached, axis=1)
    hit = reached[np.arange(cum.shape[0]), first]
    empty_at = np.where(back <= 0, now, np.where(hit, now + (first + 1) * dt, np.inf))
    demand = cum[:, -1]
    at_risk = expected_short(demand, back + shelf, dispersion)
    return BackroomForecast(now, until, back, shelf, empty_at, at_risk, demand)


@dataclass(frozen=True)
class AlertChange:
    """An alert raised, updated or cleared for one SKU (pool index), with the forecast behind it."""

    pool: int
    stamp: float
    state: str  # "raised" or "cleared"
    alert_id: str
    empty_at: float
    next_delivery: float
    at_risk: float
    back_room: int


@dataclass
class BackroomWatch:
    """Which SKUs have an alert out, raised and cleared with hysteresis from each forecast."""

    n_pools: int
    config: AlertConfig = field(default_factory=AlertConfig)
    active: dict[int, str] = field(default_factory=dict)  # pool -> alert id
    seq: int = 0
    last: BackroomForecast | None = None

    def update(self, fc: BackroomForecast) -> list[AlertChange]:
        c = self.config
        before = self.last
        self.last = fc
        changes = []
        for p in range(self.n_pools):
            risk = float(fc.at_risk[p])
            soon = float(fc.empty_at[p]) <= fc.now + c.lead_s
            arrived = before is not None and fc.back_room[p] > before.back_room[p]
            if p not in self.active and risk >= c.min_at_risk and soon:
                self.seq += 1
                self.active[p] = f"backroom-{self.seq}"
                changes.append(self._change(fc, p, "raised"))
            elif p in self.active and (arrived or risk < c.clear_fraction * c.min_at_risk):
                changes.append(self._change(fc, p, "cleared"))
                del self.active[p]
        return changes

    def answered(self, p: int, alert_id: str | None = None) -> AlertChange | None:
        """Staff answered pool ``p``'s alert (``alert_id``; None: whichever is out): it is closed,
        whatever they found room for. A rack that was still full when they came takes nothing, and
        an alert kept open would call nobody when the rack runs low later; if the risk stays, the
        next forecast raises a new one."""
        if p not in self.active or (alert_id is not None and self.active[p] != alert_id) or self.last is None:
            return None
        change = self._change(self.last, p, "cleared")
        del self.active[p]
        return change

    def _change(self, fc: BackroomForecast, p: int, state: str) -> AlertChange:
        return AlertChange(
            p,
            fc.now,
            state,
            self.active[p],
            float(fc.empty_at[p]),
            fc.next_delivery,
            float(fc.at_risk[p]),
            round(float(fc.back_room[p])),
        )


def describe(sku: str, change: AlertChange) -> str:
    """One line for staff: "cola_500: back room empty at about 15:40, next delivery 17:00, ~38 sales at risk"."""

    def hhmm(t: float) -> str:
        return f"{int(t % DAY_S // 3600):02d}:{int(t % 3600 // 60):02d}"

    if change.state == "cleared":
        return f"{sku}: back room no longer at risk before the {hhmm(change.next_delivery)} delivery"
    when = "now" if change.empty_at <= change.stamp else f"at about {hhmm(change.empty_at)}"
    return (
        f"{sku}: back room empty {when}, next delivery {hhmm(change.next_delivery)}, "
        f"~{change.at_risk:.0f} sales at risk"
    )


def alert_record(sku: str, change: AlertChange) -> records.BackroomAlert:
    """The record staff get (planner/backroom_alerts)."""
    empty = change.empty_at if math.isfinite(change.empty_at) else None
    return records.BackroomAlert(
        alert_id=change.alert_id,
        stamp=change.stamp,
        sku=sku,
        state=change.state,  # type: ignore[arg-type]
        back_room=max(change.back_room, 0),
        empty_at=empty,
        next_delivery=change.next_delivery,
        sales_at_risk=round(max(change.at_risk, 0.0), 2),
        lead_s=None if empty is None else max(empty - change.stamp, 0.0),
        message=describe(sku, change),
    )
