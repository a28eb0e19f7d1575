"""Lockstep: the simulator advances sim time only when every controller in the loop has answered.

Gazebo's lockstep with ros2_control, done over plain topics. A sync point at sim time t has two
phases, each of which waits for the graph to settle: first /clock(t) alone (participants set their
clock and run their jobs due at t, on what they heard up to the previous sync point), then the
sensors at t (joint_states, camera frames, the till's sales) with everything they set off (the arm
controller's control step runs on its joint_states, so it acts on the arm's state at t). Then
the world steps to the next sync point. Jobs and sensor callbacks never race for the same step,
and every callback sees the clock at t: the outcome is the same on a quiet or a loaded machine. Each participant node counts what it sent per topic and
what each of its subscriptions received, runs its sim-time jobs from /clock (never from free
timers), and after every callback publishes a :class:`~restock.records.LockstepAck`: its counts
and the next sim time it needs to be woken at. The graph is settled when every subscription of
every participant (the simulator included) has received at least what all participants together
sent on its topic: nothing is in flight, nothing is being worked on (an ack goes out only after
its callback's own messages). Only then does the simulator step to the next sync point: its own
next due time (joint_states, a camera, the ground truth) or the earliest a participant asked for.

Why counts and not a "done" flag: a participant's reply (a trajectory, a task) travels on another
topic than its ack and may arrive after it; the counts make the simulator wait for it. Everything
a participant sends is caused by a counted message (a sensor, /clock, another participant's
message), so the settled test cannot be fooled by a message still to be caused.

Not every sender takes part (an operator through the teleop bridge, an e-stop button): their
messages only make a received count larger, which the test allows. What goes wrong in a real
graph is bounded, not fatal: a participant that does not settle within ``timeout_s`` wall seconds
(killed, wedged, or a message lost before discovery matched it) is left out and counted, and is
taken back, its counts rebased, at its next ack; a restarted participant (a new incarnation)
is rebased the same way. Either makes the run no longer reproducible, so it is logged and counted.

Pure: no rclpy; times come in as arguments (``now`` sim s, ``wall`` monotonic s).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from restock import topics
from restock.records import LockstepAck

# Topics no participant's decisions depend on: never counted.
UNCOUNTED = frozenset({topics.DIAGNOSTICS, topics.LOCKSTEP_ACKS})


# --- a participant's side -------------------------------------------------------------------


@dataclass
class SimJob:
    """A periodic job on sim time, run from /clock: a ROS timer's place under lockstep.

    ``wanted(next_at)``: the sim time the job needs to be woken at (None: only when something
    else wakes the graph); by default its next period.
    """

    period_s: float
    run: Callable[[], None]
    wanted: Callable[[float], float | None] | None = None
    next_at: float | None = None

    def due(self, now: float) -> bool:
        if self.next_at is None:
            self.next_at = now  # the first /clock: run now, then every period
        return now >= self.next_at - 1e-9

    def ran(self, now: float) -> None:
        assert self.next_at is not None
        # A clock that jumped over several periods runs the job once, like a ROS timer would.
        self.next_at = max(self.next_at + self.period_s, now + 1e-6)

    def wake_at(self) -> float | None:
        if self.next_at is None:
            return None
        return self.wanted(self.next_at) if self.wanted is not None else self.next_at


@dataclass
class Participant:
    """A node's counts and jobs; the node turns :meth:`ack` into a message after each callback."""

    node: str
    incarnation: str
    sent: dict[str, int] = field(default_factory=dict)
    received: dict[str, list[int]] = field(default_factory=dict)
    jobs: list[SimJob] = field(default_factory=list)
    clock: float = 0.0
    extra_wake: float | None = None  # a wake-up time besides the jobs' (the scripted operator's)
    matched: dict[str, int] = field(default_factory=dict)  # topic -> subscriptions its publisher has
    _acked: tuple | None = None

    def subscribed(self, topic: str) -> int | None:
        """A new subscription on ``topic``: its slot (None: not counted)."""
        if topic in UNCOUNTED:
            return None
        slots = self.received.setdefault(topic, [])
        slots.append(0)
        return len(slots) - 1

    def got(self, topic: str, slot: int) -> None:
        self.received[topic][slot] += 1

    def publishes(self, topic: str) -> None:
        """A new publisher on ``topic`` (listed with 0 sent, so its matching can be checked)."""
        if topic not in UNCOUNTED:
            self.sent.setdefault(topic, 0)

    def published(self, topic: str) -> None:
        if topic not in UNCOUNTED:
            self.sent[topic] = self.sent.get(topic, 0) + 1

    def due_jobs(self, now: float) -> list[SimJob]:
        """The clock moved to ``now``: the jobs to run (the caller runs each, then ``ran``)."""
        self.clock = max(self.clock, now)
        return [job for job in self.jobs if job.due(now)]

    def next_due(self) -> float | None:
        wanted = [t for job in self.jobs if (t := job.wake_at()) is not None]
        if self.extra_wake is not None:
            wanted.append(self.extra_wake)
        return min(wanted) if wanted else None

    def snapshot(self) -> LockstepAck:
        """The counts now, unvalidated (the simulator reads its own many times a step)."""
        return LockstepAck.model_construct(
            node=self.node,
            incarnation=self.incarnation,
            stamp=self.clock,
            next_due=None,
            sent=dict(self.sent),
            received={t: list(v) for t, v in self.received.items()},
            matched=dict(self.matched),
        )

    def ack(self, force: bool = False) -> LockstepAck | None:
        """The ack to publish now; None when nothing changed since the last (unless ``force``)."""
        state = (
            self.clock,
            self.next_due(),
            tuple(sorted(self.sent.items())),
            _frozen(self.received),
            tuple(sorted(self.matched.items())),
        )
        if not force and state == self._acked:
            return None
        self._acked = state
        return LockstepAck(
            node=self.node,
            incarnation=self.incarnation,
            stamp=self.clock,
            next_due=state[1],
            sent=dict(self.sent),
            received={t: list(v) for t, v in self.received.items()},
            matched=dict(self.matched),
        )


def _frozen(received: Mapping[str, Sequence[int]]) -> tuple:
    return tuple(sorted((t, tuple(v)) for t, v in received.items()))


# --- the simulator's side -------------------------------------------------------------------


@dataclass
class _Peer:
    ack: LockstepAck
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)  # received + offset: rebased
    out: bool = False  # left out after a timeout, until its next ack


@dataclass
class Barrier:
    """Who the simulator waits for, and whether the graph has settled since the last sync point."""

    participants: tuple[str, ...]
    timeout_s: float = 5.0
    peers: dict[str, _Peer] = field(default_factory=dict)
    retired_sent: dict[str, int] = field(default_factory=dict)  # earlier incarnations' messages
    waiting_since: float | None = None
    phases: int = 0  # sync-point phases stepped through
    waited_s: float = 0.0  # wall seconds spent waiting for answers, in all
    timeouts: int = 0
    rebases: int = 0
    log: list[str] = field(default_factory=list)  # what the node should log (then clears)

    def on_ack(self, ack: LockstepAck, own: Callable[[], LockstepAck]) -> None:
        """A participant's ack (``own()``: the simulator's counts now, read only to rebase)."""
        peer = self.peers.get(ack.node)
        if peer is None:
            self.peers[ack.node] = _Peer(ack)
            return
        if peer.ack.incarnation != ack.incarnation:
            for topic, n in peer.ack.sent.items():
                self.retired_sent[topic] = self.retired_sent.get(topic, 0) + n
            peer.ack, peer.offsets = ack, {}
            self._rebase(peer, own(), f"{ack.node} restarted")
            return
        peer.ack = ack
        if peer.out:
            self._rebase(peer, own(), f"{ack.node} answered again")

    def _rebase(self, peer: _Peer, own: LockstepAck, why: str) -> None:
        """Take ``peer`` back as it is now: what it missed is counted as lost, not waited for."""
        total = self.total_sent(own)
        peer.offsets = {
            (topic, i): max(peer.offsets.get((topic, i), 0), total.get(topic, 0) - n)
            for topic, slots in peer.ack.received.items()
            for i, n in enumerate(slots)
        }
        peer.out = False
        self.rebases += 1
        self.log.append(f"lockstep: {why}; its counts are rebased (this run is no longer reproducible)")

    def start(self, own: LockstepAck, own_offsets: dict[tuple[str, int], int]) -> None:
        """The first step of this simulator: what was sent before it (a latched record a late
        joiner got only the last of, a restarted simulator's predecessor) is not waited for."""
        total = self.total_sent(own)
        for topic, slots in own.received.items():
            for i, n in enumerate(slots):
                own_offsets[(topic, i)] = max(0, total.get(topic, 0) - n)
        for peer in self.peers.values():
            peer.offsets = {
                (topic, i): max(0, total.get(topic, 0) - n)
                for topic, slots in peer.ack.received.items()
                for i, n in enumerate(slots)
            }

    def ready(self, own: LockstepAck) -> bool:
        """Every named participant has answered, and every publisher hears every counted
        subscription on its topic: the simulator may take its first step."""
        return not self.missing() and not self.unmatched(own)

    def unmatched(self, own: LockstepAck) -> list[str]:
        """'node topic matched/subscriptions' for publishers discovery has not matched yet."""
        slots: dict[str, int] = {}
        for ack in [own, *(p.ack for p in self.peers.values())]:
            for topic, counts in ack.received.items():
                slots[topic] = slots.get(topic, 0) + len(counts)
        return [
            f"{ack.node} {topic} {n}/{slots[topic]}"
            for ack in [own, *(p.ack for p in self.peers.values())]
            for topic, n in ack.matched.items()
            if n < slots.get(topic, 0)
        ]

    def missing(self) -> list[str]:
        return [name for name in self.participants if name not in self.peers]

    def total_sent(self, own: LockstepAck) -> dict[str, int]:
        total = dict(self.retired_sent)
        for ack in [own, *(p.ack for p in self.peers.values())]:
            for topic, n in ack.sent.items():
                total[topic] = total.get(topic, 0) + n
        return total

    def behind(self, own: LockstepAck, own_offsets: dict[tuple[str, int], int]) -> list[str]:
        """What the graph still waits for: 'node topic[slot] received/sent', empty when settled."""
        total = self.total_sent(own)
        out: list[str] = []
        views = [(own, own_offsets)] + [(p.ack, p.offsets) for p in self.peers.values() if not p.out]
        for ack, offsets in views:
            for topic, slots in ack.received.items():
                want = total.get(topic, 0)
                for i, n in enumerate(slots):
                    if n + offsets.get((topic, i), 0) < want:
                        out.append(f"{ack.node} {topic}[{i}] {n + offsets.get((topic, i), 0)}/{want}")
        return out

    def next_due(self, now: float) -> float:
        """The earliest sim time after ``now`` a participant asked to be woken at (inf: none)."""
        wanted = [
            p.ack.next_due
            for p in self.peers.values()
            if not p.out and p.ack.next_due is not None and p.ack.next_due > now + 1e-9
        ]
        return min(wanted) if wanted else math.inf

    def stepped(self, wall: float) -> None:
        """A sync point went out: the wait for it starts."""
        self.waiting_since = wall
        self.phases += 1

    def answered(self, wall: float) -> None:
        """The graph settled on the last phase: its wait is over."""
        if self.waiting_since is not None:
            self.waited_s += wall - self.waiting_since

    def settled(self, own: LockstepAck, own_offsets: dict[tuple[str, int], int], wall: float) -> bool:
        """True when the graph has settled; past ``timeout_s`` the laggards are left out (logged)."""
        lagging = self.behind(own, own_offsets)
        if not lagging:
            return True
        if self.waiting_since is None or wall - self.waiting_since <= self.timeout_s:
            return False
        self.timeouts += 1
        self.log.append(
            f"lockstep: no answer within {self.timeout_s:.1f} s wall: {', '.join(lagging[:6])}; going on without"
        )
        for peer in self.peers.values():
            if any(line.startswith(f"{peer.ack.node} ") for line in lagging):
                peer.out = True
        total = self.total_sent(own)
        for topic, slots in own.received.items():  # the simulator's own missed messages: lost
            for i, n in enumerate(slots):
                own_offsets[(topic, i)] = max(own_offsets.get((topic, i), 0), total.get(topic, 0) - n)
        return True
