"""The simulator's checkpoints without ROS: saved before anything goes out, resumed a period later."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from restock.paths import store_file
from restock.records import SaleEvent, decode
from restock.sim.checkpoint import CheckpointError, SimCheckpoints, ground_truth_tick, resume
from restock.sim.till import Till
from restock.sim.world import World
from restock.store.description import Store, load_store


@pytest.fixture(scope="module")
def kiosk() -> Store:
    return load_store(store_file("station_kiosk.yaml"))


def test_a_tick_is_saved_before_its_sales_go_out(kiosk: Store, tmp_path: Path) -> None:
    w, till = World(kiosk, seed=3, render=False), Till()
    cps = SimCheckpoints(tmp_path / "sim.db")
    sku = kiosk.lanes[0].lane.sku
    w.customer_buy(sku, 2)
    truth, sales = ground_truth_tick(w, till, cps)
    assert [decode(s, SaleEvent).seq for s in sales] == [1, 2]
    assert truth.sales[sku] == 2
    # What the caller is about to send is already on disk (another connection reads it).
    saved = SimCheckpoints(tmp_path / "sim.db").load()
    assert saved is not None
    assert saved["receipts"] == 2 and saved["recent_sales"] == sales
    assert saved["world"]["time"] == w.time
    _, none = ground_truth_tick(w, till, cps)
    assert none == []  # the events were the tick's: nothing is rung up twice


def test_a_killed_sim_resumes_a_period_later_with_its_till(kiosk: Store, tmp_path: Path) -> None:
    w, till = World(kiosk, seed=3, render=False), Till()
    cps = SimCheckpoints(tmp_path / "sim.db")
    sku = kiosk.lanes[0].lane.sku
    w.step(30.0)
    w.customer_buy(sku, 1)
    _, sales = ground_truth_tick(w, till, cps)
    t = w.time
    cps.close()

    fresh, again = World(kiosk, seed=3, render=False), Till()
    assert resume(SimCheckpoints(tmp_path / "sim.db"), fresh, again, period_s=0.5)
    assert fresh.time == pytest.approx(t + 0.5)
    assert again.replay() == sales
    fresh.customer_buy(sku, 1)
    _, more = ground_truth_tick(fresh, again, None)
    sale = decode(more[0], SaleEvent)
    assert sale.seq == 2 and sale.sku == sku


def test_an_empty_file_is_a_fresh_start(kiosk: Store, tmp_path: Path) -> None:
    w, till = World(kiosk, seed=3, render=False), Till()
    start = w.time
    assert not resume(SimCheckpoints(tmp_path / "new.db"), w, till, period_s=0.5)
    assert w.time == start and till.receipts == 0


def test_a_checkpoint_of_another_store_is_refused_with_the_file(kiosk: Store, tmp_path: Path) -> None:
    other = World(load_store(store_file("corner_store.yaml")), render=False)
    SimCheckpoints(tmp_path / "sim.db").save(other.checkpoint(), 4, [])
    with pytest.raises(CheckpointError, match=r"sim\.db: unusable checkpoint: .*store"):
        resume(SimCheckpoints(tmp_path / "sim.db"), World(kiosk, render=False), Till(), period_s=0.5)


def test_a_body_that_is_not_a_checkpoint_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sim.db"
    SimCheckpoints(path).close()
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO checkpoint (id, body) VALUES (1, ?)", ('{"world": {}}',))
    with pytest.raises(CheckpointError, match="lacks world, receipts or recent_sales"):
        SimCheckpoints(path).load()
