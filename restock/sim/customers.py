"""The simulator's customers and tills: who buys what, when, from which lane. No rclpy.

Customers buy by a demand model (sampled an hour at a time on fixed boundaries, with the
world's demand rng, so a run is the same whatever the step sizes) or replay a sales log. A
customer takes the front container of a lane that offers the SKU (the logged lane when it
does, else a seeded choice); when no lane does, it is a lost sale. Sometimes their hand shows
in a camera's view for a moment.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

import numpy as np

from restock.sim.bodies import Piece, Shared
from restock.sim.incidents import Incidents
from restock.sim.shelves import Shelves

SALES_WINDOW_S = 3600.0  # customers are sampled an hour at a time, on fixed boundaries (determinism)
HAND_ON_SALE_PROBABILITY = 0.3  # a customer's hand shows in view for a moment when they take one
HAND_ON_SALE_S = 1.5


class Sale(NamedTuple):
    t: float
    sku: str
    quantity: int
    lane_id: str | None = None


def as_sale(s: object) -> Sale:
    """A demand-model Sale (t, sku, quantity) or a SaleEvent record (stamp, sku, quantity, lane_id)."""
    t = getattr(s, "t", None)
    if t is None:
        t = s.stamp  # type: ignore[attr-defined]
    return Sale(float(t), str(s.sku), int(s.quantity), getattr(s, "lane_id", None))  # type: ignore[attr-defined]


class Customers(Piece):
    """The sales queue and the tills' counts (``sales``, ``lost_sales``: SKU -> containers).

    The shared rng chooses lanes and hands; ``demand_rng`` samples the demand model only.
    """

    def __init__(self, shared: Shared, shelves: Shelves, incidents: Incidents, demand_rng: np.random.Generator) -> None:
        super().__init__(shared)
        store = shared.store
        self.shelves = shelves
        self.incidents = incidents
        self.demand_rng = demand_rng
        self.cameras_of_lane: dict[str, list[str]] = {lv.id: [] for lv in store.lanes}
        for cam in store.cameras:
            for lv in store.lanes_seen_by(cam.id):
                self.cameras_of_lane[lv.id].append(cam.id)
        self.sales: dict[str, int] = {s: 0 for s in store.skus}
        self.lost_sales: dict[str, int] = {s: 0 for s in store.skus}
        self.queue: list[Sale] = []  # latest first: the next sale is the last
        self.source: Callable[[float, float], list] | None = None
        self.window_end: float | None = None

    def set_demand(self, generator: object) -> None:
        """Customers buy by a demand model (restock.demand.generator.DemandGenerator), seeded by the world."""
        sample = generator.sample  # type: ignore[attr-defined]
        self.source = lambda t0, t1: list(sample(t0, t1, self.demand_rng))
        self.queue = []
        self.window_end = self.clock()  # windows start here, on fixed boundaries
        self.fill(self.clock())

    def set_sales_log(self, sales: Iterable[object]) -> None:
        """Customers replay a sales log: restock.records.SaleEvent (``stamp``) or Sale (``t``) items.

        A logged lane_id is honoured when that lane has the SKU at its front.
        """
        self.source = None
        now = self.clock()
        queue = [as_sale(s) for s in sales]
        self.queue = sorted((s for s in queue if s.t >= now), key=lambda s: s.t, reverse=True)
        self.window_end = math.inf

    def fill(self, until: float) -> None:
        """Sample the demand model's windows that begin by ``until``."""
        if self.source is None or self.window_end is None:
            return
        now = self.clock()
        while self.window_end <= until:
            t0 = self.window_end
            t1 = t0 + SALES_WINDOW_S
            new = [as_sale(s) for s in self.source(t0, t1)]
            new = [s for s in new if s.t >= now]
            self.queue = sorted(new, key=lambda s: s.t, reverse=True) + self.queue
            self.window_end = t1

    def next_time(self) -> float:
        """When the next sale or the next demand window is due (inf: none)."""
        t = math.inf
        if self.queue:
            t = self.queue[-1].t
        if self.source is not None and self.window_end is not None:
            t = min(t, self.window_end)
        return t

    def pop_due(self, now: float) -> Sale | None:
        if self.queue and self.queue[-1].t <= now:
            return self.queue.pop()
        return None

    def buy(self, sku: str, quantity: int = 1, lane_id: str | None = None) -> int:
        """A customer takes up to ``quantity`` containers of ``sku`` from the fronts; returns how many.

        ``lane_id`` (from a sales log) is where they take it if that lane offers it; otherwise any
        lane whose front container is this SKU (seeded choice); none: a lost sale.
        """
        if sku not in self.store.skus:
            self.log("unknown_sku", sku=None, detail=f"sale of {sku!r} that the store does not sell")
            return 0
        lanes_now = self.shelves.lanes
        sold = 0
        for _ in range(quantity):
            lanes = [
                lid
                for lid in self.shelves.lanes_of_sku[sku]
                if lanes_now[lid] and lanes_now[lid][0].kind == "container" and lanes_now[lid][0].sku == sku
            ]
            if not lanes:
                self.lost_sales[sku] += 1
                self.log("lost_sale", sku=sku)
                continue
            lane = lane_id if lane_id in lanes else lanes[int(self.rng.integers(len(lanes)))]
            self.shelves.bodies.release(lanes_now[lane].pop(0))
            self.shelves.layout_lane(lane)
            self.sales[sku] += 1
            sold += 1
            self.log("sale", lane_id=lane, sku=sku)
            if self.rng.random() < HAND_ON_SALE_PROBABILITY and self.shelves.bodies.free_hands:
                cams = self.cameras_of_lane[lane]
                if cams:
                    self.incidents.show_hand(cams[0], lane, duration_s=HAND_ON_SALE_S)
        return sold

    # --- checkpoints --------------------------------------------------------------------

    def state(self) -> dict[str, object]:
        return {"sales": dict(self.sales), "lost_sales": dict(self.lost_sales)}

    def restore(self, state: Mapping[str, Any]) -> None:
        self.sales = {s: int(state["sales"].get(s, 0)) for s in self.sales}
        self.lost_sales = {s: int(state["lost_sales"].get(s, 0)) for s in self.lost_sales}
