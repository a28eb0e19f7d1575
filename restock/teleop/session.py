"""Who holds which robot, and the queue of handoff requests waiting for an operator.

One operator holds one robot at a time, and a robot is held by one operator: a lease others cannot
take. A lease ends on hand-back, on timeout (no message from the holder for ``timeout_s``) or when
the holder's connection drops. Pure Python, clock passed in.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from restock import records


class LeaseError(Exception):
    """A refused claim or release; the message is the logged reason."""


@dataclass
class Lease:
    robot: str
    operator: str
    connection: str  # the connection that claimed it: its drop ends the lease
    request_id: str | None
    since: float
    last_seen: float


@dataclass
class LeaseBook:
    timeout_s: float = 30.0
    _leases: dict[str, Lease] = field(default_factory=dict)  # robot -> lease

    def holder(self, robot: str) -> Lease | None:
        return self._leases.get(robot)

    def held_by(self, operator: str) -> Lease | None:
        return next((lease for lease in self._leases.values() if lease.operator == operator), None)

    def claim(self, robot: str, operator: str, connection: str, request_id: str | None, now: float) -> Lease:
        current = self._leases.get(robot)
        if current is not None and current.operator != operator:
            raise LeaseError(f"robot {robot} is held by {current.operator}")
        if current is not None and current.connection != connection:
            raise LeaseError(f"robot {robot} is held by {operator} on another connection")
        other = self.held_by(operator)
        if other is not None and other.robot != robot:
            raise LeaseError(f"{operator} already holds robot {other.robot}")
        if current is not None:
            current.request_id = request_id or current.request_id
            current.last_seen = now
            return current
        lease = Lease(robot, operator, connection, request_id, now, now)
        self._leases[robot] = lease
        return lease

    def touch(self, robot: str, connection: str, now: float) -> bool:
        """The holder was heard from; True while this connection holds the robot."""
        lease = self._leases.get(robot)
        if lease is None or lease.connection != connection:
            return False
        lease.last_seen = now
        return True

    def controls(self, robot: str, connection: str) -> bool:
        lease = self._leases.get(robot)
        return lease is not None and lease.connection == connection

    def release(self, robot: str, connection: str) -> Lease:
        lease = self._leases.get(robot)
        if lease is None or lease.connection != connection:
            raise LeaseError(f"robot {robot} is not held by this connection")
        return self._leases.pop(robot)

    def drop_connection(self, connection: str) -> list[Lease]:
        gone = [lease for lease in self._leases.values() if lease.connection == connection]
        for lease in gone:
            del self._leases[lease.robot]
        return gone

    def expire(self, now: float) -> list[Lease]:
        gone = [lease for lease in self._leases.values() if now - lease.last_seen > self.timeout_s]
        for lease in gone:
            del self._leases[lease.robot]
        return gone


@dataclass
class QueuedHandoff:
    request: records.HandoffRequest
    received: float  # bridge's clock (wall seconds)
    claimed_by: str | None = None
    frame_jpeg: bytes | None = None  # the camera's full frame when the request came, for a training sample


class HandoffQueue:
    """Open handoff requests, oldest first; a request is kept until resolved (or the queue overflows)."""

    def __init__(self, max_open: int = 200) -> None:
        self.max_open = max_open
        self._open: OrderedDict[str, QueuedHandoff] = OrderedDict()

    def add(self, request: records.HandoffRequest, now: float, frame_jpeg: bytes | None = None) -> QueuedHandoff | None:
        """Queue a request; a repeat of an open request id updates it. Returns what was dropped for room."""
        if request.request_id in self._open:
            entry = self._open[request.request_id]
            entry.request = request
            if frame_jpeg is not None:
                entry.frame_jpeg = frame_jpeg
            return None
        self._open[request.request_id] = QueuedHandoff(request, now, frame_jpeg=frame_jpeg)
        if len(self._open) > self.max_open:
            # Drop the oldest one nobody is working on.
            victim = next((k for k, v in self._open.items() if v.claimed_by is None), None)
            if victim is not None:
                return self._open.pop(victim)
        return None

    def get(self, request_id: str) -> QueuedHandoff | None:
        return self._open.get(request_id)

    def claim(self, request_id: str, operator: str) -> QueuedHandoff:
        entry = self._open.get(request_id)
        if entry is None:
            raise LeaseError(f"no open handoff request {request_id}")
        if entry.claimed_by not in (None, operator):
            raise LeaseError(f"handoff {request_id} is claimed by {entry.claimed_by}")
        entry.claimed_by = operator
        return entry

    def unclaim_all(self, operator: str) -> None:
        for entry in self._open.values():
            if entry.claimed_by == operator:
                entry.claimed_by = None

    def resolve(self, request_id: str) -> QueuedHandoff:
        entry = self._open.pop(request_id, None)
        if entry is None:
            raise LeaseError(f"no open handoff request {request_id}")
        return entry

    def __len__(self) -> int:
        return len(self._open)

    def summary(self, now: float) -> list[dict]:
        """What the app's queue shows (no image: it is fetched on demand)."""
        out = []
        for entry in self._open.values():
            r = entry.request
            out.append(
                {
                    "request_id": r.request_id,
                    "kind": r.kind,
                    "source": r.source,
                    "lane_id": r.lane_id,
                    "camera_id": r.camera_id,
                    "detail": r.detail,
                    "stamp": r.stamp,
                    "waiting_s": round(max(0.0, now - entry.received), 1),
                    "claimed_by": entry.claimed_by,
                    "has_image": r.image_jpeg_b64 is not None,
                    "has_frame": entry.frame_jpeg is not None,  # the full camera frame, for a training sample
                }
            )
        return out
