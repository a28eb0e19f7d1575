"""The true demand generator: shape, scale, determinism and the sampled process."""

from __future__ import annotations

import numpy as np
import pytest

from restock.demand.generator import DAY_S, DemandGenerator
from restock.paths import store_file
from restock.store.description import load_store

# 2026-07-20 (a Monday) 00:00 UTC and 2026-01-19 (a Monday).
SUMMER_MONDAY = 1_784_505_600.0
WINTER_MONDAY = 1_768_780_800.0


@pytest.fixture(scope="module", params=["corner_store.yaml", "station_kiosk.yaml"])
def store(request):
    return load_store(store_file(request.param))


def test_every_sku_has_a_positive_rate_with_day_peaks(store) -> None:
    gen = DemandGenerator(store, seed=3)
    for sku in store.skus:
        night = gen.rate(sku, SUMMER_MONDAY + 3 * 3600)
        morning = gen.rate(sku, SUMMER_MONDAY + 8 * 3600)
        lunch = gen.rate(sku, SUMMER_MONDAY + 12.5 * 3600)
        assert 0 < night < 0.3 * morning
        assert lunch > 2 * night


def test_summer_sells_more_than_winter_and_weekend_less_than_friday(store) -> None:
    gen = DemandGenerator(store, seed=3)
    assert gen.daily_total(SUMMER_MONDAY) > 1.1 * gen.daily_total(WINTER_MONDAY)
    friday, sunday = SUMMER_MONDAY + 4 * DAY_S, SUMMER_MONDAY + 6 * DAY_S
    assert gen.daily_total(friday) > gen.daily_total(sunday)


def test_scale_for_a_daily_total_and_determinism(store) -> None:
    gen = DemandGenerator.for_daily_total(store, 1000.0, seed=5)
    assert gen.mean_daily_total() == pytest.approx(1000.0)
    again = DemandGenerator.for_daily_total(store, 1000.0, seed=5)
    sku = sorted(store.skus)[0]
    assert gen.rate(sku, SUMMER_MONDAY + 9 * 3600) == again.rate(sku, SUMMER_MONDAY + 9 * 3600)
    other = DemandGenerator.for_daily_total(store, 1000.0, seed=6)
    assert gen.rate(sku, SUMMER_MONDAY + 9 * 3600) != other.rate(sku, SUMMER_MONDAY + 9 * 3600)


def test_sampled_sales_match_the_rate() -> None:
    store = load_store(store_file("corner_store.yaml"))
    gen = DemandGenerator(store, seed=1)
    t0, t1 = SUMMER_MONDAY, SUMMER_MONDAY + 2 * DAY_S
    sales = gen.sample(t0, t1, np.random.default_rng(0))
    assert all(t0 <= s.t < t1 for s in sales)
    assert [s.t for s in sales] == sorted(s.t for s in sales)
    expected = sum(gen.expected(sku, t0, t1) for sku in store.skus)
    sold = sum(s.quantity for s in sales)
    # Compound Poisson: sd ~ sqrt(E * E[q^2]/E[q]) ~ 1.1 sqrt(E); allow 5 sd.
    assert abs(sold - expected) < 5 * 1.2 * np.sqrt(expected)
    # More sold in the morning hour than at 3 am.
    morning = sum(s.quantity for s in sales if 7.5 <= (s.t % DAY_S) / 3600 < 9.5)
    small_hours = sum(s.quantity for s in sales if 2 <= (s.t % DAY_S) / 3600 < 4)
    assert morning > 3 * small_hours


def test_unknown_sku_and_bad_scale_are_refused() -> None:
    store = load_store(store_file("corner_store.yaml"))
    with pytest.raises(ValueError, match="scale"):
        DemandGenerator(store, scale=0.0)
    with pytest.raises(KeyError, match="unknown SKU 'beer'"):
        DemandGenerator(store).rate("beer", SUMMER_MONDAY)
