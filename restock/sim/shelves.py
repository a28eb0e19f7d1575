"""The simulator's shelves and back room: gravity-fed lanes and stock locations. No rclpy.

Lanes are gravity-fed columns kept as bookkeeping (no free-jointed containers): index 0 is the
front a customer sees; an item put at the back slides forward behind the others. Where the arm
works, contact physics decides (restock.sim.handling): a container that did not slide home or
tipped over stays where it lies (``Item.stuck``), and it and whatever comes behind it block the
lane until a person clears it (:meth:`Shelves.unstick`). Each back-room
stock location shows its front container at the location's pick point while it holds any. Staff
fill every location to capacity on ``store.stock.refill`` (each day from ``first_at_h``, every
``every_h`` hours) and top one up when an alert asks (:meth:`Shelves.staff_top_up`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from restock.records import LaneTruth
from restock.sim.bodies import Item, ObjectInfo, Piece, Shared
from restock.store.description import LaneView


class Shelves(Piece):
    """Lane columns and back-room stock, placed as bodies."""

    def __init__(self, shared: Shared) -> None:
        super().__init__(shared)
        store = shared.store
        self.lanes_of_sku: dict[str, list[str]] = {sku: [] for sku in store.skus}
        for lv in store.lanes:
            self.lanes_of_sku[lv.lane.sku].append(lv.id)
        self.lanes: dict[str, list[Item]] = {lv.id: [] for lv in store.lanes}
        self.stock: dict[str, int] = {loc.id: loc.quantity for loc in store.stock.locations}
        self.stock_front: dict[str, Item | None] = {loc.id: None for loc in store.stock.locations}
        # Stock mix-ups: SKUs put into a location by mistake, at its front (the next ones picked).
        self.mixups: dict[str, list[str]] = {loc.id: [] for loc in store.stock.locations}
        # A stock front container pushed off its pick point (x, y offsets, m): a fault, or an arm's miss.
        self.stock_nudge: dict[str, tuple[float, float]] = {}
        self.next_refill = math.inf  # set by the world from its clock

    def lane(self, lane_id: str) -> LaneView:
        try:
            return self.store.lane_by_id[lane_id]
        except KeyError:
            raise KeyError(f"no lane {lane_id!r} in store {self.store.name}") from None

    # --- lanes (gravity-fed columns) ----------------------------------------------------

    def layout_lane(self, lane_id: str) -> None:
        """Every item at its place in the column; a stuck one (and what lies behind it) where it lies."""
        lv = self.lane(lane_id)
        tilt = math.radians(lv.row.tilt_deg)
        quat = (math.cos(-tilt / 2), math.sin(-tilt / 2), 0.0, 0.0)
        y = lv.front_y
        for item in self.lanes[lane_id]:
            if item.pose is not None:
                self.bodies.show(item.body, *item.pose)
                continue
            cy = y - item.pitch / 2
            self.bodies.show(item.body, (lv.lane.x, cy, lv.board_z(cy) + item.height / 2), quat)
            y -= item.pitch

    def item_pose(
        self, lane_id: str, index: int
    ) -> tuple[tuple[float, float, float], tuple[float, float, float, float]]:
        item = self.lanes[lane_id][index]
        if item.pose is not None:
            return item.pose
        tilt = math.radians(self.lane(lane_id).row.tilt_deg)
        return self.item_centre(lane_id, index), (math.cos(-tilt / 2), math.sin(-tilt / 2), 0.0, 0.0)

    def stuck(self, lane_id: str) -> bool:
        return any(i.stuck for i in self.lanes[lane_id])

    def column_back(self, lane_id: str) -> float:
        """The store y of the back face of the lane's column (a stuck item's back where it lies)."""
        lv = self.lane(lane_id)
        back = lv.front_y - sum(i.pitch for i in self.lanes[lane_id] if i.pose is None)
        for i in self.lanes[lane_id]:
            if i.pose is not None:
                reach = i.pitch / 2 if i.stuck == "jammed" else max(i.pitch, i.height) / 2
                back = min(back, i.pose[0][1] - reach)
        return back

    def free_length(self, lane_id: str) -> float:
        return self.column_back(lane_id) - self.lane(lane_id).back_y

    def unstick(self, lane_id: str) -> int:
        """A person straightens the lane's stuck containers (they slide home); those with no room
        left are taken out. Returns how many were stuck."""
        items = self.lanes[lane_id]
        n = sum(1 for i in items if i.stuck)
        for i in items:
            i.stuck, i.pose = None, None
        depth = self.lane(lane_id).row.depth
        while items and sum(i.pitch for i in items) > depth + 1e-9:
            self.bodies.release(items.pop())
        self.layout_lane(lane_id)
        return n

    def item_centre(self, lane_id: str, index: int) -> tuple[float, float, float]:
        lv = self.lane(lane_id)
        items = self.lanes[lane_id]
        if items[index].pose is not None:
            return items[index].pose[0]  # type: ignore[index]
        y = lv.front_y - sum(i.pitch for i in items[:index] if i.pose is None) - items[index].pitch / 2
        return (lv.lane.x, y, lv.board_z(y) + items[index].height / 2)

    def set_lane(self, lane_id: str, items: Iterable[str], check_room: bool = True) -> None:
        """Replace a lane's column: SKU ids, "unfamiliar" or "obstruction", front first.
        ``check_room=False`` (a restored checkpoint) keeps every item even where a foreign one
        drew a longer shape than before: losing a container would change the store."""
        for item in self.lanes[self.lane(lane_id).id]:
            self.bodies.release(item)
        self.lanes[lane_id] = []
        for what in items:
            if what == "unfamiliar":
                item = self.bodies.new_unfamiliar()
            elif what == "obstruction":
                item = self.bodies.new_obstruction((0.05, 0.1, 0.05))
            elif what in self.store.skus:
                item = self.bodies.new_container(what)
            else:
                raise KeyError(f"{what!r} is no SKU of the store, nor 'unfamiliar' or 'obstruction'")
            if check_room and item.pitch > self.free_length(lane_id) + 1e-9:
                self.bodies.release(item)
                raise ValueError(f"lane {lane_id}: no room for {what}")
            self.lanes[lane_id].append(item)
        self.layout_lane(lane_id)

    def fill_lanes(self, fill: float | Mapping[str, int]) -> None:
        """Set every lane to a fraction of its capacity, or given lanes to given counts of their SKU."""
        if isinstance(fill, Mapping):
            for lane_id, n in fill.items():
                self.set_lane(lane_id, [self.lane(lane_id).lane.sku] * int(n))
            return
        if not 0 <= fill <= 1:
            raise ValueError(f"fill must be in [0, 1], got {fill}")
        for lv in self.store.lanes:
            self.set_lane(lv.id, [lv.lane.sku] * round(lv.lane.capacity * fill))

    def info_in_lane(self, lane_id: str, k: int) -> ObjectInfo:
        return self.bodies.info(self.lanes[lane_id][k], lane_id=lane_id, slot=k)

    def lane_contents(self, lane_id: str) -> list[ObjectInfo]:
        return [self.info_in_lane(lane_id, k) for k in range(len(self.lanes[self.lane(lane_id).id]))]

    def lane_count(self, lane_id: str) -> int:
        """Containers (of any SKU) in the lane."""
        return sum(1 for i in self.lanes[self.lane(lane_id).id] if i.kind == "container")

    def lane_counts(self) -> dict[str, int]:
        return {lane_id: self.lane_count(lane_id) for lane_id in self.lanes}

    def take_front(self, lane_id: str, n: int = 1) -> list[ObjectInfo]:
        """A person takes the front n items without a sale (staff, an operator); the rest slide forward."""
        taken = []
        for _ in range(n):
            if not self.lanes[self.lane(lane_id).id]:
                break
            taken.append(self.info_in_lane(lane_id, 0))
            self.bodies.release(self.lanes[lane_id].pop(0))
        self.layout_lane(lane_id)
        return taken

    def remove_from_lane(self, lane_id: str, body: int) -> None:
        items = self.lanes[lane_id]
        item = next(i for i in items if i.body == body)
        items.remove(item)
        self.bodies.release(item)
        self.layout_lane(lane_id)

    def find(self, body: int) -> ObjectInfo | None:
        """What a body is if it is in a lane or at a stock location's front."""
        for lane_id, items in self.lanes.items():
            for k, item in enumerate(items):
                if item.body == body:
                    return self.bodies.info(item, lane_id=lane_id, slot=k)
        for loc_id, front in self.stock_front.items():
            if front is not None and front.body == body:
                return self.bodies.info(front, stock_location=loc_id)
        return None

    # --- stock --------------------------------------------------------------------------

    def stock_quantity(self, location_id: str) -> int:
        return self.stock[location_id]

    def update_stock_fronts(self) -> None:
        for loc in self.store.stock.locations:
            front = self.stock_front[loc.id]
            if self.stock[loc.id] > 0 and front is None:
                mixed = self.mixups[loc.id]
                front = self.bodies.new_container(mixed[0] if mixed else loc.sku)
                self.stock_front[loc.id] = front
                x, y, z = self.store.stock_pick_point(loc)
                dx, dy = self.stock_nudge.get(loc.id, (0.0, 0.0))
                self.bodies.show(front.body, (x + dx, y + dy, z))
            elif self.stock[loc.id] == 0 and front is not None:
                self.bodies.release(front)
                self.stock_front[loc.id] = None

    def take_stock_front(self, location_id: str) -> None:
        """The arm took the location's front container (its body is the arm's now)."""
        front = self.stock_front[location_id]
        self.stock[location_id] -= 1
        self.stock_front[location_id] = None
        if front is not None and self.mixups[location_id] and front.sku == self.mixups[location_id][0]:
            self.mixups[location_id].pop(0)
        self.update_stock_fronts()

    def put_back(self, location_id: str, item: Item) -> bool:
        """The arm put a container back at a location's pick point: it is the front again, a
        mix-up again if it is not the location's SKU. False: the location is full."""
        loc = self.store.stock_by_id[location_id]
        if self.stock[location_id] >= loc.capacity:
            return False
        if item.sku != loc.sku:
            self.mixups[location_id].insert(0, item.sku)  # type: ignore[arg-type]
        self.stock[location_id] += 1
        self._refresh_front(location_id)
        self.bodies.release(item)
        return True

    def mix_up(self, location_id: str, sku: str) -> None:
        """Staff put a container of ``sku`` into another SKU's location by mistake: it stands at the
        front (in place of one of the location's own when the location is full)."""
        loc = self.store.stock_by_id[location_id]
        if sku not in self.store.skus or sku == loc.sku:
            raise ValueError(f"{sku!r} is no other SKU of the store than {loc.sku}")
        if self.stock[location_id] < loc.capacity:
            self.stock[location_id] += 1
        elif self.stock[location_id] <= len(self.mixups[location_id]):
            raise ValueError(f"stock {location_id}: no room for a mix-up")
        self.mixups[location_id].insert(0, sku)
        self._refresh_front(location_id)
        self.log("mixup", sku=sku, detail=f"in stock {location_id} ({loc.sku})")

    def clear_mixups(self, location_id: str) -> int:
        """A person takes the wrong containers out of a location; returns how many."""
        n = len(self.mixups[location_id])
        if n:
            self.stock[location_id] -= n
            self.mixups[location_id] = []
            self._refresh_front(location_id)
        return n

    def _refresh_front(self, location_id: str) -> None:
        front = self.stock_front[location_id]
        if front is not None:
            self.bodies.release(front)
            self.stock_front[location_id] = None
        self.update_stock_fronts()

    def refill_after(self, t: float) -> float:
        """The first scheduled delivery after epoch time t."""
        refill = self.store.stock.refill
        day0 = math.floor(t / 86400.0) * 86400.0
        k = math.floor((t - day0 - refill.first_at_h * 3600.0) / (refill.every_h * 3600.0)) + 1
        nxt = day0 + refill.first_at_h * 3600.0 + max(k, 0) * refill.every_h * 3600.0
        if nxt >= day0 + 86400.0:  # the schedule restarts each day at first_at_h
            nxt = day0 + 86400.0 + refill.first_at_h * 3600.0
        return nxt

    def refill_stock(self) -> None:
        """Staff fill every back-room location to its capacity."""
        added = 0
        for loc in self.store.stock.locations:
            added += loc.capacity - self.stock[loc.id]
            self.stock[loc.id] = loc.capacity
        self.update_stock_fronts()
        self.log("refill", detail=f"{added} containers")

    def refill_if_due(self, now: float) -> bool:
        """Run the scheduled delivery if its time has come; True if it ran."""
        if self.next_refill > now:
            return False
        self.next_refill = self.refill_after(self.next_refill + 1e-6)
        self.refill_stock()
        return True

    def staff_top_up(self, sku: str, quantity: int = 0) -> tuple[str, int, int]:
        """Staff bring ``quantity`` containers of ``sku`` to its back-room location (0: up to
        capacity), outside the delivery schedule; returns (location id, added, now there)."""
        loc = next((x for x in self.store.stock.locations if x.sku == sku), None)
        if loc is None:
            raise ValueError(f"no back-room location for {sku!r}")
        room = loc.capacity - self.stock[loc.id]
        added = room if quantity <= 0 else min(room, quantity)
        self.stock[loc.id] += added
        self.update_stock_fronts()
        self.log("staff_refill", sku=sku, detail=f"{added} containers to {loc.id}")
        return loc.id, added, self.stock[loc.id]

    def return_to_stock(self, sku: str) -> None:
        """A container comes back to its location (a restarted arm put down what it held)."""
        loc = next((x for x in self.store.stock.locations if x.sku == sku), None)
        if loc is not None:
            self.stock[loc.id] = min(self.stock[loc.id] + 1, loc.capacity)

    # --- checkpoints --------------------------------------------------------------------

    def state(self) -> dict[str, object]:
        return {
            "lanes": {lane_id: [i.what for i in items] for lane_id, items in self.lanes.items()},
            "stock": dict(self.stock),
            "mixups": {loc: list(skus) for loc, skus in self.mixups.items() if skus},
        }

    def truth(self) -> dict[str, LaneTruth]:
        """Every lane's column for the ground truth."""
        out = {}
        for lv in self.store.lanes:
            items = self.lanes[lv.id]
            out[lv.id] = LaneTruth(
                sku=lv.lane.sku,
                capacity=lv.lane.capacity,
                count=self.lane_count(lv.id),
                items=[i.what for i in items],
            )
        return out

    def restore_lanes(self, lanes: Mapping[str, Iterable[str]]) -> None:
        for lane_id, items in lanes.items():
            self.set_lane(lane_id, items, check_room=False)

    def restore_stock(
        self, stock: Mapping[str, int], held_sku: str | None, mixups: Mapping[str, list[str]] | None = None
    ) -> None:
        """The back room of a checkpoint; a container the arm held goes back to its location."""
        self.stock = {loc: int(stock[loc]) for loc in self.stock}
        self.mixups = {loc: list((mixups or {}).get(loc, [])) for loc in self.stock}
        for loc, front in self.stock_front.items():
            if front is not None:  # the front is drawn afresh: it may be a mix-up now
                self.bodies.release(front)
                self.stock_front[loc] = None
        if held_sku is not None:
            self.return_to_stock(held_sku)
        self.update_stock_fronts()
