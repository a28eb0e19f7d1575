"""The short-term nowcast: learned from how a history clusters, nothing for Poisson demand."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from restock.demand.generator import DAY_S, DemandGenerator
from restock.demand.model import DemandModel
from restock.paths import store_file
from restock.planning.database import PlannerDb
from restock.planning.evaluate import lanes_per_sku
from restock.store.description import load_store

STORE = load_store(store_file("corner_store.yaml"))
MONDAY = 1_784_505_600.0  # 2026-07-20


def _poisson_history(days: int, seed: int) -> list[tuple[float, str, int]]:
    gen = DemandGenerator.for_daily_total(STORE, 750, seed=seed)
    return [(s.t, s.sku, s.quantity) for s in gen.sample(MONDAY - days * DAY_S, MONDAY, np.random.default_rng(seed))]


def _bursty_history(days: int, seed: int) -> list[tuple[float, str, int]]:
    """Few customers a day, each sale copied 40 times within +-15 min (as a mapped small log is)."""
    rng = np.random.default_rng(seed)
    out = []
    for d in range(days):
        day = MONDAY - (days - d) * DAY_S
        for _ in range(rng.poisson(12)):
            t = day + rng.uniform(8, 20) * 3600.0
            sku = str(rng.choice(sorted(STORE.skus)))
            out += [(float(x), sku, 1) for x in t + rng.uniform(-900, 900, 40)]
    return sorted(out)


def test_poisson_demand_learns_no_burst() -> None:
    model = DemandModel(lanes_per_sku(STORE))
    model.learn_log(_poisson_history(28, 3), MONDAY)
    model.fit()
    assert model.burst.fit.gain < 0.1 and model.burst.fit.age_gain == 0.0
    assert model.burst.fit.samples > 1000
    assert model.burst.fit.dispersion < 1.5  # an hour's sales vary as Poisson ones do


def test_a_burst_under_way_is_forecast_to_go_on_and_fade() -> None:
    model = DemandModel(lanes_per_sku(STORE))
    model.learn_log(_bursty_history(42, 5), MONDAY)
    model.fit()
    fit = model.burst.fit
    assert fit.gain > 0.3
    assert fit.dispersion > 10  # 40 containers a customer: far more variable than Poisson
    now = MONDAY + 10 * 3600.0
    ahead = now + np.array([60.0, fit.decay_s, 4 * fit.decay_s, 6 * 3600.0])
    model.add_exposure_all(MONDAY, now)
    quiet = model.rates_matrix(ahead, ["cola_500"])[0]
    for k in range(12):  # 12 colas in the last six minutes: a burst has started
        model.add_exposure_all(now - 360.0 + 30.0 * k, now - 330.0 + 30.0 * k)
        model.add_sale(now - 330.0 + 30.0 * k, "cola_500", 1)
    busy = model.rates_matrix(ahead, ["cola_500"])[0]
    cola = np.array([model.sku_index("cola_500")])
    base = model._base_rates(ahead, cola)[0]
    np.testing.assert_allclose(quiet, base)
    extra = busy - base
    assert extra[0] > 30.0  # ~120 an hour seen against a few an hour usually
    assert extra[0] > extra[1] > extra[2] > 0  # it fades
    assert extra[3] < 0.01 * extra[0]
    # Sold out: the sales are lost and unseen, so the burst is not taken as over.
    model.add_exposure_all(now, now + 1800.0, [s for s in model.skus if s != "cola_500"])
    later = now + 1800.0 + np.array([60.0])
    held = model.rates_matrix(later, ["cola_500"])[0] - model._base_rates(later, cola)[0]
    assert held[0] > 0.8 * extra[0]
    # On the shelf again and nothing sold for an hour: the burst is over.
    model.add_exposure_all(now + 1800.0, now + 5400.0)
    after = now + 5400.0 + np.array([60.0])
    over = model.rates_matrix(after, ["cola_500"])[0] - model._base_rates(after, cola)[0]
    assert over[0] < 0.05 * extra[0]


def test_a_burst_that_has_run_long_is_expected_to_end() -> None:
    """Bursts of 40 containers over half an hour: the fit reads their age from a second, longer
    window. At the same rate over the last minutes, a burst that began five minutes ago is
    forecast to sell more over the next hour than one that has run for twenty-five."""
    model = DemandModel(lanes_per_sku(STORE))
    model.learn_log(_bursty_history(42, 5), MONDAY)
    model.fit()
    fit = model.burst.fit
    assert fit.age_gain < 0 and fit.long_window_s > fit.window_s
    ahead = np.arange(12) * 300.0 + 150.0

    def next_hour(minutes: int) -> float:
        m = DemandModel(lanes_per_sku(STORE))
        m.burst.fit = fit
        now = MONDAY + 10 * 3600.0
        start = now - minutes * 60.0
        m.add_exposure_all(start - 3600.0, start)
        for k in range(minutes * 4):  # 80 an hour: one every 45 s
            t = start + 45.0 * (k + 1)
            m.add_exposure_all(t - 45.0, t)
            m.add_sale(t, "cola_500", 1)
        row = np.array([m.sku_index("cola_500")])
        t = now + ahead
        return float(np.sum(m.rates_matrix(t, ["cola_500"])[0] - m._base_rates(t, row)[0]) * 300.0 / 3600.0)

    young, old = next_hour(5), next_hour(25)
    assert young > 1.5 * old and young > 5  # nearly over at 25 minutes: little or nothing to come


def test_no_log_no_nowcast() -> None:
    """A model fed live sales only (no history to learn clustering from) keeps the weekly rates."""
    model = DemandModel(lanes_per_sku(STORE))
    for k in range(20):
        model.add_sale(MONDAY + 10 * k, "water_500", 1)
    t = MONDAY + 300.0 + np.arange(3) * 600.0
    np.testing.assert_allclose(
        model.rates_matrix(t, ["water_500"])[0], model._base_rates(t, np.array([model.sku_index("water_500")]))[0]
    )


def test_the_learned_burst_survives_a_restart(tmp_path: Path) -> None:
    """The planner imports a log once (a restart skips it): the nowcast it learned is kept with the model."""
    model = DemandModel(lanes_per_sku(STORE))
    model.learn_log(_bursty_history(28, 8), MONDAY)
    model.fit()
    assert model.burst.fit.gain > 0.1
    PlannerDb(tmp_path / "p.db").save_model(model, MONDAY)
    again = DemandModel(lanes_per_sku(STORE))
    assert PlannerDb(tmp_path / "p.db").load_model(again)
    assert again.burst.fit == model.burst.fit


def test_the_history_kept_for_the_burst_fit_is_bounded() -> None:
    """A big store's long log: the best-selling 64 SKUs and the newest days that fit 4M steps."""
    from restock.demand.burst import FINE_MAX_CELLS, fine_counts

    rng = np.random.default_rng(0)
    n_skus, days = 300, 400
    t = MONDAY - rng.uniform(0, days * DAY_S, 50_000)
    sku = rng.integers(0, n_skus, t.size)
    sku[:5000] = 7  # one best seller
    learned = np.stack([t, sku, np.ones(t.size)], axis=1)
    first, rows, counts = fine_counts(learned, n_skus, MONDAY)
    assert rows.size == 64 and 7 in rows
    assert counts.size <= FINE_MAX_CELLS + 64 * 288
    assert first * 300.0 >= MONDAY - days * DAY_S and counts.shape[1] * 300.0 >= 28 * DAY_S
    kept = (t >= first * 300.0) & np.isin(sku, rows)
    assert counts.sum() == kept.sum()
