"""Lane state estimation: the expected count in every lane and its variance.

The camera sees only a lane's front (present, empty or unknown, and a fill fraction where the
column is visible); a gravity lane's count falls by one per sale. So the estimate is a small
filter per lane:

- predict: between updates the SKU's expected sales (learned rate x time) are shared among its
  lanes that show stock; the mean falls and the variance grows by the same amount (Poisson).
  Only without a point-of-sale feed: with one, the till's events are the sales (the caller
  predicts with zero rates), or every sale would be counted twice;
- restock results add the placed containers (the arm's own bookkeeping, near exact);
- point-of-sale events take containers out of their lane (or the SKU's fullest lanes);
- an "empty" front sets the lane to 0 exactly; "present" means at least one; a fill fraction
  replaces the estimate by ``fill x capacity`` with the camera's uncertainty.

A camera changes a lane's state only after several frames agree, so just after the robot filled
a lane seen empty the camera still says "empty" (a store day at 30 s frames: the next 1-2 views).
Taken as news, that wiped the placed count and the planner sent the full lane as many again, all
dropped. So a camera's "empty" that it has reported without a break since before the last
placement is its old view, not a sale of all of them, until ``settle_s`` after the placement (a
placement that failed unseen is then found). Once the camera has reported the lane present, its
next "empty" is news.

Inferred sales: when a lane whose count was known (it was seen empty and then filled by the
robot) is next seen empty, exactly that many containers were sold in between. Such an interval
is returned by :meth:`LaneEstimator.observe` so the demand model can learn without a POS feed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from restock.planning.planner import LaneTable

FILL_SD_CONTAINERS = 1.0  # the camera's fill fraction, in containers (1 sd)
PLACE_VAR = 0.1  # a placed container may not have slid down: a little doubt
# How long after a placement a camera's "empty" may be its filter catching up (3 confirming
# frames at the store day's 30 s, frames hidden by the arm, and margin).
SETTLE_S = 300.0


@dataclass(frozen=True)
class InferredSales:
    """``containers`` of the lane's SKU sold from its lane between t0 (its first restock after it
    was seen empty) and t1 (seen empty again): one lane's share of the SKU's demand."""

    lane_id: str
    sku: str
    t0: float
    t1: float
    containers: int


class LaneEstimator:
    def __init__(
        self, lanes: LaneTable, now: float = 0.0, initial_fill: float = 1.0, settle_s: float = SETTLE_S
    ) -> None:
        self.lanes = lanes
        self.settle_s = settle_s
        self.mean = lanes.capacity.astype(float) * initial_fill
        self.var = np.full(len(lanes), 4.0)  # unknown at start: a few containers either way
        self.stamp = now
        self.state = ["unknown"] * len(lanes)
        # Since a lane was last seen empty at t: (t, containers placed since) - an inferred-sales interval.
        self._anchor: list[tuple[float, int, float | None] | None] = [None] * len(lanes)
        self._sold_since_anchor = np.zeros(len(lanes))
        self._placed_at = np.full(len(lanes), -np.inf)  # the last placement's time, per lane
        # (lane, camera) -> the camera's last reported state and since when it has reported it.
        self._front: dict[tuple[int, str], tuple[str, float]] = {}

    def predict(self, now: float, pool_rates: np.ndarray) -> None:
        """Advance to ``now`` with the SKUs' rates (containers/hour, in lanes.skus order)."""
        dt = now - self.stamp
        if dt <= 0:
            return
        lt = self.lanes
        present = np.array([s == "present" for s in self.state])
        stocked = (self.mean >= 0.5) | present
        n_stocked = np.bincount(lt.pool, weights=stocked, minlength=len(lt.skus))
        per_lane = np.where(stocked, pool_rates[lt.pool] * dt / 3600.0 / np.maximum(n_stocked[lt.pool], 1), 0.0)
        # A front the camera sees as present holds at least one container.
        self.mean = np.maximum(self.mean - per_lane, np.where(present, 1.0, 0.0))
        self.var = self.var + per_lane
        self.stamp = now

    def observe(
        self, lane: int, state: str, fill: float | None, t: float, redistribute: bool = True, camera: str = ""
    ) -> InferredSales | None:
        """A camera's view of a lane front. ``redistribute``: a lane seen empty that was thought to hold
        some passes that count to the SKU's other lanes (right when its sales were predicted per SKU;
        with a till that names the lane of every sale the other lanes' counts are known, so not)."""
        cap = float(self.lanes.capacity[lane])
        inferred = None
        if state in ("present", "empty"):
            last = self._front.get((lane, camera))
            since = last[1] if last is not None and last[0] == state else t
            self._front[lane, camera] = (state, since)
            if state == "empty" and since <= self._placed_at[lane] and t - self._placed_at[lane] < self.settle_s:
                return None  # the camera's view from before the placement: the arm's count stands
        if state == "empty":
            anchor = self._anchor[lane]
            if anchor is not None and self.state[lane] != "empty" and anchor[1] > 0:
                # Sold exactly the known count minus what POS already reported.
                n = round(anchor[1] - self._sold_since_anchor[lane])
                if n > 0 and t > anchor[0]:
                    start = anchor[2] if anchor[2] is not None else anchor[0]  # first restock after empty
                    inferred = InferredSales(self.lanes.lane_ids[lane], self.lanes.lane_sku[lane], start, t, n)
            # The SKU's sales were predicted right on the whole but fell more on this lane than
            # thought: what it was thought to hold is still in the SKU's other stocked lanes.
            if redistribute:
                self._redistribute(lane, float(self.mean[lane]))
            self.mean[lane], self.var[lane] = 0.0, 0.0
            self._anchor[lane] = (t, 0, None)
            self._sold_since_anchor[lane] = 0.0
        elif state == "present":
            if fill is not None:
                self.mean[lane] = max(1.0, min(cap, fill * cap))
                self.var[lane] = FILL_SD_CONTAINERS**2
            elif self.mean[lane] < 1.0:
                self.mean[lane], self.var[lane] = 1.0, max(self.var[lane], 1.0)
        self.state[lane] = state if state in ("present", "empty") else self.state[lane]
        return inferred

    def _redistribute(self, lane: int, amount: float) -> None:
        if amount <= 0:
            return
        lt = self.lanes
        others = np.flatnonzero((lt.pool == lt.pool[lane]) & (np.arange(len(lt)) != lane) & (self.mean >= 0.5))
        if others.size == 0:
            return
        room = lt.capacity[others] - self.mean[others]
        if room.sum() <= 0:
            return
        add = np.minimum(room, amount * room / room.sum())
        self.mean[others] += add
        self.var[others] += add

    def restocked(self, lane: int, placed: int, t: float) -> None:
        cap = float(self.lanes.capacity[lane])
        self.mean[lane] = min(cap, self.mean[lane] + placed)
        self.var[lane] += PLACE_VAR * placed
        anchor = self._anchor[lane]
        if anchor is not None:
            # Everything that entered the lane since it was last seen empty: when it is empty
            # again, exactly that many were sold, whenever in between.
            first = anchor[2] if anchor[2] is not None else (t if placed > 0 else None)
            self._anchor[lane] = (anchor[0], anchor[1] + placed, first)
        if placed > 0:
            self.state[lane] = "present"
            self._placed_at[lane] = max(t, float(self._placed_at[lane]))

    def sold(self, sku_pool: int, quantity: int, lane: int | None = None) -> None:
        """Containers sold (POS): from their lane, or else the SKU's fullest lanes."""
        lt = self.lanes
        for _ in range(quantity):
            i = lane
            if i is None:
                lanes = np.flatnonzero(lt.pool == sku_pool)
                i = int(lanes[np.argmax(self.mean[lanes])])
            self.mean[i] = max(0.0, self.mean[i] - 1.0)
            self._sold_since_anchor[i] += 1.0

    def pool_counts(self) -> np.ndarray:
        return np.bincount(self.lanes.pool, weights=self.mean, minlength=len(self.lanes.skus))

    def restore(self, lane: int, mean: float, var: float) -> None:
        self.mean[lane] = min(max(mean, 0.0), float(self.lanes.capacity[lane]))
        self.var[lane] = max(var, 0.0)
