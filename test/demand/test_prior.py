"""The fleet prior: built from other stores' models, saved and read back, and a new store's model
that starts from it forecasts its first days better than one that starts from nothing."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from restock.demand.burst import BurstFit
from restock.demand.generator import DAY_S, DemandGenerator
from restock.demand.model import DemandModel, DemandPrior
from restock.demand.prior import FleetPrior, PriorError, Shape, SourceModel, build_prior, main, source_from_sales
from restock.paths import store_file
from restock.planning.evaluate import lanes_per_sku
from restock.store.description import load_store

STORE = load_store(store_file("corner_store.yaml"))
KINDS = {sku: spec.kind for sku, spec in STORE.skus.items()}
MONDAY = 1_784_505_600.0  # 2026-07-20


def generated_source(seed: int, per_day: float, days: int = 28) -> SourceModel:
    gen = DemandGenerator.for_daily_total(STORE, per_day, seed=seed)
    sales = gen.sample(MONDAY - days * DAY_S, MONDAY, np.random.default_rng(seed))
    return source_from_sales(f"seed {seed}", sales, MONDAY, lanes_per_sku(STORE), KINDS)


def peaked(hour: int) -> np.ndarray:
    day = np.full(24, 0.2)
    day[hour] = 5.0
    return np.tile(day, 7)


def test_the_prior_pools_each_store_once_and_falls_back_from_sku_to_kind_to_store() -> None:
    """Two stores sell cola at 10 and 30 per lane-day: the prior's level is their mean (each store
    counts once, not by volume); a SKU the prior has not seen takes its kind's shape, and a kind
    it has not seen the whole store's."""
    a = SourceModel("a", {"cola_500": peaked(8) * 2.0}, {"cola_500": 4}, {"cola_500": "bottle"}, {})
    b = SourceModel("b", {"cola_500": peaked(8) * 6.0}, {"cola_500": 4}, {"cola_500": "bottle"}, {})
    c = SourceModel("c", {"coffee_can": peaked(18)}, {"coffee_can": 2}, {"coffee_can": "can"}, {})
    prior = build_prior([a, b, c])
    cola = prior.shape_for("cola_500")
    assert cola.stores == 2 and cola.per_lane_day == pytest.approx(np.mean([2.0, 6.0]) * peaked(8).mean() * 24 / 4)
    assert int(np.argmax(cola.week[:24])) == 8 and cola.week.mean() == pytest.approx(1.0)
    assert int(np.argmax(prior.shape_for("water_500", "bottle").week[:24])) == 8  # a bottle: cola's shape
    assert int(np.argmax(prior.shape_for("energy_can", "can").week[:24])) == 18  # a can: the coffee's
    assert prior.shape_for("juice", "carton") is prior.store and prior.store.stores == 3
    np.testing.assert_allclose(prior.shape_for("cola_500").table(8), cola.week * cola.per_lane_day * 8 / 24)


def test_a_prior_file_reads_back_the_same_and_a_bad_one_is_named(tmp_path: Path) -> None:
    sources = [generated_source(1, 800.0), generated_source(2, 1200.0)]
    prior = build_prior(sources)
    path = tmp_path / "prior.json"
    prior.save(path)
    back = FleetPrior.load(path)
    assert back.sources == prior.sources and sorted(back.skus) == sorted(prior.skus)
    for sku, shape in prior.skus.items():
        np.testing.assert_allclose(back.skus[sku].week, shape.week, atol=1e-4)
        assert back.skus[sku].per_lane_day == pytest.approx(shape.per_lane_day)
    data = json.loads(path.read_text())
    data["skus"]["cola_500"]["week"] = [1.0] * 24
    path.write_text(json.dumps(data))
    with pytest.raises(PriorError, match=r"prior.json: skus.cola_500.week must be 168"):
        FleetPrior.load(path)
    path.write_text("{}")
    with pytest.raises(PriorError, match="not a fleet prior"):
        FleetPrior.load(path)


def test_bursts_are_pooled_from_the_stores_that_learned_them() -> None:
    week = np.ones(168)
    bursty = SourceModel("a", {"cola_500": week}, {"cola_500": 4}, {}, {}, BurstFit(0.7, 300.0, 900.0, 50, 80.0))
    calmer = SourceModel("b", {"cola_500": week}, {"cola_500": 4}, {}, {}, BurstFit(0.5, 900.0, 1800.0, 50, 5.0))
    quiet = SourceModel("c", {"cola_500": week}, {"cola_500": 4}, {}, {})
    fit = build_prior([bursty, calmer, quiet]).burst
    assert fit is not None and fit.gain == pytest.approx(0.6) and fit.dispersion == pytest.approx(20.0)
    assert build_prior([quiet]).burst is None
    # A new store's model takes the fleet's nowcast until its own log teaches one (before any sale
    # the prior is trusted at 99:1).
    model = DemandModel(lanes_per_sku(STORE))
    model.set_fleet(build_prior([bursty]), KINDS)
    assert model.fleet_weight == pytest.approx(0.99)
    assert model.burst.fit.gain == pytest.approx(0.7, rel=0.02)
    assert model.burst.fit.dispersion == pytest.approx(80.0, rel=0.05)


def test_a_busier_stores_first_hours_move_every_skus_level_at_once() -> None:
    """The fleet sells 10 per lane-day of every SKU, evenly; the new store's first four hours sell
    three times that. The store-wide scale reads a busier store, so the evening (no sale seen yet)
    is expected well above the fleet's level; each SKU alone moves less on four hours."""
    prior = FleetPrior({}, {}, Shape(10.0, np.ones(168)))
    rates = {}
    for use_prior in (False, True):
        model = DemandModel(lanes_per_sku(STORE))
        if use_prior:
            model.set_fleet(prior, KINDS)
        evening = MONDAY + 18.5 * 3600
        before = {sku: float(model.rate(sku, evening)) for sku in model.skus}
        for sku, lanes in lanes_per_sku(STORE).items():
            model.add_sale(MONDAY + 6.5 * 3600, sku, round(3 * 10.0 * lanes * 4 / 24))
        model.add_exposure_all(MONDAY + 6 * 3600, MONDAY + 10 * 3600)
        model.fit()
        rates[use_prior] = min(float(model.rate(sku, evening)) / before[sku] for sku in model.skus)
        if use_prior:
            assert 1.4 < model.fleet_scale < 3.0
    assert rates[True] > 1.25 * rates[False]


def test_a_new_store_forecasts_its_first_week_better_from_the_fleet_prior() -> None:
    """Two other stores (the generator, other seeds) make the prior; a new store (a third seed)
    is forecast day by day over its first week, learning from each day's sales: the hourly error
    is lower with the prior than from the generic one."""
    prior = build_prior([generated_source(1, 1000.0), generated_source(2, 1000.0)])
    new = DemandGenerator.for_daily_total(STORE, 1000.0, seed=3)
    sales = new.sample(MONDAY, MONDAY + 7 * DAY_S, np.random.default_rng(30))
    errors = {}
    for use_prior in (False, True):
        model = DemandModel(lanes_per_sku(STORE))
        if use_prior:
            model.set_fleet(prior, KINDS)
        err = []
        for d in range(7):
            day0 = MONDAY + d * DAY_S
            hours = day0 + (np.arange(24) + 0.5) * 3600.0
            pred = model.rates_matrix(hours, model.skus)
            actual = np.zeros_like(pred)
            for s in sales:
                if day0 <= s.t < day0 + DAY_S:
                    actual[model.skus.index(s.sku), int((s.t - day0) // 3600)] += s.quantity
                    model.add_sale(s.t, s.sku, s.quantity)
            model.add_exposure_all(day0, day0 + DAY_S)
            model.fit()
            err.append(np.abs(pred - actual).mean())
        errors[use_prior] = (err[0], float(np.mean(err)))
    assert errors[True][0] < 0.6 * errors[False][0]  # the first day, before any sale
    assert errors[True][1] < 0.85 * errors[False][1]  # over the week


def test_fleet_prior_command_writes_a_prior_from_generated_stores(tmp_path: Path, capsys) -> None:
    out = tmp_path / "p.json"
    assert main(["--out", str(out), "--generated", "corner_store.yaml:900:4:21"]) == 0
    assert "1 source stores, 8 SKUs" in capsys.readouterr().out
    assert sorted(FleetPrior.load(out).skus) == sorted(STORE.skus)
    with pytest.raises(SystemExit):
        main(["--out", str(out)])


def test_a_new_stores_own_sales_replace_the_fleets_dispersion_as_days_come() -> None:
    """The fleet's stores sell in bursts (40x Poisson); the new store's customers come one by one.
    Its model starts from the fleet's dispersion and, with no log to learn bursts from, measures its
    own from its hourly sales: after a week it is close to Poisson."""
    week = np.ones(168)
    source = SourceModel("a", {"cola_500": week}, {"cola_500": 4}, {}, {}, BurstFit(0.6, 300.0, 900.0, 50, 40.0))
    model = DemandModel(lanes_per_sku(STORE))
    model.set_fleet(build_prior([source]), KINDS)
    assert model.burst.fit.dispersion == pytest.approx(40.0, rel=0.05)  # trusted at 99:1 before any sale
    gen = DemandGenerator.for_daily_total(STORE, 1000.0, seed=9)
    after = {}
    for d in range(7):
        day0 = MONDAY + d * DAY_S
        for s in gen.sample(day0, day0 + DAY_S, np.random.default_rng(d)):
            model.add_sale(s.t, s.sku, s.quantity)
        model.add_exposure_all(day0, day0 + DAY_S)
        model.fit()
        after[d] = model.burst.fit.dispersion
    assert after[0] < 40.0 and after[6] < after[0] and after[6] < 4.0
    assert model.burst.fit.gain == pytest.approx(0.6)  # the nowcast stays the fleet's


def test_a_new_store_whose_bursts_empty_the_shelf_measures_them_as_bursty() -> None:
    """Each day a burst of 40 colas comes within 10 minutes at noon and empties the shelf, which
    stays empty to 13:00: the hour had 10 minutes of exposure and 40 sales, far more than the rate
    says, so the store's own dispersion reads bursty though no full hour of it showed the burst."""
    model = DemandModel(lanes_per_sku(STORE))
    others = [s for s in model.skus if s != "cola_500"]
    rng = np.random.default_rng(3)
    for d in range(3):
        day0 = MONDAY + d * DAY_S
        for t in np.sort(rng.uniform(day0 + 8 * 3600, day0 + 20 * 3600, 24)):
            model.add_sale(float(t), "cola_500", 1)
        for k in range(40):
            model.add_sale(day0 + 12 * 3600 + 15.0 * k, "cola_500", 1)
        model.add_exposure_all(day0, day0 + DAY_S, others)
        model.add_exposure("cola_500", day0, day0 + 12 * 3600 + 600.0)
        model.add_exposure("cola_500", day0 + 13 * 3600, day0 + DAY_S)
        model.fit()
    assert model.burst.fit.dispersion > 4.0


def rest_of_day_error(prior: FleetPrior | None, sales: list, hour: int, odds: float = 99.0) -> tuple[float, float]:
    """A new store's model fitted on its first day's sales up to ``hour``: the fleet prior's weight
    then, and the mean hourly error of its forecast for the rest of that day."""
    model = DemandModel(lanes_per_sku(STORE), DemandPrior(fleet_prior_odds=odds))
    if prior is not None:
        model.set_fleet(prior, KINDS)
        assert model.fleet_weight > 0.9  # trusted before any sale
    cut = MONDAY + hour * 3600.0
    for s in sales:
        if s.t < cut:
            model.add_sale(s.t, s.sku, s.quantity)
    model.add_exposure_all(MONDAY, cut)
    model.fit()
    pred = model.rates_matrix(cut + (np.arange(24 - hour) + 0.5) * 3600.0, model.skus)
    actual = np.zeros_like(pred)
    for s in sales:
        if cut <= s.t < MONDAY + DAY_S:
            actual[model.skus.index(s.sku), int((s.t - cut) // 3600)] += s.quantity
    return model.fleet_weight, float(np.abs(pred - actual).mean())


def test_a_prior_from_unlike_stores_loses_its_weight_in_the_stores_first_hours() -> None:
    """A deliberately wrong prior (the fleet sells at night, this store in the day) is trusted at
    first; by 10:00 of the store's first day its sales have taken the prior's weight away, and the
    forecast of the rest of the day is as good as without a prior (trusted regardless, the prior
    would double the error). A prior from like stores (the generator, other seeds) keeps it."""
    night = np.tile(np.where(np.arange(24) < 6, 6.0, 0.1), 7)
    wrong = FleetPrior({}, {}, Shape(30.0, night / night.mean()))
    right = build_prior([generated_source(1, 1000.0), generated_source(2, 1000.0)])
    sales = DemandGenerator.for_daily_total(STORE, 1000.0, seed=3).sample(
        MONDAY, MONDAY + DAY_S, np.random.default_rng(31)
    )
    _, without = rest_of_day_error(None, sales, 10)
    weight, guarded = rest_of_day_error(wrong, sales, 10)
    _, trusted = rest_of_day_error(wrong, sales, 10, odds=math.inf)  # no guard: always trusted
    assert weight < 0.01
    assert guarded < 1.1 * without and trusted > 1.5 * without
    weight, err = rest_of_day_error(right, sales, 10)
    assert weight > 0.99 and err < without
