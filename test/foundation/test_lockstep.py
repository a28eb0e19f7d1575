"""Lockstep's counting rules (restock.graph.lockstep), without ROS."""

from __future__ import annotations

import math

from restock.graph.lockstep import Barrier, Participant, SimJob
from restock.records import LockstepAck


def _sim(sent: dict[str, int], received: dict[str, list[int]] | None = None) -> LockstepAck:
    return LockstepAck(node="sim", incarnation="s", stamp=0.0, sent=sent, received=received or {})


def _ack(node: str, sent=None, received=None, next_due=None, incarnation="1", stamp=0.0) -> LockstepAck:
    return LockstepAck(
        node=node, incarnation=incarnation, stamp=stamp, next_due=next_due, sent=sent or {}, received=received or {}
    )


def test_a_participant_counts_its_slots_and_acks_only_on_change() -> None:
    p = Participant("arm", "1")
    a, b = p.subscribed("pos/sales"), p.subscribed("pos/sales")  # one topic, two subscriptions
    assert (a, b) == (0, 1) and p.subscribed("/diagnostics") is None
    p.got("pos/sales", 1)
    p.published("arm_controller/joint_trajectory")
    p.published("/diagnostics")  # never counted
    first = p.ack()
    assert first is not None and first.received == {"pos/sales": [0, 1]}
    assert first.sent == {"arm_controller/joint_trajectory": 1}
    assert p.ack() is None  # nothing changed
    assert p.ack(force=True) == first


def test_jobs_run_on_the_clock_and_say_when_they_want_waking() -> None:
    ran: list[float] = []
    p = Participant("planner", "1")
    idle = {"flag": True}
    p.jobs.append(SimJob(5.0, lambda: ran.append(1.0)))
    p.jobs.append(SimJob(0.05, lambda: ran.append(2.0), wanted=lambda nxt: None if idle["flag"] else nxt))
    assert p.next_due() is None  # before the first clock nothing is scheduled
    for job in p.due_jobs(100.0):
        job.run()
        job.ran(100.0)
    assert ran == [1.0, 2.0]
    assert p.next_due() == 105.0  # the busy-only job does not ask while idle
    idle["flag"] = False
    assert math.isclose(p.next_due(), 100.05)
    # A clock that jumped over several periods runs a job once, then a period on from now.
    ran.clear()
    due = p.due_jobs(103.0)
    assert len(due) == 1 and due[0].period_s == 0.05
    due[0].run()
    due[0].ran(103.0)
    assert ran == [2.0] and due[0].next_at > 103.0


def test_the_graph_settles_only_when_every_subscription_has_what_was_sent() -> None:
    b = Barrier(("arm", "camera"))
    own = _sim({"/clock": 3, "joint_states": 3}, {"arm_controller/joint_trajectory": [0]})
    assert not b.ready(own) and b.missing() == ["arm", "camera"]
    b.on_ack(_ack("arm", received={"/clock": [3], "joint_states": [2]}), lambda: own)
    b.on_ack(_ack("camera", received={"/clock": [3]}), lambda: own)
    assert b.ready(own)
    b.stepped(0.0)
    assert not b.settled(own, {}, 0.1)  # the arm has not processed the third joint_states
    assert b.behind(own, {}) == ["arm joint_states[0] 2/3"]
    # It has, and it answered with a trajectory the simulator has not read yet: still not settled.
    b.on_ack(
        _ack("arm", sent={"arm_controller/joint_trajectory": 1}, received={"/clock": [3], "joint_states": [3]}),
        lambda: own,
    )
    assert b.behind(own, {}) == ["sim arm_controller/joint_trajectory[0] 0/1"]
    own = _sim({"/clock": 3, "joint_states": 3}, {"arm_controller/joint_trajectory": [1]})
    assert b.settled(own, {}, 0.2)


def test_messages_from_outside_the_loop_do_not_block_it() -> None:
    # An operator's commands through the teleop bridge: received, never "sent" by a participant.
    b = Barrier(("arm",))
    own = _sim({"/clock": 1})
    b.on_ack(_ack("arm", received={"/clock": [1], "teleop/ee_target": [7]}), lambda: own)
    b.stepped(0.0)
    assert b.settled(own, {}, 0.0)


def test_next_due_is_the_earliest_future_wish() -> None:
    b = Barrier(("arm", "planner"))
    own = _sim({})
    b.on_ack(_ack("arm", next_due=10.25), lambda: own)
    b.on_ack(_ack("planner", next_due=15.0), lambda: own)
    assert b.next_due(10.0) == 10.25
    assert b.next_due(10.25) == 15.0  # a wish for now or the past is not a sync point
    b.on_ack(_ack("arm", next_due=None), lambda: own)
    b.on_ack(_ack("planner", next_due=None), lambda: own)
    assert b.next_due(10.0) == math.inf


def test_a_participant_that_does_not_answer_is_left_out_then_taken_back_rebased() -> None:
    b = Barrier(("arm",), timeout_s=2.0)
    own = _sim({"/clock": 5})
    b.on_ack(_ack("arm", received={"/clock": [4]}), lambda: own)
    b.stepped(10.0)
    assert not b.settled(own, {}, 11.0)
    assert b.settled(own, {}, 12.5)  # past the timeout: going on without it
    assert b.timeouts == 1 and b.peers["arm"].out and "no answer within 2.0 s" in b.log[0]
    own = _sim({"/clock": 6})
    b.stepped(13.0)
    assert b.settled(own, {}, 13.0)  # left out: not waited for
    # It answers again having missed one /clock for good: taken back with that loss counted.
    b.on_ack(_ack("arm", received={"/clock": [5]}), lambda: own)
    assert not b.peers["arm"].out and b.rebases == 1
    assert b.settled(own, {}, 13.1)
    own = _sim({"/clock": 7})
    assert b.behind(own, {}) == ["arm /clock[0] 6/7"]  # and from now on it is waited for again


def test_a_restarted_participant_is_rebased_and_its_old_messages_still_count() -> None:
    b = Barrier(("planner", "arm"))
    own = _sim({"/clock": 2})
    b.on_ack(_ack("planner", sent={"planner/tasks": 4}, received={"/clock": [2]}), lambda: own)
    b.on_ack(_ack("arm", received={"/clock": [2], "planner/tasks": [4]}), lambda: own)
    b.on_ack(_ack("planner", sent={}, received={"/clock": [0]}, incarnation="2"), lambda: own)  # restarted
    assert b.rebases == 1 and "planner restarted" in b.log[0]
    b.stepped(0.0)
    assert b.settled(own, {}, 0.0)  # the arm's 4 tasks are still accounted for; the new planner is rebased
    b.on_ack(_ack("planner", sent={"planner/tasks": 1}, received={"/clock": [0]}, incarnation="2"), lambda: own)
    assert b.behind(own, {}) == ["arm planner/tasks[0] 4/5"]


def test_the_simulator_drops_its_own_lost_messages_after_a_timeout() -> None:
    b = Barrier(("arm",), timeout_s=1.0)
    own = _sim({"/clock": 1}, {"arm_controller/joint_trajectory": [0]})
    b.on_ack(_ack("arm", sent={"arm_controller/joint_trajectory": 1}, received={"/clock": [1]}), lambda: own)
    offsets: dict[tuple[str, int], int] = {}
    b.stepped(0.0)
    assert not b.settled(own, offsets, 0.5)
    assert b.settled(own, offsets, 1.5)
    assert offsets == {("arm_controller/joint_trajectory", 0): 1}
    assert b.behind(own, offsets) == []


def test_the_first_step_waits_until_discovery_has_matched_every_counted_subscription() -> None:
    b = Barrier(("camera", "planner"))
    own = LockstepAck(node="sim", incarnation="s", stamp=0.0, matched={"/clock": 2})
    b.on_ack(_ack("planner", received={"/clock": [0], "shelf/observations": [0]}), lambda: own)
    camera = LockstepAck(node="camera", incarnation="1", stamp=0.0, received={"/clock": [0]}, matched={})
    b.on_ack(camera.model_copy(update={"matched": {"shelf/observations": 0}}), lambda: own)
    assert not b.ready(own) and b.unmatched(own) == ["camera shelf/observations 0/1"]
    b.on_ack(camera.model_copy(update={"matched": {"shelf/observations": 1}}), lambda: own)
    assert b.ready(own)
    assert not b.ready(own.model_copy(update={"matched": {"/clock": 1}}))  # the sim's /clock: 2 listeners
