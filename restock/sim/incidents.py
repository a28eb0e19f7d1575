"""What goes wrong in a store: foreign items, obstructions and customers' hands. No rclpy.

An unfamiliar item lands in a lane's column (a customer put back something the store does not
sell); a stock mix-up puts another SKU at the front of a back-room location (staff filed a case in
the wrong place: the wrist camera must catch it before it is placed); an obstruction lands at a
lane's front or in the arm's corridor (a box at a store-frame point: the arm stops on touching it);
a hand reaches to a lane's front in view of a camera for
a moment. Each can be placed by hand, from a script (restock.sim.events), or at seeded random
times (:meth:`Incidents.random_events`); one that cannot happen (no room, no body left) is
logged as ``event_skipped`` instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from restock.sim.bodies import Item, ObjectInfo, Piece, Shared
from restock.sim.shelves import Shelves

CORRIDOR_BOX = (0.2, 0.15, 0.25)  # m: an obstruction in the arm's corridor
MIXUP_WIDTH = 0.008  # m: a random stock mix-up is a SKU this close in width (it fits the same fingers)


class Incidents(Piece):
    """Foreign items, obstructions (in lanes and in the corridor) and shown hands.

    ``schedule(t, action)`` (the world's) runs an action at sim time t: a hand withdraws, a
    random event happens.
    """

    def __init__(self, shared: Shared, shelves: Shelves, schedule: Callable[[float, Callable[[], None]], None]) -> None:
        super().__init__(shared)
        self.shelves = shelves
        self.schedule = schedule
        self.corridor: list[tuple[Item, np.ndarray]] = []
        self.hands: dict[int, int] = {}  # body -> mocap of a shown hand

    def put_unfamiliar(self, lane_id: str, slot: int | None = None) -> int:
        """Put an item the store does not sell into a lane's column (None: at the back); returns its id."""
        items = self.shelves.lanes[self.shelves.lane(lane_id).id]
        item = self.bodies.new_unfamiliar()
        if item.pitch > self.shelves.free_length(lane_id) + 1e-9:
            if not items:
                self.bodies.release(item)
                raise ValueError(f"lane {lane_id}: no room")
            self.bodies.release(items.pop())  # a customer pushed the back container out of the way
        items.insert(len(items) if slot is None else min(slot, len(items)), item)
        self.shelves.layout_lane(lane_id)
        self.log("unfamiliar", lane_id=lane_id)
        return item.body

    def put_obstruction(self, lane_id: str | None = None, at: Sequence[float] | None = None) -> int:
        """An obstruction in a lane's column (at its front), or a box at store point ``at`` in the arm's corridor."""
        if (lane_id is None) == (at is None):
            raise ValueError("give exactly one of lane_id or at")
        if lane_id is not None:
            lv = self.shelves.lane(lane_id)
            item = self.bodies.new_obstruction((lv.lane.width * 0.8, 0.1, 0.05))
            items = self.shelves.lanes[lv.id]
            while item.pitch > self.shelves.free_length(lane_id) + 1e-9 and items:
                self.bodies.release(items.pop())
            items.insert(0, item)
            self.shelves.layout_lane(lane_id)
            self.log("obstruction", lane_id=lane_id)
            return item.body
        pos = np.asarray(at, dtype=float)
        item = self._place_in_corridor(pos)
        self.log("obstruction", detail=f"in the corridor at {pos.round(3).tolist()}")
        return item.body

    def _place_in_corridor(self, pos: np.ndarray) -> Item:
        item = self.bodies.new_obstruction(CORRIDOR_BOX)
        self.corridor.append((item, pos))
        self.bodies.show(item.body, pos)
        return item

    def remove_from_corridor(self, body: int) -> None:
        entry = next(e for e in self.corridor if e[0].body == body)
        self.corridor.remove(entry)
        self.bodies.release(entry[0])

    def put_mixup(self, location_id: str, sku: str | None = None) -> str:
        """Staff put another SKU into a back-room location by mistake (None: one as wide as the
        location's, give or take MIXUP_WIDTH, that the arm's fingers close on as they would on its
        own); returns the SKU."""
        loc = self.store.stock_by_id[location_id]
        if sku is None:
            own = self.store.skus[loc.sku].across
            alike = sorted(s for s, k in self.store.skus.items() if s != loc.sku and abs(k.across - own) <= MIXUP_WIDTH)
            if not alike:
                raise ValueError(f"no SKU of the store is as wide as {loc.sku} to be mixed up with it")
            sku = alike[int(self.rng.integers(len(alike)))]
        self.shelves.mix_up(location_id, sku)
        return sku

    def show_hand(self, camera_id: str, lane_id: str | None = None, duration_s: float | None = None) -> int:
        """A customer's hand reaching to a lane's front in view of a camera; returns its id."""
        seen = self.store.lanes_seen_by(camera_id)
        if lane_id is None:
            lane_id = seen[int(self.rng.integers(len(seen)))].id if seen else self.store.lanes[0].id
        if not self.bodies.free_hands:
            raise RuntimeError("all hand bodies are in use")
        body = self.bodies.free_hands.pop()
        x, y, z = self.shelves.lane(lane_id).front_point()
        pos = [x + float(self.rng.uniform(-0.02, 0.02)), y + 0.07, z + 0.02]
        yaw = float(self.rng.uniform(-0.3, 0.3))
        self.bodies.show(body, pos, [math.cos(yaw / 2), 0, 0, math.sin(yaw / 2)])
        self.hands[body] = int(self.bodies.model.body_mocapid[body])
        self.log("hand", lane_id=lane_id, detail=camera_id)
        if duration_s is not None:
            self.schedule(self.clock() + duration_s, lambda: self.hide_hand(body))
        return body

    def hide_hand(self, object_id: int) -> None:
        if object_id in self.hands:
            del self.hands[object_id]
            self.bodies.park(object_id)
            self.bodies.free_hands.append(object_id)

    def find(self, body: int) -> ObjectInfo | None:
        """What a body is if it is a corridor obstruction or a shown hand."""
        for item, _ in self.corridor:
            if item.body == body:
                return ObjectInfo(body, "obstruction", corridor=True)
        if body in self.hands:
            return ObjectInfo(body, "hand")
        return None

    def random_events(
        self,
        rate_per_hour: float,
        kinds: Sequence[str] = ("unfamiliar", "obstruction", "hand"),
        until: float | None = None,
    ) -> int:
        """Schedule seeded random events (Poisson, ``rate_per_hour``) until ``until`` (default: a day)."""
        now = self.clock()
        until = now + 86400.0 if until is None else until
        n = int(self.rng.poisson(rate_per_hour * (until - now) / 3600.0))
        times = np.sort(self.rng.uniform(now, until, n))
        for t in times:
            kind = kinds[int(self.rng.integers(len(kinds)))]
            lane = self.store.lanes[int(self.rng.integers(len(self.store.lanes)))].id
            cam = self.store.cameras[int(self.rng.integers(len(self.store.cameras)))].id
            if kind == "mixup":
                locs = self.store.stock.locations
                loc = locs[int(self.rng.integers(len(locs)))].id
                self.schedule(t, lambda loc=loc: self.attempt(lambda: self.put_mixup(loc)))
            elif kind == "unfamiliar":
                self.schedule(t, lambda lane=lane: self.attempt(lambda: self.put_unfamiliar(lane)))
            elif kind == "obstruction":
                self.schedule(t, lambda lane=lane: self.attempt(lambda: self.put_obstruction(lane_id=lane)))
            elif kind == "hand":
                self.schedule(t, lambda cam=cam: self.attempt(lambda: self.show_hand(cam, duration_s=3.0)))
            else:
                raise ValueError(f"unknown event kind {kind!r}")
        return n

    def attempt(self, action: Callable[[], object]) -> None:
        """Run an incident; one that cannot happen is logged as skipped."""
        try:
            action()
        except (RuntimeError, ValueError) as err:  # pools exhausted, no room: the event does not happen
            self.log("event_skipped", detail=str(err))

    # --- checkpoints --------------------------------------------------------------------

    def state(self) -> dict[str, object]:
        return {"corridor": [pos.tolist() for _, pos in self.corridor]}

    def restore(self, state: Mapping[str, Any]) -> None:
        """The corridor's obstructions of a checkpoint (hands in view are not kept)."""
        for item, _ in self.corridor:
            self.bodies.release(item)
        self.corridor = []
        for pos in state["corridor"]:
            self._place_in_corridor(np.asarray(pos, dtype=float))
