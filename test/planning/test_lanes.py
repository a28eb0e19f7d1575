"""Lane state estimation: prediction from rates, camera fronts, restocks, and sales inferred from a lane going empty."""

from __future__ import annotations

import numpy as np
import pytest

from restock.paths import store_file
from restock.planning.lanes import SETTLE_S, LaneEstimator
from restock.planning.planner import LaneTable
from restock.store.description import load_store

TABLE = LaneTable.from_store(load_store(store_file("corner_store.yaml")))


def test_prediction_shares_a_skus_sales_among_its_stocked_lanes() -> None:
    est = LaneEstimator(TABLE, now=0.0)
    rates = np.zeros(len(TABLE.skus))
    cola = TABLE.skus.index("cola_500")
    rates[cola] = 10.0  # per hour, over the SKU's lanes
    cola_lanes = np.flatnonzero(TABLE.pool == cola)
    est.observe(int(cola_lanes[0]), "empty", None, 0.0)
    est.predict(3600.0, rates)
    stocked = cola_lanes[1:]
    assert np.sum(TABLE.capacity[stocked] - est.mean[stocked]) == pytest.approx(10.0)
    assert est.mean[cola_lanes[0]] == 0.0
    assert np.all(est.var[stocked] > 4.0)  # uncertainty grows with predicted sales


def test_camera_fronts_and_restocks() -> None:
    est = LaneEstimator(TABLE, now=0.0)
    est.observe(0, "present", 0.5, 1.0)
    assert est.mean[0] == pytest.approx(TABLE.capacity[0] * 0.5)
    est.observe(1, "empty", None, 1.0)
    est.observe(1, "present", None, 2.0)  # someone put one back: at least one
    assert est.mean[1] == 1.0
    est.observe(2, "unknown", None, 2.0)  # no evidence: unchanged
    assert est.mean[2] == TABLE.capacity[2]
    est.restocked(1, 3, 3.0)
    assert est.mean[1] == 4.0


def test_a_known_count_seen_empty_again_is_inferred_sales() -> None:
    est = LaneEstimator(TABLE, now=0.0)
    lane = TABLE.index["r1_l04"]
    assert est.observe(lane, "empty", None, 100.0) is None  # count unknown before: nothing to infer
    est.restocked(lane, 10, 200.0)  # 10 went in since it was seen empty
    est.sold(int(TABLE.pool[lane]), 2, lane)  # two reported by the till
    inferred = est.observe(lane, "empty", None, 5000.0)
    assert inferred is not None
    assert (inferred.lane_id, inferred.sku, inferred.containers) == ("r1_l04", "coffee_can", 8)
    assert (inferred.t0, inferred.t1) == (200.0, 5000.0)  # from its first restock after being seen empty
    assert est.observe(lane, "empty", None, 5100.0) is None  # still empty: nothing new


def test_an_empty_front_from_before_a_placement_is_not_taken_as_sold_out() -> None:
    """A camera confirms a change over several frames: its "empty", reported since before the arm
    filled the lane, is the old view (no sale of all of them, nothing inferred) until it reports
    the lane present, or until SETTLE_S after the placement: a placement that failed unseen is found."""
    est = LaneEstimator(TABLE, now=0.0)
    lane = TABLE.index["r1_l04"]
    cap = int(TABLE.capacity[lane])
    est.observe(lane, "empty", None, 100.0, camera="cam_left")
    est.restocked(lane, cap, 200.0)
    assert est.observe(lane, "empty", None, 230.0, camera="cam_left") is None
    assert est.mean[lane] == cap and est.state[lane] == "present"
    # Never seen present since: after SETTLE_S the camera's "empty" is believed (the placement failed).
    inferred = est.observe(lane, "empty", None, 200.0 + SETTLE_S, camera="cam_left")
    assert est.mean[lane] == 0.0 and inferred is not None and inferred.containers == cap
    # Seen present after a placement: the next "empty" from that camera is news at once.
    est.observe(lane, "empty", None, 900.0, camera="cam_right")
    est.restocked(lane, 3, 1000.0)
    est.observe(lane, "present", None, 1030.0, camera="cam_left")
    est.observe(lane, "empty", None, 1060.0, camera="cam_right")  # the other camera still behind
    assert est.mean[lane] == 3.0
    assert est.observe(lane, "empty", None, 1060.0, camera="cam_left") is not None
    assert est.mean[lane] == 0.0

    # Seen present while the arm was still placing (the evaluation's exact camera): an "empty" soon
    # after the task is a sale of the last one, news at once.
    est.observe(lane, "present", None, 1950.0, camera="cam_left")
    est.restocked(lane, 2, 2000.0)
    assert est.observe(lane, "empty", None, 2010.0, camera="cam_left") is not None
    assert est.mean[lane] == 0.0
