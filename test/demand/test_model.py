"""The learned demand model: censoring, new SKUs, uncertainty, the yearly term, forecasts vs seasonal naive."""

from __future__ import annotations

import numpy as np
import pytest

from restock.demand.generator import DAY_S, DemandGenerator
from restock.demand.model import DemandError, DemandModel
from restock.paths import store_file
from restock.planning.evaluate import forecast_score, lanes_per_sku
from restock.planning.storemodel import SaleIn
from restock.store.description import load_store

STORE = load_store(store_file("corner_store.yaml"))
MONDAY = 1_784_505_600.0  # 2026-07-20


def test_stockout_hours_do_not_pull_the_learned_rate_down() -> None:
    """A lane sits empty from 10:00 to 16:00 on 6 of 14 days. With censoring (that time is no
    exposure) the learned midday rate matches a model that saw every sale; counting the empty
    hours as exposure pulls it down."""
    truth = DemandGenerator(STORE, seed=4)
    sku = "cola_500"
    rng = np.random.default_rng(0)
    t0 = MONDAY - 14 * DAY_S
    empty_days = {1, 3, 4, 8, 10, 12}
    full = DemandModel(lanes_per_sku(STORE))
    censored = DemandModel(lanes_per_sku(STORE))
    uncensored = DemandModel(lanes_per_sku(STORE))
    for s in truth.sample(t0, MONDAY, rng, skus=[sku]):
        full.add_sale(s.t, s.sku, s.quantity)
        day, hour = int((s.t - t0) // DAY_S), (s.t % DAY_S) / 3600
        if day in empty_days and 10 <= hour < 16:
            continue  # nothing on the shelf: the customer went away
        censored.add_sale(s.t, s.sku, s.quantity)
        uncensored.add_sale(s.t, s.sku, s.quantity)
    for d in range(14):
        day = t0 + d * DAY_S
        full.add_exposure(sku, day, day + DAY_S)
        uncensored.add_exposure(sku, day, day + DAY_S)  # as if the shelf had stock all day
        if d in empty_days:
            censored.add_exposure(sku, day, day + 10 * 3600)
            censored.add_exposure(sku, day + 16 * 3600, day + DAY_S)
        else:
            censored.add_exposure(sku, day, day + DAY_S)
    for m in (full, censored, uncensored):
        m.fit()
    midday = MONDAY + np.arange(10.5, 16, 1.0) * 3600
    reference = float(np.mean(full.rate(sku, midday)))
    assert float(np.mean(censored.rate(sku, midday))) == pytest.approx(reference, rel=0.15)
    assert float(np.mean(uncensored.rate(sku, midday))) < 0.85 * float(np.mean(censored.rate(sku, midday)))
    # Where the shelf had stock, all agree.
    morning = MONDAY + 8 * 3600
    assert censored.rate(sku, morning) == pytest.approx(uncensored.rate(sku, morning), rel=0.1)


def test_new_sku_starts_from_the_prior_and_learns() -> None:
    model = DemandModel({"cola_500": 4})
    model.add_sku("new_tea", lanes=2)
    prior_day = model.expected("new_tea", MONDAY, MONDAY + DAY_S)
    summer = float(model.season(model.sku_index("new_tea"), np.array([MONDAY]))[0])  # the prior's July lift
    assert summer > 1.2
    assert prior_day == pytest.approx(2 * model.prior.prior_per_lane_day * summer, rel=0.1)
    noon = MONDAY + 12 * 3600
    cv_before = model.rate_sd("new_tea", noon) / model.rate("new_tea", noon)
    for d in range(14):
        day = MONDAY - (d + 1) * DAY_S
        for h in range(24):
            model.add_sale(day + h * 3600 + 60, "new_tea", 3 if 8 <= h < 20 else 0)
        model.add_exposure("new_tea", day, day + DAY_S)
    model.fit()
    assert model.rate("new_tea", MONDAY + 12.5 * 3600) == pytest.approx(3.0, rel=0.15)
    assert model.rate("new_tea", MONDAY + 3.5 * 3600) < 0.5
    assert model.rate_sd("new_tea", noon) / model.rate("new_tea", noon) < 0.7 * cv_before  # more certain


def test_bad_input_is_refused() -> None:
    model = DemandModel({"cola_500": 4})
    with pytest.raises(DemandError, match="unknown SKU 'beer'"):
        model.add_sale(MONDAY, "beer", 1)
    with pytest.raises(DemandError, match="negative quantity"):
        model.add_sale(MONDAY, "cola_500", -1)
    with pytest.raises(DemandError, match="bad sale time"):
        model.add_sale(float("nan"), "cola_500", 1)


def test_yearly_term_is_learned_from_months_of_history() -> None:
    """Eight months of daily sales with a strong summer peak: the fitted yearly amplitude grows
    beyond the prior's towards the truth."""
    model = DemandModel({"water_500": 4})
    start = MONDAY - 240 * DAY_S
    rng = np.random.default_rng(3)
    true_a = 0.5
    for d in range(240):
        day = start + d * DAY_S
        theta = 2 * np.pi * (((day / DAY_S) % 365.2425) - 201.0) / 365.2425
        for h in range(24):
            n = rng.poisson(2.0 * np.exp(true_a * np.cos(theta)))
            if n:
                model.add_sale(day + h * 3600 + 1, "water_500", int(n))
        model.add_exposure("water_500", day, day + DAY_S)
    model.fit()
    a, b = model.yearly[0]
    assert a > model.prior.yearly_a + 0.1
    assert abs(a - true_a) < 0.15 and abs(b) < 0.2


def test_learned_rates_beat_seasonal_naive_on_held_out_days() -> None:
    truth = DemandGenerator.for_daily_total(STORE, 700.0, seed=2)
    rng = np.random.default_rng(5)
    history = [SaleIn(*s) for s in truth.sample(MONDAY - 21 * DAY_S, MONDAY, rng)]
    held_out = [SaleIn(*s) for s in truth.sample(MONDAY, MONDAY + 7 * DAY_S, rng)]
    score = forecast_score(STORE, history, held_out, MONDAY, 7)
    assert score.learned_mae < 0.85 * score.naive_mae
    assert score.learned_rmse < 0.85 * score.naive_rmse


def test_closed_days_and_gaps_do_not_read_as_quiet_days() -> None:
    """Three weeks of the same Mondays, one of them a holiday with the shop shut (and a day missing
    from the log): the learned Monday rate stays that of the open Mondays."""
    truth = DemandGenerator(STORE, seed=2)
    rng = np.random.default_rng(3)
    t0 = MONDAY - 21 * DAY_S
    shut = {7, 10}  # a Monday holiday and a Thursday missing from the log
    open_only = DemandModel(lanes_per_sku(STORE))
    with_holiday = DemandModel(lanes_per_sku(STORE))
    for s in truth.sample(t0, MONDAY, rng):
        day = int((s.t - t0) // DAY_S)
        if day not in shut:
            open_only.add_sale(s.t, s.sku, s.quantity)
            with_holiday.add_sale(s.t, s.sku, s.quantity)
    for d in range(21):
        day = t0 + d * DAY_S
        with_holiday.add_exposure_all(day, day + DAY_S)  # the replay saw the shop "stocked" every day
        if d not in shut:
            open_only.add_exposure_all(day, day + DAY_S)
    assert list(np.flatnonzero(~with_holiday.open_days())) == sorted(shut)
    open_only.fit()
    with_holiday.fit()
    monday = MONDAY + np.arange(7.5, 20, 1.0) * 3600
    for sku in ("cola_500", "coffee_can"):
        assert np.allclose(with_holiday.rate(sku, monday), open_only.rate(sku, monday), rtol=1e-9)


def test_a_sku_that_appears_later_in_a_log_is_not_read_as_unsold_before() -> None:
    truth = DemandGenerator(STORE, seed=5)
    rng = np.random.default_rng(1)
    t0 = MONDAY - 28 * DAY_S
    sales = [s for s in truth.sample(t0, MONDAY, rng) if s.sku != "energy_can" or s.t >= MONDAY - 14 * DAY_S]
    model = DemandModel(lanes_per_sku(STORE))
    learned = model.learn_log([(s.t, s.sku, s.quantity) for s in sales] + [(MONDAY - 3600, "beer", 2)], MONDAY)
    assert learned == len(sales)  # a SKU the store does not sell is skipped
    model.fit()
    late = [s for s in sales if s.sku == "energy_can"]
    per_day = sum(s.quantity for s in late) / 14
    assert model.expected("energy_can", MONDAY, MONDAY + 7 * DAY_S) / 7 == pytest.approx(per_day, rel=0.2)


def test_a_sku_that_vanishes_from_a_log_is_learned_as_selling_less() -> None:
    """Delisted (or renamed) five weeks before the end: the weeks without a sale while others sold
    count, so the SKU's forecast falls well below what it sold before."""
    truth = DemandGenerator(STORE, seed=6)
    t0 = MONDAY - 70 * DAY_S
    sales = [s for s in truth.sample(t0, MONDAY, np.random.default_rng(2))]
    gone = MONDAY - 35 * DAY_S
    kept = [(s.t, s.sku, s.quantity) for s in sales if s.sku != "water_500" or s.t < gone]
    model = DemandModel(lanes_per_sku(STORE))
    model.learn_log(kept, MONDAY)
    model.fit()
    before = sum(q for t, sku, q in kept if sku == "water_500") / 35
    ahead = model.expected("water_500", MONDAY, MONDAY + 7 * DAY_S) / 7
    assert ahead < 0.5 * before
    assert model.expected("cola_500", MONDAY, MONDAY + 7 * DAY_S) > 0.5 * model.expected(
        "water_500", MONDAY - 49 * DAY_S, MONDAY - 42 * DAY_S
    )


def test_a_log_out_of_order_with_a_gap_learns_what_the_sorted_log_does() -> None:
    """A till's export shuffled, with two weeks missing: the weekly model and the burst fit are
    those of the same log in time order (the gap counts as closed, not as quiet)."""
    truth = DemandGenerator(STORE, seed=7)
    t0 = MONDAY - 42 * DAY_S
    rows = [
        (s.t, s.sku, s.quantity)
        for s in truth.sample(t0, MONDAY, np.random.default_rng(4))
        if not MONDAY - 28 * DAY_S <= s.t < MONDAY - 14 * DAY_S
    ]
    shuffled = list(rows)
    np.random.default_rng(0).shuffle(shuffled)
    a, b = DemandModel(lanes_per_sku(STORE)), DemandModel(lanes_per_sku(STORE))
    a.learn_log(rows, MONDAY)
    b.learn_log(shuffled, MONDAY)
    a.fit()
    b.fit()
    t = MONDAY + np.arange(0, 7 * DAY_S, 3600.0)
    np.testing.assert_allclose(a.rates_matrix(t), b.rates_matrix(t), rtol=1e-9)
    assert a.burst.fit == b.burst.fit
    assert a.burst.fit.gain < 0.1  # Poisson demand: no bursts read into the gap
