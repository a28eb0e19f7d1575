"""The fast store model's own rules: when the robot is asked for work, and how lost sales are counted."""

from __future__ import annotations

import numpy as np

from restock.paths import store_file
from restock.planning.policies import _NoLearning
from restock.planning.storemodel import SaleIn, StoreModel, StoreView, Task
from restock.planning.timing import RobotTiming
from restock.store.description import load_store, parse_store

T0 = 1_784_505_600.0  # a Monday 00:00 UTC


class OneAtATime(_NoLearning):
    """Always one container for the first lane with room: the shortest task there is."""

    name = "one-at-a-time"

    def __init__(self) -> None:
        self.asked: list[float] = []

    def next_task(self, view: StoreView) -> Task | None:
        self.asked.append(view.now)
        room = np.flatnonzero(view.count < view.lanes.capacity)
        return Task(int(room[0]), 1) if room.size else None


def test_the_robot_is_asked_again_as_soon_as_a_task_ends() -> None:
    store = load_store(store_file("corner_store.yaml"))
    timing = RobotTiming.for_store(store, handling_s=12.0)
    model = StoreModel(store, timing, initial_fill=0.0)
    policy = OneAtATime()
    out = model.run(policy, [], T0, T0 + 3600.0)
    # One container is setup + a ~13 s round trip: far more than the one task a minute a
    # once-a-minute poll would allow, and the robot is never idle while there is work.
    assert out.tasks > 150
    assert out.busy_s > 0.99 * 3600.0 - 60.0
    assert out.moved >= out.tasks - 1  # the last may still be under way at the end


def test_a_lost_sale_says_whether_the_back_room_was_empty_too() -> None:
    data = load_store(store_file("corner_store.yaml")).model_dump(mode="json")
    empty_rack = {loc["sku"] for loc in data["stock"]["locations"][:2]}
    for loc in data["stock"]["locations"][:2]:
        loc["quantity"] = 0
    store = parse_store(data)
    model = StoreModel(store, RobotTiming.for_store(store), initial_fill=0.0)

    class Idle(_NoLearning):
        name = "idle"

        def next_task(self, view: StoreView) -> Task | None:
            return None

    skus = sorted({lv.lane.sku for lv in store.lanes})
    sales = [SaleIn(T0 + 60.0 * (i + 1), sku, 1) for i, sku in enumerate(skus)]
    out = model.run(Idle(), sales, T0, T0 + 3600.0)
    assert out.lost == len(skus)
    assert out.lost_rack_empty == len(empty_rack)
