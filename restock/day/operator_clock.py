"""The scripted operator in lockstep: it acts at exact sim times and the simulator waits for it.

A person answering handoffs is outside the robot, but a store day that is to be reproducible
cannot let an operator's timing depend on how fast the machine runs. So the scripted operator is
a lockstep participant (restock.graph.lockstep) named ``operator``: it hears /clock, the ground
truth (its "eyes") and the handoff requests as counted subscriptions, tells the simulator the sim
time of its next action (a request's stamp + its delay, the end of its handling time), and at that
sync point holds its answer back until the action is done and its effects are seen on the graph.

What it does goes out through the teleop bridge (the real protocol), which is not a participant.
The bridge's teleop/status and handoff/resolutions records, seen here, are counted as sent by the
operator ("sent on its behalf"): the simulator then also waits until every participant has
received them, so the arm, the planner and the simulator act on an operator's answer at the same
sync point in every run.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

from restock import records, topics
from restock.graph.lockstep import Participant

NAME = "operator"


class OperatorClock:
    """The operator's side of lockstep, on the day monitor's node (its callbacks, any thread's done())."""

    def __init__(self, node: Any, ack_qos: Any) -> None:
        from rosgraph_msgs.msg import Clock
        from std_msgs.msg import String

        self._string = String
        self.participant = Participant(NAME, f"{os.getpid()}-{time.time_ns()}")
        self.now = 0.0
        self.requests: dict[str, float] = {}  # request id -> stamp (sim s)
        self.status: records.TeleopStatus | None = None
        self.resolved: set[str] = set()
        # The scripted operator sets these: when it next needs to act (None: nothing pending).
        self.wake: Callable[[], float | None] = lambda: None
        self._held = False
        self._lock = threading.RLock()
        self._pub = node.create_publisher(String, topics.LOCKSTEP_ACKS, ack_qos)
        slot = self.participant.subscribed(topics.CLOCK)
        node.create_subscription(Clock, topics.CLOCK, lambda m: self._on_clock(m, slot), 100)

    def counted(self, topic: str, callback: Callable[[Any], None]) -> Callable[[Any], None]:
        """A record callback of the monitor whose messages the simulator must see processed."""
        slot = self.participant.subscribed(topic)

        def on_record(record: Any) -> None:
            with self._lock:
                callback(record)
                if isinstance(record, records.HandoffRequest):
                    self.requests.setdefault(record.request_id, record.stamp)
                if slot is not None:
                    self.participant.got(topic, slot)
                self._answer()

        return on_record

    def seen(self, record: records.TeleopStatus | records.HandoffResolution) -> None:
        """The bridge published this because of the operator: counted as the operator's."""
        with self._lock:
            if isinstance(record, records.TeleopStatus):
                self.status = record
                self.participant.published(topics.TELEOP_STATUS)
            else:
                self.resolved.add(record.request_id)
                self.participant.published(topics.HANDOFF_RESOLUTIONS)
            self._answer()

    def _on_clock(self, msg: Any, slot: int | None) -> None:
        with self._lock:
            self.now = msg.clock.sec + msg.clock.nanosec * 1e-9
            self.participant.clock = self.now
            assert slot is not None
            self.participant.got(topics.CLOCK, slot)
            wake = self.wake()
            self._held = wake is not None and wake <= self.now + 1e-9  # the operator acts first
            self._answer()

    def due(self) -> bool:
        """An action is due now: the simulator waits until :meth:`done`."""
        return self._held

    def done(self) -> None:
        with self._lock:
            self._held = False
            self._answer()

    def heartbeat(self) -> None:
        with self._lock:
            self._answer(force=True)

    def _answer(self, force: bool = False) -> None:
        if self._held:
            return
        self.participant.extra_wake = self.wake()
        ack = self.participant.ack(force)
        if ack is not None:
            self._pub.publish(self._string(data=records.encode(ack)))
