"""The restock policies of the store model (restock.planning.policies)."""

from __future__ import annotations

import numpy as np

from restock.paths import store_file
from restock.planning.planner import PlannerConfig
from restock.planning.policies import PlannerPolicy, oracle_config
from restock.planning.storemodel import StoreModel, StoreView
from restock.planning.timing import RobotTiming
from restock.store.description import load_store

MONDAY = 1_784_505_600.0


class Flat:
    def rate(self, sku: str, t: np.ndarray) -> np.ndarray:
        return np.full(np.shape(t), 15.0)


def test_the_oracle_follows_the_learned_planners_rules_for_bursty_demand() -> None:
    # The oracle is the same planner on the true rates: given how bursty the demand is, it fills a
    # waiting lane with its idle robot as the learned planner would, and without, it waits.
    store = load_store(store_file("corner_store.yaml"))
    timing = RobotTiming.for_store(store, handling_s=12.0)
    lanes = StoreModel(store, timing).lanes
    count = np.floor(lanes.capacity * 0.5)  # half full: every lane waits for a fuller trip
    view = StoreView(MONDAY + 10 * 3600, lanes, count, np.full(len(lanes.skus), 40), float(lanes.x.mean()))
    calm = PlannerPolicy("oracle", timing, lanes, truth=Flat())
    bursty = PlannerPolicy("oracle", timing, lanes, truth=Flat(), dispersion=30.0)
    assert calm.dispersion() == 1.0 and bursty.dispersion() == 30.0
    assert calm.next_task(view) is None
    task = bursty.next_task(view)
    assert task is not None and count[task.lane_index] + task.quantity == lanes.capacity[task.lane_index]


def test_the_oracle_takes_quick_turns_wherever_its_robot_is_free() -> None:
    # Three sold from every lane at a rate the robot keeps up with: the learned planner's rules wait
    # for fuller trips; the oracle's (it knows when each burst comes) top the lanes up now.
    store = load_store(store_file("corner_store.yaml"))
    timing = RobotTiming.for_store(store, handling_s=12.0)
    lanes = StoreModel(store, timing).lanes

    class Busy:
        def rate(self, sku: str, t: np.ndarray) -> np.ndarray:
            return np.full(np.shape(t), 150.0)

    count = lanes.capacity - 3.0
    view = StoreView(MONDAY + 10 * 3600, lanes, count, np.full(len(lanes.skus), 40), float(lanes.x.mean()))
    config = PlannerConfig(idle_fill=0.0, horizon_s=7200.0)
    assert PlannerPolicy("rules", timing, lanes, truth=Busy(), config=config).next_task(view) is None
    oracle = PlannerPolicy("oracle", timing, lanes, truth=Busy(), config=oracle_config(config))
    assert oracle.planner.config.horizon_s == 7200.0  # the rest of the given rules stay
    task = oracle.next_task(view)
    assert task is not None and task.quantity == 3
