"""The fleet's one queue, as pure rules: what waiting costs, the order of open handoffs, who may claim.

A handoff blocks a lane (or the whole arm) until an operator resolves it. While it waits, the store
loses the sales the blocked lane would have made: ``blocked_sales_per_h`` (the robot's demand model
says how many, 0 when it cannot tell). Serving the handoff that loses most per hour first is the
c-mu rule (least lost sales when service times are alike); on its own it would starve a handoff that
costs little, so the rate grows with age: ``(max(rate, floor) * (1 + age / aging_s))``. With the
defaults a handoff that costs nothing outranks a fresh one losing 1 sale/h after 20 minutes.

The PostgreSQL store (restock.fleet.store) and the sizing simulation (restock.fleet.sizing) both
order and check claims with these functions; :class:`FleetQueue` is the in-memory queue the
simulation drives. No clock of its own: ``now`` is passed in (seconds).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

STATES = ("open", "claimed", "resolved")


class ClaimError(Exception):
    """A refused claim, release or resolve. ``reason`` is logged and audited; ``public`` is what the
    operator is told (a handoff of another tenant reads as one that does not exist)."""

    def __init__(self, reason: str, public: str | None = None, status: int = 409) -> None:
        super().__init__(reason)
        self.public = public or reason
        self.status = status


@dataclass(frozen=True)
class Priority:
    floor_per_h: float = 0.2  # a handoff counts as losing at least this much (so every one ages)
    aging_s: float = 300.0  # waiting this long doubles what a handoff is taken to lose per hour


DEFAULT_PRIORITY = Priority()


@dataclass
class Entry:
    """One handoff as the queue sees it."""

    key: int
    tenant: str
    robot: str
    request_id: str
    blocked_sales_per_h: float
    raised_at: float
    state: str = "open"
    claimed_by: str | None = None
    claimed_at: float | None = None


def cost_rate(blocked_sales_per_h: float, age_s: float, priority: Priority = DEFAULT_PRIORITY) -> float:
    """What one more hour of waiting is taken to cost (sales/h, aged): the queue's sort key."""
    return max(blocked_sales_per_h, priority.floor_per_h) * (1.0 + max(age_s, 0.0) / priority.aging_s)


def expected_lost_sales(blocked_sales_per_h: float, waited_s: float) -> float:
    """Sales lost while the lane stayed blocked for waited_s (the figure the queue works down)."""
    return max(blocked_sales_per_h, 0.0) * max(waited_s, 0.0) / 3600.0


def order_open(entries: Iterable[Entry], now: float, priority: Priority = DEFAULT_PRIORITY) -> list[Entry]:
    """The open entries, costliest first; ties by age (older first), then by key (arrival)."""
    open_ = [e for e in entries if e.state == "open"]
    return sorted(
        open_, key=lambda e: (-cost_rate(e.blocked_sales_per_h, now - e.raised_at, priority), e.raised_at, e.key)
    )


def check_claim(entry: Entry | None, operator: str, tenant: str, holding: int, max_held: int = 1) -> None:
    """Raise ClaimError unless ``operator`` of ``tenant`` (now holding ``holding`` claims) may claim entry."""
    if entry is None:
        raise ClaimError("no such handoff", "no open handoff with that id", 404)
    if entry.tenant != tenant:  # never say it exists: the same answer as an unknown id
        raise ClaimError(f"handoff {entry.key} belongs to tenant {entry.tenant}", "no open handoff with that id", 404)
    if entry.state != "open":
        who = f" by {entry.claimed_by}" if entry.claimed_by else ""
        raise ClaimError(f"handoff {entry.key} is {entry.state}{who}", f"handoff already {entry.state}")
    if holding >= max_held:
        raise ClaimError(f"{operator} already holds {holding} handoff(s)", "resolve or release your handoff first")


def check_holder(entry: Entry | None, operator: str, tenant: str) -> None:
    """Raise ClaimError unless operator holds entry (to release or resolve it)."""
    if entry is None:
        raise ClaimError("no such handoff", "no open handoff with that id", 404)
    if entry.tenant != tenant:
        raise ClaimError(f"handoff {entry.key} belongs to tenant {entry.tenant}", "no open handoff with that id", 404)
    if entry.state != "claimed" or entry.claimed_by != operator:
        raise ClaimError(
            f"handoff {entry.key} is {entry.state}, not held by {operator}", "you do not hold that handoff"
        )


class FleetQueue:
    """The queue in memory: the simulation's (and a unit test's) stand-in for the database's rows."""

    def __init__(self, priority: Priority = DEFAULT_PRIORITY, max_held: int = 1) -> None:
        self.priority = priority
        self.max_held = max_held
        self.entries: dict[int, Entry] = {}
        self._next = 1

    def add(self, tenant: str, robot: str, request_id: str, blocked_sales_per_h: float, now: float) -> Entry:
        entry = Entry(self._next, tenant, robot, request_id, blocked_sales_per_h, now)
        self.entries[entry.key] = entry
        self._next += 1
        return entry

    def holding(self, operator: str) -> int:
        return sum(1 for e in self.entries.values() if e.state == "claimed" and e.claimed_by == operator)

    def open_for(self, tenant: str, now: float) -> list[Entry]:
        return order_open((e for e in self.entries.values() if e.tenant == tenant), now, self.priority)

    def claim(self, key: int, operator: str, tenant: str, now: float) -> Entry:
        entry = self.entries.get(key)
        check_claim(entry, operator, tenant, self.holding(operator), self.max_held)
        assert entry is not None
        entry.state, entry.claimed_by, entry.claimed_at = "claimed", operator, now
        return entry

    def claim_next(self, operator: str, tenant: str, now: float) -> Entry | None:
        """The costliest open handoff of the tenant, claimed; None when nothing is open."""
        first = next(iter(self.open_for(tenant, now)), None)
        return None if first is None else self.claim(first.key, operator, tenant, now)

    def release(self, key: int, operator: str, tenant: str) -> Entry:
        entry = self.entries.get(key)
        check_holder(entry, operator, tenant)
        assert entry is not None
        entry.state, entry.claimed_by, entry.claimed_at = "open", None, None
        return entry

    def resolve(self, key: int, operator: str, tenant: str) -> Entry:
        entry = self.entries.get(key)
        check_holder(entry, operator, tenant)
        assert entry is not None
        entry.state = "resolved"
        del self.entries[key]  # resolved rows stay in the database; in memory they are done with
        return entry
