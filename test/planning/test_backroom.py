"""The back-room forecast, its alerts, perfect foresight of a log and the store model's staff."""

from __future__ import annotations

import numpy as np

from restock.paths import store_file
from restock.planning.backroom import AlertConfig, BackroomWatch, describe, expected_short, forecast, next_delivery
from restock.planning.policies import ReactivePolicy, SalesForesight
from restock.planning.storemodel import SaleIn, StoreModel, StoreView
from restock.planning.timing import RobotTiming
from restock.store.description import StockRefill, load_store

T0 = 1_784_505_600.0  # a Monday 00:00 UTC
H = 3600.0


def test_next_delivery_follows_the_schedule_and_wraps_at_midnight() -> None:
    refill = StockRefill(every_h=6.0, first_at_h=5.0)
    assert next_delivery(refill, T0) == T0 + 5 * H
    assert next_delivery(refill, T0 + 5 * H) == T0 + 11 * H  # strictly after
    assert next_delivery(refill, T0 + 15.5 * H) == T0 + 17 * H
    assert next_delivery(refill, T0 + 23.5 * H) == T0 + 29 * H  # tomorrow 05:00


def test_expected_short_is_the_poisson_shortfall() -> None:
    rng = np.random.default_rng(0)
    d = rng.poisson(30.0, 200_000)
    for s in (0, 10, 30, 45):
        assert abs(expected_short(np.array([30.0]), np.array([s]))[0] - np.maximum(d - s, 0).mean()) < 0.05


def test_expected_short_with_bursts_is_the_negative_binomial_shortfall() -> None:
    """Sales in bursts (variance 20x the mean): a supply that covers the mean still runs short."""
    rng = np.random.default_rng(1)
    mu, disp = 30.0, 20.0
    d = rng.negative_binomial(mu / (disp - 1.0), 1.0 / disp, 400_000)
    for s in (0, 10, 30, 90):
        got = expected_short(np.array([mu]), np.array([s]), disp)[0]
        assert abs(got - np.maximum(d - s, 0).mean()) < 0.1
    assert (
        expected_short(np.array([mu]), np.array([45]), disp)[0] > 20 * expected_short(np.array([mu]), np.array([45]))[0]
    )


def test_bursty_demand_brings_the_alert_forward() -> None:
    """The same mean demand, sold in bursts: the back room may go in one, so it is taken as at
    risk sooner (and staff get their lead time)."""
    now = T0 + 12 * H
    args = (now, constant([6.0]), np.array([40]), np.array([16]), np.array([16]), now + 5 * H)
    calm, bursty = forecast(*args), forecast(*args, dispersion=40.0)
    assert np.isinf(calm.empty_at[0]) and calm.at_risk[0] < 0.5
    assert bursty.empty_at[0] <= now + 3 * H and bursty.at_risk[0] > 2.0
    np.testing.assert_allclose(forecast(*args, dispersion=1.0).at_risk, calm.at_risk)


def constant(rate_per_h: list[float]):
    return lambda t: np.repeat(np.array(rate_per_h)[:, None], len(t), axis=1)


def test_forecast_finds_when_the_back_room_runs_dry_and_the_sales_at_risk() -> None:
    now = T0 + 12 * H
    # SKU 0 sells 20/h with 30 behind and a full shelf of 16: the back room lasts 1.5 h, the
    # whole supply 2.3 h, and 5 h to the delivery leave ~54 sales at risk. SKU 1 is safe.
    fc = forecast(now, constant([20.0, 2.0]), np.array([30, 30]), np.array([16, 16]), np.array([16, 16]), now + 5 * H)
    assert abs(fc.empty_at[0] - (now + 1.5 * H)) <= 300.0
    assert np.isinf(fc.empty_at[1])
    assert 50 < fc.at_risk[0] < 58 and fc.at_risk[1] < 1e-6
    # A shelf that is low now takes from the back room first: it runs dry sooner.
    low = forecast(now, constant([20.0, 2.0]), np.array([30, 30]), np.array([6, 16]), np.array([16, 16]), now + 5 * H)
    assert low.empty_at[0] < fc.empty_at[0]


def test_watch_raises_with_lead_time_and_clears_when_stock_comes() -> None:
    now = T0 + 12 * H
    watch = BackroomWatch(2, AlertConfig(lead_s=H))
    rates = constant([20.0, 2.0])
    far = forecast(now, rates, np.array([60, 30]), np.array([16, 16]), np.array([16, 16]), now + 5 * H)
    assert watch.update(far) == []  # at risk, but the rack lasts 3 h: too early (no room for staff yet)
    later = now + 2.5 * H
    near = forecast(later, rates, np.array([10, 30]), np.array([16, 16]), np.array([16, 16]), now + 5 * H)
    (raised,) = watch.update(near)
    assert raised.state == "raised" and raised.pool == 0 and raised.empty_at - later <= H
    text = describe("cola_500", raised)
    assert text.startswith("cola_500: back room empty at about 15:") and "next delivery 17:00" in text
    assert watch.update(near) == []  # raised once
    topped = forecast(later + 1800, rates, np.array([120, 30]), np.array([16, 16]), np.array([16, 16]), now + 5 * H)
    (cleared,) = watch.update(topped)
    assert cleared.state == "cleared" and cleared.alert_id == raised.alert_id and not watch.active


def test_foresight_rates_sum_to_the_log() -> None:
    sales = [SaleIn(T0 + 8 * H + 60 * k, "cola_500", 1) for k in range(30)]
    fs = SalesForesight(sales, window_s=300.0)
    mids = T0 + 7 * H + (np.arange(36) + 0.5) * 300.0
    assert abs(fs.rate("cola_500", mids).sum() * 300.0 / H - 30) < 1e-9
    assert not fs.rate("water_500", mids).any()


class AlertOnce(ReactivePolicy):
    """The reactive policy that asks staff for cola once, at its first chance."""

    def __init__(self) -> None:
        super().__init__(name="alert-once")
        self.asked = False

    def staff_alerts(self, view: StoreView) -> list[int]:
        if self.asked:
            return []
        self.asked = True
        return [view.lanes.skus.index("cola_500")]


def test_staff_answer_an_alert_after_their_response_time() -> None:
    store = load_store(store_file("corner_store.yaml"))
    timing = RobotTiming.for_store(store, handling_s=12.0)
    # Noon to 16:00, no delivery in between: cola sells far beyond shelf and rack.
    sales = [SaleIn(T0 + 12 * H + 20 * k, "cola_500", 1) for k in range(600)]
    runs = {}
    for staff in (False, True):
        model = StoreModel(store, timing, staff_response_s=1800.0)
        policy = AlertOnce() if staff else ReactivePolicy()
        runs[staff] = model.run(policy, sales, T0 + 12 * H, T0 + 16 * H)
    assert runs[True].alerts == 1 and runs[True].staff_added > 0
    assert runs[False].staff_added == 0
    assert runs[True].lost_rack_empty < runs[False].lost_rack_empty
    assert runs[False].lost == runs[False].lost_robot + runs[False].lost_rack_empty


def test_the_simulated_staff_top_up_a_back_room_location() -> None:
    from restock.sim.world import World

    store = load_store(store_file("corner_store.yaml"))
    world = World(store, render=False)
    world.stock["s_cola_500"] = 5
    assert world.staff_top_up("cola_500", 30) == ("s_cola_500", 30, 35)
    assert world.staff_top_up("cola_500") == ("s_cola_500", 85, 120)  # 0: up to the capacity
    assert world.staff_top_up("cola_500") == ("s_cola_500", 0, 120)
    assert [e.kind for e in world.events[-3:]] == ["staff_refill"] * 3


def test_an_answered_alert_is_closed_and_raised_again_if_the_risk_stays() -> None:
    """Staff who came while the rack was still full brought nothing: the alert is closed all the
    same (kept open, it would call nobody when the rack does run low), and the next forecast that
    still sees the risk raises a new one."""
    now = T0 + 12 * H
    watch = BackroomWatch(2, AlertConfig(lead_s=H))
    rates = constant([20.0, 2.0])
    near = forecast(now, rates, np.array([10, 30]), np.array([16, 16]), np.array([16, 16]), now + 5 * H)
    (raised,) = watch.update(near)
    assert watch.answered(1) is None and watch.answered(0, "backroom-999") is None  # not that pool / alert
    closed = watch.answered(0, raised.alert_id)
    assert closed is not None and closed.state == "cleared" and closed.alert_id == raised.alert_id
    assert not watch.active and watch.answered(0) is None
    (again,) = watch.update(
        forecast(now + 600, rates, np.array([8, 30]), np.array([16, 16]), np.array([16, 16]), now + 5 * H)
    )
    assert again.state == "raised" and again.alert_id != raised.alert_id


class AlertAlways(ReactivePolicy):
    """The reactive policy that asks staff for cola whenever it has no alert out, and hears answers."""

    def __init__(self) -> None:
        super().__init__(name="alert-always")
        self.out = False
        self.answers: list[float] = []

    def staff_alerts(self, view: StoreView) -> list[int]:
        if self.out:
            return []
        self.out = True
        return [view.lanes.skus.index("cola_500")]

    def on_staff_answered(self, t: float, pool: int) -> None:
        self.answers.append(t)
        self.out = False


def test_the_store_models_staff_tell_the_policy_they_came_even_to_a_full_rack() -> None:
    store = load_store(store_file("corner_store.yaml"))
    timing = RobotTiming.for_store(store, handling_s=12.0)
    sales = [SaleIn(T0 + 12 * H + 20 * k, "cola_500", 1) for k in range(600)]
    policy = AlertAlways()
    out = StoreModel(store, timing, staff_response_s=1800.0).run(policy, sales, T0 + 12 * H, T0 + 16 * H)
    # The first call finds a full rack (nothing added); later ones find room, and each is heard.
    assert out.alerts >= 3 and len(policy.answers) in (out.alerts, out.alerts - 1)
    assert policy.answers[0] == T0 + 12 * H + 1800.0 and out.staff_added > 0
