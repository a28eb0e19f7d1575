"""The queue's pure rules: what waiting costs, the order, who may claim, release and resolve."""

from __future__ import annotations

import pytest

from restock.fleet.queue import ClaimError, FleetQueue, Priority, cost_rate, expected_lost_sales, order_open


def test_costlier_first_and_age_lifts_a_cheap_handoff() -> None:
    q = FleetQueue(Priority(floor_per_h=0.2, aging_s=300.0))
    cheap = q.add("chain_a", "r1", "h1", 0.0, now=0.0)
    dear = q.add("chain_a", "r2", "h2", 6.0, now=0.0)
    assert [e.key for e in q.open_for("chain_a", now=10.0)] == [dear.key, cheap.key]
    # 0.2 * (1 + age / 300) grows past a fresh 6/h handoff once the cheap one has waited long enough
    fresh = q.add("chain_a", "r3", "h3", 6.0, now=9000.0)
    order = [e.key for e in q.open_for("chain_a", now=9000.0)]
    assert order.index(cheap.key) < order.index(fresh.key)
    assert cost_rate(0.0, 9000.0) > cost_rate(6.0, 0.0)


def test_equal_cost_goes_by_age_then_arrival() -> None:
    q = FleetQueue()
    a = q.add("t", "r1", "x", 1.0, now=5.0)
    b = q.add("t", "r1", "y", 1.0, now=5.0)
    c = q.add("t", "r1", "z", 1.0, now=0.0)
    assert [e.key for e in order_open(q.entries.values(), now=5.0)] == [c.key, a.key, b.key]


def test_claim_rules_tenant_state_one_at_a_time() -> None:
    q = FleetQueue()
    mine = q.add("chain_a", "r1", "h1", 1.0, now=0.0)
    other = q.add("chain_b", "r9", "h9", 50.0, now=0.0)
    with pytest.raises(ClaimError) as err:
        q.claim(other.key, "alice", "chain_a", now=1.0)
    assert err.value.status == 404 and err.value.public == "no open handoff with that id"  # not "another tenant's"
    assert q.claim_next("alice", "chain_a", now=1.0) is mine  # chain_b's dearer handoff is not alice's to see
    second = q.add("chain_a", "r1", "h2", 1.0, now=2.0)
    with pytest.raises(ClaimError, match="already holds"):
        q.claim(second.key, "alice", "chain_a", now=2.0)
    with pytest.raises(ClaimError, match="claimed by alice"):
        q.claim(mine.key, "carol", "chain_a", now=2.0)
    with pytest.raises(ClaimError, match="not held by carol"):
        q.resolve(mine.key, "carol", "chain_a")
    q.release(mine.key, "alice", "chain_a")
    assert q.claim(mine.key, "carol", "chain_a", now=3.0).claimed_by == "carol"
    q.resolve(mine.key, "carol", "chain_a")
    assert mine.key not in q.entries and q.holding("carol") == 0


def test_expected_lost_sales() -> None:
    assert expected_lost_sales(6.0, 600.0) == pytest.approx(1.0)
    assert expected_lost_sales(-1.0, 600.0) == 0.0
