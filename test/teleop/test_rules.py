"""The teleop rules as plain function calls: claim, release, lease, resolve, e-stop, pose, heartbeat.
No sockets, no loop; the port is a list and the audit log a real in-memory SQLite."""

from __future__ import annotations

import pytest
from teleop_client import CollectingPort, handoff

from restock.paths import store_file
from restock.store.description import load_store
from restock.teleop import protocol as P
from restock.teleop.records_out import AuditLog
from restock.teleop.rules import Conn, Effects, PendingResolve, TeleopRules

ALICE, BOB = Conn("c1", "alice", "127.0.0.1"), Conn("c2", "bob", "127.0.0.2")


def pose(y: float, grip: bool = True) -> P.Pose:
    return P.Pose(type="pose", position=[0.0, y, 0.0], orientation=[0.0, 0.0, 0.0, 1.0], grip=grip)


@pytest.fixture
def rules() -> TeleopRules:
    store = load_store(store_file("corner_store.yaml"))
    return TeleopRules("robot1", store, {"alice": (), "bob": ("robot2",)}, CollectingPort(), AuditLog(":memory:"))


def refused(fx: Effects) -> list[str]:
    return [r.kind for r in fx.refusals]


def test_one_operator_holds_the_robot_and_only_its_poses_move_it(rules):
    rules.add_handoff(handoff("h-1"), None, 0.0)
    assert rules.handle(ALICE, P.Claim(type="claim", request_id="h-1"), 0.0).broadcast
    assert rules.port.statuses[-1].operator == "alice"
    fx = rules.handle(BOB, P.Claim(type="claim"), 0.1)
    assert refused(fx) == ["claim"] and fx.refusals[0].public == "you may not operate robot1"  # bob: robot2 only
    assert refused(rules.handle(BOB, pose(1.0), 0.1)) == ["pose"] and rules.port.targets == []
    assert rules.handle(ALICE, pose(1.0), 0.1).refusals == []
    assert len(rules.port.targets) == 1 and rules.port.statuses[-1].engaged
    assert refused(rules.handle(BOB, P.Release(type="release"), 0.2)) == ["release"]
    rules.handle(ALICE, P.Release(type="release"), 0.2)
    assert rules.port.statuses[-1].control == "autonomy" and rules.queue.get("h-1").claimed_by is None


def test_heartbeat_loss_holds_and_silence_ends_the_lease(rules):
    rules.handle(ALICE, P.Claim(type="claim"), 0.0)
    rules.handle(ALICE, pose(1.0), 0.0)
    rules.tick(0.1)
    assert rules.control.engaged
    rules.tick(0.3)  # no heartbeat for 0.3 s: held, still the holder
    assert not rules.control.engaged and rules.holder_name() == "alice"
    assert rules.counters["heartbeat_timeout"] == 1
    rules.handle(ALICE, P.Heartbeat(type="heartbeat"), 10.0)
    assert rules.tick(39.0).broadcast is False and rules.holder_name() == "alice"
    assert rules.tick(40.5).broadcast and rules.holder_name() is None  # silent 30 s
    assert rules.audit.rows("lease_timeout")[0]["operator"] == "alice"


def test_estop_anyone_engages_only_the_holder_releases(rules):
    rules.handle(ALICE, P.Claim(type="claim"), 0.0)
    rules.handle(BOB, P.Estop(type="estop", engaged=True), 0.1)
    assert rules.port.estops == [True] and rules.estop_engaged
    assert refused(rules.handle(BOB, P.Estop(type="estop", engaged=False), 0.2)) == ["estop"]
    assert refused(rules.handle(ALICE, pose(1.0), 0.2)) == ["pose"] and rules.port.targets == []
    rules.handle(ALICE, P.Estop(type="estop", engaged=False), 0.3)
    assert rules.port.estops == [True, False]
    assert rules.handle(ALICE, pose(1.0), 0.4).refusals == [] and len(rules.port.targets) == 1


def test_resolve_needs_the_lease_and_the_claim_and_a_known_label(rules):
    rules.add_handoff(handoff("h-2"), None, 0.0)
    labelled = P.Resolve(type="resolve", request_id="h-2", action="labelled", label="cola_500")
    assert refused(rules.plan_resolve(ALICE, labelled)) == ["resolve"]  # no lease
    rules.handle(ALICE, P.Claim(type="claim", request_id="h-2"), 0.0)
    unknown = P.Resolve(type="resolve", request_id="h-2", action="labelled", label="nuka_cola")
    assert "neither a SKU" in rules.plan_resolve(ALICE, unknown).refusals[0].reason
    plan = rules.plan_resolve(ALICE, labelled)
    assert isinstance(plan, PendingResolve) and plan.wants_sample
    fx = rules.finish_resolve(ALICE, plan, "h-2_0.jpg")
    assert fx.replies == [{"type": "ack", "of": "resolve", "request_id": "h-2", "sample": "h-2_0.jpg"}]
    assert rules.port.resolutions[-1].label == "cola_500" and len(rules.queue) == 0
    assert rules.holder_name() == "alice" and rules.leases.holder("robot1").request_id is None
    assert refused(rules.finish_resolve(ALICE, plan, None)) == ["resolve"]  # not twice


def test_a_dropped_connection_releases(rules):
    rules.handle(ALICE, P.Claim(type="claim"), 0.0)
    assert rules.disconnect(BOB).broadcast is False
    assert rules.disconnect(ALICE).broadcast and rules.holder_name() is None
    assert rules.port.statuses[-1].control == "autonomy"
