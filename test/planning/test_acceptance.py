"""Issue 5 acceptance on the store model: a simulated summer week with time-of-day peaks and a robot
near saturation at the peaks. The learned planner loses at most half the reactive policy's sales and
at most 1.1x the oracle's (the same planner with the true rates), with the same robot. The planner
runs as the node does: with back-room alerts, which the store model's staff answer (issue 17)."""

from __future__ import annotations

import numpy as np
import pytest

from restock.demand.generator import DemandGenerator
from restock.demand.model import DAY_S, DemandModel
from restock.paths import store_file
from restock.planning.backroom import AlertConfig
from restock.planning.evaluate import DEFAULT_START, lanes_per_sku
from restock.planning.policies import PlannerPolicy, ReactivePolicy
from restock.planning.storemodel import SaleIn, StoreModel
from restock.planning.timing import RobotTiming
from restock.store.description import load_store, parse_store


@pytest.mark.slow
def test_learned_planner_week_against_reactive_and_oracle() -> None:
    store = load_store(store_file("corner_store.yaml"))
    # The back room this scenario was written for (48 per SKU): the store file's is now sized for
    # 1,000 containers a day, with which the reactive policy is hardly stressed at 750 a day.
    data = store.model_dump(mode="json")
    for loc in data["stock"]["locations"]:
        loc.update(quantity=40, capacity=48)
    store = parse_store(data)
    truth = DemandGenerator.for_daily_total(store, 750.0, seed=0)
    t0, t1 = DEFAULT_START, DEFAULT_START + 7 * DAY_S
    rng = np.random.default_rng(1)
    history = truth.sample(t0 - 21 * DAY_S, t0, rng)
    week = [SaleIn(*s) for s in truth.sample(t0, t1, rng)]
    timing = RobotTiming.for_store(store, handling_s=60.0)
    model_store = StoreModel(store, timing)
    model = DemandModel(lanes_per_sku(store))
    for s in history:
        model.add_sale(s.t, s.sku, s.quantity)
    model.add_exposure_all(t0 - 21 * DAY_S, t0)
    model.fit()
    reactive = model_store.run(ReactivePolicy(), week, t0, t1)
    alerts = AlertConfig()
    learned = model_store.run(
        PlannerPolicy("learned", timing, model_store.lanes, model=model, alerts=alerts), week, t0, t1
    )
    oracle = model_store.run(
        PlannerPolicy("oracle", timing, model_store.lanes, truth=truth, alerts=alerts), week, t0, t1
    )
    assert reactive.lost > 50  # the scenario does stress the robot
    assert learned.lost <= 0.5 * reactive.lost
    assert learned.lost <= 1.1 * oracle.lost
    # Per SKU: with fewer, fuller trips (issue 17) a lane may stand empty while its SKU's other
    # lanes still sell, so lane OSA is no longer above the reactive policy's (0.917 vs 0.932).
    assert learned.sku_osa > reactive.sku_osa
    assert learned.tasks_per_container <= 1.2 * reactive.tasks_per_container
