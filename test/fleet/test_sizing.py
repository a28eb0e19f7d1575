"""Sizing: Erlang C's known values; the simulation (driving the real FleetQueue) agrees with Erlang C
where Erlang C is exact (M/M/c), orders by cost of waiting, and `restock fleet-plan` answers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from restock.fleet import sizing
from restock.fleet.queue import FleetQueue
from restock.fleet.sizing import ServiceTimes, erlang_c, erlang_c_wait_quantile, simulate


def test_erlang_c_known_values() -> None:
    assert erlang_c(1, 0.5) == pytest.approx(0.5)  # M/M/1: P(wait) = rho
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)
    assert erlang_c(3, 3.0) == 1.0 and math.isinf(erlang_c_wait_quantile(3, 1 / 30, 90.0))
    # M/M/1, lambda 0.5, mu 1: P(W > t) = 0.5 exp(-0.5 t) -> p95 at ln(10) / 0.5
    assert erlang_c_wait_quantile(1, 0.5, 1.0) == pytest.approx(math.log(10) / 0.5)
    assert erlang_c_wait_quantile(10, 0.01, 10.0) == 0.0


def test_simulation_matches_erlang_c_for_exponential_service() -> None:
    rate, mean = 2.0 / 90.0, 90.0  # 2 Erlang on 3 operators
    out = simulate(3, rate, ServiceTimes(mean, exponential=True), handoffs=40_000, seed=3)
    assert (out.waits > 0).mean() == pytest.approx(erlang_c(3, 2.0), abs=0.03)
    assert out.busy == pytest.approx(2.0 / 3.0, abs=0.03)
    # mean wait is the same for any order that never idles a free operator: C / (c mu - lambda)
    assert out.waits.mean() == pytest.approx(erlang_c(3, 2.0) / (3 / mean - rate), rel=0.15)


def test_simulation_claims_through_the_real_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    claims: list[float] = []
    real = FleetQueue.claim_next

    def spy(self: FleetQueue, operator: str, tenant: str, now: float):  # type: ignore[no-untyped-def]
        entry = real(self, operator, tenant, now)
        if entry is not None:
            claims.append(entry.blocked_sales_per_h)
        return entry

    monkeypatch.setattr(FleetQueue, "claim_next", spy)
    out = simulate(1, 0.9 / 60.0, ServiceTimes(60.0, 1.0), handoffs=5_000, seed=2)
    assert len(claims) == 5_000
    # busy single operator: the costlier handoffs are taken first, so they wait less than the cheap ones
    rates = out.rates
    dear, cheap = out.waits[rates > np.quantile(rates, 0.75)], out.waits[rates < np.quantile(rates, 0.25)]
    assert dear.mean() < 0.5 * cheap.mean()


def test_fleet_plan_prints_the_operators_needed_and_draws_the_plot(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    plot = tmp_path / "plan.png"
    assert sizing.main(["--stores", "300", "--handoffs", "4000", "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("operators needed"))
    des, erl = (int(x.split()[-1].rstrip(",")) for x in line.split(":")[1].split(",")[:2])
    assert 1 <= des <= erl + 1 and erl >= 2
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_rate_measured_from_store_day_summaries(tmp_path: Path) -> None:
    day = {"sim hours": 12.0, "handoffs raised": {"failed_grasp": 2, "obstruction": 1}, "handoffs resolved": {"cleared": 3},
           "operator minutes": 6.0}  # fmt: skip
    quiet = {"sim hours": 12.0, "handoffs raised": {}, "handoffs resolved": {}, "operator minutes": 0.0}
    (tmp_path / "a.json").write_text(json.dumps({"learned": day, "reactive": quiet}))
    per_day, service_s, detail = sizing.measured_rate([tmp_path / "a.json"])
    assert per_day == pytest.approx(3.0) and service_s == pytest.approx(120.0)
    assert detail.startswith("3 handoffs in 24.0 sim hours")


def test_tenants_with_their_own_operators_need_at_least_as_many_as_one_pool(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    def needed(*extra: str) -> int:
        assert sizing.main(["--handoffs", "4000", "--plot", str(tmp_path / "p.png"), *extra]) == 0
        line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("operators needed"))
        return int(line.split("simulation ")[1].split(",")[0])

    pooled, split = needed(), needed("--tenants", "3")
    assert split % 3 == 0 and split >= pooled
    assert sizing.main(["--tenants", "0"]) == 2


def test_simulation_replays_a_given_sample_path() -> None:
    # one operator; arrivals at 0, 0.5 and 0.6 s, 1 s each: the dearer third goes before the second
    path = (np.array([0.0, 0.5, 0.6]), np.array([1.0, 1.0, 1.0]), np.array([0.0, 0.0, 5.0]))
    out = simulate(1, 1.0, ServiceTimes(1.0), warmup=0.0, path=path)
    assert list(out.waits) == pytest.approx([0.0, 1.5, 0.4])
    assert out.busy == pytest.approx(1.0)
