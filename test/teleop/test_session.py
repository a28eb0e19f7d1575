"""Leases (one operator per robot, one robot per operator) and the handoff queue."""

from __future__ import annotations

import pytest

from restock import records
from restock.teleop.session import HandoffQueue, LeaseBook, LeaseError


def request(rid: str, stamp: float = 1.0) -> records.HandoffRequest:
    return records.HandoffRequest(request_id=rid, source="shelf_camera_cam0", kind="unfamiliar_item", stamp=stamp)


def test_second_operator_cannot_take_a_held_robot():
    book = LeaseBook(timeout_s=10)
    book.claim("r1", "alice", "c1", "h1", now=0.0)
    with pytest.raises(LeaseError, match="held by alice"):
        book.claim("r1", "bob", "c2", None, now=1.0)
    with pytest.raises(LeaseError, match="another connection"):
        book.claim("r1", "alice", "c3", None, now=1.0)
    with pytest.raises(LeaseError, match="already holds robot r1"):
        book.claim("r2", "alice", "c1", None, now=1.0)
    with pytest.raises(LeaseError, match="not held by this connection"):
        book.release("r1", "c2")
    assert book.release("r1", "c1").operator == "alice"
    assert book.claim("r1", "bob", "c2", None, now=2.0).operator == "bob"


def test_lease_ends_on_timeout_and_disconnect():
    book = LeaseBook(timeout_s=10)
    book.claim("r1", "alice", "c1", None, now=0.0)
    assert book.touch("r1", "c1", now=9.0)
    assert book.expire(now=18.0) == []
    assert [lease.operator for lease in book.expire(now=19.5)] == ["alice"]
    book.claim("r1", "bob", "c2", None, now=20.0)
    assert [lease.operator for lease in book.drop_connection("c2")] == ["bob"]
    assert book.holder("r1") is None


def test_queue_claim_resolve_and_overflow():
    q = HandoffQueue(max_open=2)
    q.add(request("a"), 0.0)
    q.add(request("b"), 1.0)
    q.claim("a", "alice")
    with pytest.raises(LeaseError, match="claimed by alice"):
        q.claim("a", "bob")
    dropped = q.add(request("c"), 2.0)
    assert dropped is not None and dropped.request.request_id == "b"  # oldest unclaimed goes, the claimed one stays
    assert [e["request_id"] for e in q.summary(3.0)] == ["a", "c"]
    assert q.resolve("a").claimed_by == "alice"
    with pytest.raises(LeaseError):
        q.resolve("a")
    q.add(request("c", stamp=5.0), 4.0)  # a repeat updates, does not duplicate
    assert len(q) == 1 and q.get("c").request.stamp == 5.0
