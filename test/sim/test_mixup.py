"""Stock mix-ups in the simulator: another SKU at a back-room location's front, kept through checkpoints."""

from __future__ import annotations

import pytest

from restock.paths import SOURCE_ROOT
from restock.sim.events import EventScriptError, schedule_events
from restock.sim.world import World
from restock.store.description import load_store


@pytest.fixture(scope="module")
def store():
    return load_store(SOURCE_ROOT / "config" / "stores" / "corner_store.yaml")


def test_a_mix_up_stands_at_the_front_until_a_person_takes_it_out(store) -> None:
    w = World(store, seed=1, render=False)
    loc = store.stock_for_sku("water_500")[0]
    before = w.stock_quantity(loc.id)
    assert w.put_mixup(loc.id, "sports_500") == "sports_500"
    front = w.shelves.stock_front[loc.id]
    assert front is not None and front.sku == "sports_500"
    assert w.stock_quantity(loc.id) == min(before + 1, loc.capacity)
    with pytest.raises(ValueError):
        w.put_mixup(loc.id, "water_500")  # its own SKU is no mix-up
    # A random one is a SKU about as wide as the location's (the fingers close on it the same).
    other = w.put_mixup(loc.id)
    assert other != "water_500" and abs(store.skus[other].across - store.skus["water_500"].across) <= 0.008
    assert w.shelves.mixups[loc.id] == [other, "sports_500"]
    # Checkpoints keep them; a person takes them out.
    again = World(store, seed=1, render=False)
    again.restore(w.checkpoint())
    assert again.shelves.mixups[loc.id] == [other, "sports_500"]
    assert again.shelves.stock_front[loc.id].sku == other
    stock = again.stock_quantity(loc.id)
    assert again.clear_mixups(loc.id) == 2
    assert again.stock_quantity(loc.id) == stock - 2 and again.shelves.stock_front[loc.id].sku == "water_500"
    assert again.events[-1].kind == "operator_cleared"


def test_mix_ups_from_a_script_and_at_random(store) -> None:
    w = World(store, seed=2, render=False)
    loc = store.stock.locations[0]
    schedule_events(w, f"+5 mixup {loc.id}")
    w.step(10.0)
    assert [e.kind for e in w.events].count("mixup") == 1 and w.shelves.mixups[loc.id]
    for bad in ("+5 mixup s_nowhere", f"+5 mixup {loc.id} no_such_sku", "+5 mixup"):
        with pytest.raises(EventScriptError):
            schedule_events(w, bad)
    n = w.random_events(6.0, kinds=("mixup",), until=w.time + 3600.0)
    w.step(3600.0)
    made = sum(e.kind in ("mixup", "event_skipped") for e in w.events) - 1
    assert n > 0 and made == n
