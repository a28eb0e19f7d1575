"""The fleet's queue in PostgreSQL: handoffs from robots, claims, resolutions back to the robots.

Ordering and claim rules are restock.fleet.queue's (the same functions the sizing simulation runs);
this module only fetches rows, locks them and writes what the rules allowed. A claim locks its row
with ``FOR UPDATE SKIP LOCKED``, so two operators (on one instance or two) never wait on each other
and never get the same handoff; partial unique indexes on ``claims`` make the database refuse a
second live claim of a handoff or by an operator whatever the code does. Every change of a tenant's
queue sends a NOTIFY in the same transaction; every claim, release, resolve and refusal is audited.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import psycopg

from restock import records
from restock.fleet.db import QUEUE_CHANNEL, RESOLUTION_CHANNEL, Pool, notify, write_audit
from restock.fleet.queue import DEFAULT_PRIORITY, ClaimError, Entry, Priority, check_claim, check_holder, order_open

MAX_OPEN_FETCHED = 2000  # open handoffs of one tenant read to order them (a fleet of 300 stores has tens)
MAX_WAITING_S = 7 * 86400.0  # a robot's own account of how long a handoff waited offline, at most

_ENTRY_COLUMNS = (
    "id, tenant_id, robot_id, request_id, blocked_sales_per_h, extract(epoch from raised_at)::float8, state, "
    "claimed_by, extract(epoch from claimed_at)::float8"
)


# Per operator of a tenant: online (a live session), claims held, resolved and time spent on
# handoffs in the last hour (the console's "operators online, their load").
_OPERATORS_SQL = """
SELECT o.name,
  EXISTS (SELECT 1 FROM sessions s WHERE s.operator = o.name AND s.revoked_at IS NULL AND s.expires_at > now()),
  (SELECT count(*) FROM claims c WHERE c.operator = o.name AND c.ended_at IS NULL),
  (SELECT count(*) FROM claims c WHERE c.operator = o.name AND c.ended_at > now() - interval '1 hour'
     AND c.outcome NOT IN ('release', 'logout', 'orphaned')),
  (SELECT coalesce(sum(extract(epoch from coalesce(c.ended_at, now()) - greatest(c.claimed_at, now() - interval '1 hour'))), 0)
     FROM claims c WHERE c.operator = o.name AND coalesce(c.ended_at, now()) > now() - interval '1 hour')::float8
FROM operators o WHERE o.tenant_id = %s AND o.disabled_at IS NULL ORDER BY o.name
"""


def _entry(row: tuple) -> Entry:
    return Entry(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8])


@dataclass(frozen=True)
class Actor:
    """Who asks: an operator of a tenant, from an address, through an instance."""

    operator: str
    tenant: str
    peer: str | None = None


class FleetStore:
    def __init__(self, pool: Pool, instance: str = "fleet", priority: Priority = DEFAULT_PRIORITY) -> None:
        self.pool = pool
        self.instance = instance
        self.priority = priority

    async def audit(self, event: str, **fields: str | None) -> None:
        async def write(conn: psycopg.AsyncConnection) -> None:
            await write_audit(conn, event, instance=self.instance, **fields)

        await self.pool.run(write)

    async def refuse(self, kind: str, reason: str, actor: Actor | None = None, robot: str | None = None,
                     peer: str | None = None) -> None:  # fmt: skip
        """Audit a refusal (the service's one refusal path calls this)."""
        await self.audit(
            f"refused:{kind}",
            tenant=actor.tenant if actor else None,
            actor=actor.operator if actor else None,
            robot=robot,
            detail=reason,
            peer=peer or (actor.peer if actor else None),
        )

    # --- robots: handoffs in, resolutions out ------------------------------------------

    async def submit_handoff(
        self, robot: str, tenant: str, request: records.HandoffRequest, blocked_sales_per_h: float = 0.0,
        waiting_s: float = 0.0,
    ) -> tuple[int, bool]:  # fmt: skip
        """Queue a robot's handoff; (id, True) when new, (id, False) for a request id already known
        (a resync after a lost link, or a repeat): nothing is added twice."""
        rate = max(0.0, min(float(blocked_sales_per_h), 1e6))
        waited = max(0.0, min(float(waiting_s), MAX_WAITING_S))

        async def run(conn: psycopg.AsyncConnection) -> tuple[int, bool]:
            async with conn.transaction():
                row = await (
                    await conn.execute(
                        "INSERT INTO handoffs (tenant_id, robot_id, request_id, kind, lane_id, blocked_sales_per_h,"
                        " raised_at, request) VALUES (%s,%s,%s,%s,%s,%s, now() - make_interval(secs => %s), %s)"
                        " ON CONFLICT (robot_id, request_id) DO NOTHING RETURNING id",
                        (
                            tenant,
                            robot,
                            request.request_id,
                            request.kind,
                            request.lane_id,
                            rate,
                            waited,
                            records.encode(request),
                        ),
                    )
                ).fetchone()
                if row is not None:
                    await write_audit(conn, "handoff", tenant=tenant, robot=robot, instance=self.instance,
                                      detail=f"{request.request_id} {request.kind} lane={request.lane_id}")  # fmt: skip
                    await notify(conn, QUEUE_CHANNEL, tenant)
                    return row[0], True
                old = await (
                    await conn.execute(
                        "SELECT id FROM handoffs WHERE robot_id=%s AND request_id=%s", (robot, request.request_id)
                    )
                ).fetchone()
                return old[0], False

        return await self.pool.run(run)  # type: ignore[return-value]

    async def undelivered(self, robot: str) -> list[records.HandoffResolution]:
        """Resolutions the robot has not acknowledged (sent on every (re)connect and on NOTIFY)."""

        async def run(conn: psycopg.AsyncConnection) -> list[tuple]:
            cur = await conn.execute(
                "SELECT resolution FROM handoffs WHERE robot_id=%s AND state='resolved' AND delivered_at IS NULL"
                " ORDER BY resolved_at",
                (robot,),
            )
            return await cur.fetchall()

        rows = await self.pool.run(run)
        return [records.decode(json.dumps(r[0]), records.HandoffResolution) for r in rows]  # type: ignore[union-attr]

    async def delivered(self, robot: str, request_id: str) -> bool:
        async def run(conn: psycopg.AsyncConnection) -> bool:
            cur = await conn.execute(
                "UPDATE handoffs SET delivered_at=now() WHERE robot_id=%s AND request_id=%s AND state='resolved'"
                " AND delivered_at IS NULL",
                (robot, request_id),
            )
            return cur.rowcount == 1

        return await self.pool.run(run)  # type: ignore[return-value]

    async def withdraw(self, robot: str, tenant: str, resolution: records.HandoffResolution) -> bool:
        """The robot resolved a handoff itself (an operator at its own bridge): it leaves the queue,
        resolved as the robot says and already delivered, and a claim on it ends. False: none open."""

        async def run(conn: psycopg.AsyncConnection) -> bool:
            async with conn.transaction():
                row = await (
                    await conn.execute(
                        "SELECT id FROM handoffs WHERE robot_id=%s AND request_id=%s AND state IN ('open', 'claimed')"
                        " FOR UPDATE",
                        (robot, resolution.request_id),
                    )
                ).fetchone()
                if row is None:
                    return False
                await conn.execute(
                    "UPDATE handoffs SET state='resolved', resolved_at=now(), resolution=%s, delivered_at=now()"
                    " WHERE id=%s",
                    (records.encode(resolution), row[0]),
                )
                await conn.execute(
                    "UPDATE claims SET ended_at=now(), outcome='resolved at the robot' WHERE handoff_id=%s"
                    " AND ended_at IS NULL",
                    (row[0],),
                )
                await write_audit(conn, "withdraw", tenant=tenant, robot=robot, instance=self.instance,
                                  detail=f"handoff {row[0]} ({resolution.request_id}): {resolution.action} at the"
                                  f" robot by {resolution.operator}")  # fmt: skip
                await notify(conn, QUEUE_CHANNEL, tenant)
                return True

        return await self.pool.run(run)  # type: ignore[return-value]

    # --- operators: the queue, claims, resolves -------------------------------------------

    async def open_entries(self, tenant: str) -> tuple[list[Entry], float]:
        """The tenant's open handoffs in the queue's order, and the database's clock (epoch s)."""

        async def run(conn: psycopg.AsyncConnection) -> tuple[list[tuple], float]:
            cur = await conn.execute(
                f"SELECT {_ENTRY_COLUMNS} FROM handoffs WHERE tenant_id=%s AND state='open' ORDER BY raised_at"
                " LIMIT %s",
                (tenant, MAX_OPEN_FETCHED),
            )
            rows = await cur.fetchall()
            now = await (await conn.execute("SELECT extract(epoch from now())::float8")).fetchone()
            return rows, now[0]

        rows, now = await self.pool.run(run)  # type: ignore[misc]
        return order_open([_entry(r) for r in rows], now, self.priority), now

    async def queue_view(self, tenant: str) -> dict:
        """What a tenant's operators see: open handoffs in order, claims in progress, the operators and
        their load, the robots (linked or not, last heard of, their last status) and the waits."""

        async def run(conn: psycopg.AsyncConnection) -> tuple[list[tuple], list[tuple], list[tuple]]:
            cur = await conn.execute(
                "SELECT h.id, h.robot_id, s.id, h.request_id, h.kind, h.lane_id, h.blocked_sales_per_h,"
                " extract(epoch from now() - h.raised_at)::float8, h.state, h.claimed_by, h.request->>'detail'"
                " FROM handoffs h JOIN robots r ON r.id = h.robot_id JOIN stores s ON s.id = r.store_id"
                " WHERE h.tenant_id=%s AND h.state IN ('open', 'claimed')",
                (tenant,),
            )
            handoffs = await cur.fetchall()
            cur = await conn.execute(_OPERATORS_SQL, (tenant,))
            operators = await cur.fetchall()
            cur = await conn.execute(
                "SELECT id, store_id, instance_url IS NOT NULL, extract(epoch from now() - last_seen)::float8, status"
                " FROM robots WHERE tenant_id=%s AND revoked_at IS NULL ORDER BY id",
                (tenant,),
            )
            return handoffs, operators, await cur.fetchall()

        entries, _ = await self.open_entries(tenant)
        order = {e.key: i for i, e in enumerate(entries)}
        rows, operators, robots = await self.pool.run(run)  # type: ignore[misc]
        items = []
        for r in rows:
            items.append({"id": r[0], "robot": r[1], "store": r[2], "request_id": r[3], "kind": r[4], "lane_id": r[5],
                          "blocked_sales_per_h": r[6], "waiting_s": round(r[7], 1), "state": r[8],
                          "claimed_by": r[9], "detail": r[10] or ""})  # fmt: skip
        items.sort(key=lambda i: (i["state"] != "open", order.get(i["id"], 0), -i["waiting_s"]))
        waits = sorted(i["waiting_s"] for i in items if i["state"] == "open")
        return {
            "tenant": tenant,
            "handoffs": items,
            "operators": [
                {
                    "name": n,
                    "online": on,
                    "holding": held,
                    "resolved_last_hour": done,
                    "busy_s_last_hour": round(busy, 1),
                }
                for n, on, held, done, busy in operators
            ],
            "robots": [
                {
                    "id": r,
                    "store": st,
                    "linked": up,
                    "seen_s_ago": None if ago is None else round(ago, 1),
                    "status": status,
                }
                for r, st, up, ago, status in robots
            ],
            "waits": {
                "open": len(waits),
                "longest_s": waits[-1] if waits else 0.0,
                "median_s": waits[len(waits) // 2] if waits else 0.0,
            },
        }

    async def release_orphaned(self) -> list[int]:
        """Hand back to the queue every handoff claimed by an operator with no live session left
        (logged out elsewhere, or the session expired): a claim must not outlive its operator. Rows
        another instance is handling are skipped (SKIP LOCKED): it or the next sweep takes them."""

        async def run(conn: psycopg.AsyncConnection) -> list[int]:
            async with conn.transaction():
                cur = await conn.execute(
                    "SELECT h.id, h.tenant_id, h.robot_id, h.claimed_by FROM handoffs h WHERE h.state='claimed'"
                    " AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.operator = h.claimed_by"
                    " AND s.revoked_at IS NULL AND s.expires_at > now()) FOR UPDATE SKIP LOCKED"
                )
                gone = await cur.fetchall()
                for key, tenant, robot, operator in gone:
                    await conn.execute(
                        "UPDATE handoffs SET state='open', claimed_by=NULL, claimed_at=NULL WHERE id=%s", (key,)
                    )
                    await conn.execute(
                        "UPDATE claims SET ended_at=now(), outcome='orphaned' WHERE handoff_id=%s AND ended_at IS NULL",
                        (key,),
                    )
                    await write_audit(conn, "release", tenant=tenant, actor=operator, robot=robot, instance=self.instance,
                                      detail=f"handoff {key}: the operator has no live session")  # fmt: skip
                for tenant in {g[1] for g in gone}:
                    await notify(conn, QUEUE_CHANNEL, tenant)
                return [g[0] for g in gone]

        return await self.pool.run(run)  # type: ignore[return-value]

    async def claim(self, actor: Actor, handoff_id: int | None = None) -> Entry:
        """Claim handoff_id, or the costliest open one of the actor's tenant; ClaimError (audited) if refused."""
        try:
            return await self.pool.run(lambda conn: self._claim(conn, actor, handoff_id))  # type: ignore[return-value]
        except ClaimError as err:
            await self.refuse("claim", str(err), actor)
            raise
        except psycopg.errors.UniqueViolation as err:  # the partial indexes: a race the rules lost
            await self.refuse("claim", f"database refused a second live claim: {err.diag.constraint_name}", actor)
            raise ClaimError(f"unique claim: {err.diag.constraint_name}", "already claimed") from None

    async def _lock(self, conn: psycopg.AsyncConnection, handoff_id: int, skip_locked: bool) -> Entry | None:
        lock = "FOR UPDATE SKIP LOCKED" if skip_locked else "FOR UPDATE"
        cur = await conn.execute(f"SELECT {_ENTRY_COLUMNS} FROM handoffs WHERE id=%s {lock}", (handoff_id,))
        row = await cur.fetchone()
        return None if row is None else _entry(row)

    async def _claim(self, conn: psycopg.AsyncConnection, actor: Actor, handoff_id: int | None) -> Entry:
        async with conn.transaction():
            held = await (
                await conn.execute(
                    "SELECT count(*) FROM claims WHERE operator=%s AND ended_at IS NULL", (actor.operator,)
                )
            ).fetchone()
            if handoff_id is None:
                entry = None
                cur = await conn.execute(
                    f"SELECT {_ENTRY_COLUMNS} FROM handoffs WHERE tenant_id=%s AND state='open' ORDER BY raised_at"
                    " LIMIT %s",
                    (actor.tenant, MAX_OPEN_FETCHED),
                )
                now = (await (await conn.execute("SELECT extract(epoch from now())::float8")).fetchone())[0]
                for candidate in order_open([_entry(r) for r in await cur.fetchall()], now, self.priority):
                    entry = await self._lock(conn, candidate.key, skip_locked=True)  # another claimer has it: next
                    if entry is not None and entry.state == "open":
                        break
                    entry = None
                if entry is None:
                    raise ClaimError(f"nothing open for tenant {actor.tenant}", "no open handoff", 404)
            else:
                entry = await self._lock(conn, handoff_id, skip_locked=True)
                if entry is None:  # locked by a claim in flight, or no such row
                    exists = await (
                        await conn.execute("SELECT tenant_id FROM handoffs WHERE id=%s", (handoff_id,))
                    ).fetchone()
                    if exists is not None and exists[0] == actor.tenant:
                        raise ClaimError(
                            f"handoff {handoff_id} is being claimed by another operator", "already claimed"
                        )
                    entry = None if exists is None else Entry(handoff_id, exists[0], "", "", 0.0, 0.0)
            check_claim(entry, actor.operator, actor.tenant, held[0])
            assert entry is not None
            await conn.execute(
                "UPDATE handoffs SET state='claimed', claimed_by=%s, claimed_at=now() WHERE id=%s",
                (actor.operator, entry.key),
            )
            await conn.execute(
                "INSERT INTO claims (handoff_id, operator, instance) VALUES (%s,%s,%s)",
                (entry.key, actor.operator, self.instance),
            )
            await write_audit(conn, "claim", tenant=actor.tenant, actor=actor.operator, robot=entry.robot,
                              detail=f"handoff {entry.key} ({entry.request_id})", peer=actor.peer,
                              instance=self.instance)  # fmt: skip
            await notify(conn, QUEUE_CHANNEL, actor.tenant)
            entry.state, entry.claimed_by, entry.claimed_at = "claimed", actor.operator, time.time()
            return entry

    async def release(self, actor: Actor, handoff_id: int, why: str = "release") -> Entry:
        """Hand a claimed handoff back to the queue (the operator let go, or their session ended)."""
        return await self._end_claim(actor, handoff_id, why, None)

    async def resolve(
        self, actor: Actor, handoff_id: int, action: str, label: str | None = None, note: str = ""
    ) -> records.HandoffResolution:
        """Resolve a handoff the actor holds; the resolution waits in the row until its robot acknowledges it."""
        box: list[records.HandoffResolution] = []
        await self._end_claim(actor, handoff_id, action, (label, note, box))
        return box[0]

    async def _end_claim(self, actor: Actor, handoff_id: int, outcome: str, resolution: tuple | None) -> Entry:
        async def run(conn: psycopg.AsyncConnection) -> Entry:
            async with conn.transaction():
                entry = await self._lock(conn, handoff_id, skip_locked=False)
                check_holder(entry, actor.operator, actor.tenant)
                assert entry is not None
                if resolution is None:
                    await conn.execute(
                        "UPDATE handoffs SET state='open', claimed_by=NULL, claimed_at=NULL WHERE id=%s", (entry.key,)
                    )
                else:
                    label, note, box = resolution
                    res = records.HandoffResolution(request_id=entry.request_id, operator=actor.operator,
                                                    action=outcome, label=label, stamp=time.time(), note=note)  # fmt: skip
                    await conn.execute(
                        "UPDATE handoffs SET state='resolved', resolved_at=now(), resolution=%s WHERE id=%s",
                        (records.encode(res), entry.key),
                    )
                    await notify(conn, RESOLUTION_CHANNEL, entry.robot)
                    box.append(res)
                await conn.execute(
                    "UPDATE claims SET ended_at=now(), outcome=%s WHERE handoff_id=%s AND ended_at IS NULL",
                    (outcome, entry.key),
                )
                event = "release" if resolution is None else "resolve"
                await write_audit(conn, event, tenant=actor.tenant, actor=actor.operator, robot=entry.robot,
                                  detail=f"handoff {entry.key} ({entry.request_id}): {outcome}", peer=actor.peer,
                                  instance=self.instance)  # fmt: skip
                await notify(conn, QUEUE_CHANNEL, actor.tenant)
                return entry

        try:
            return await self.pool.run(run)  # type: ignore[return-value]
        except ClaimError as err:
            await self.refuse("resolve" if resolution is not None else "release", str(err), actor)
            raise

    async def holding(self, actor: Actor, robot: str) -> int | None:
        """The handoff of robot the actor holds a claim on, if any (the right to command that robot)."""

        async def run(conn: psycopg.AsyncConnection) -> tuple | None:
            cur = await conn.execute(
                "SELECT id FROM handoffs WHERE robot_id=%s AND tenant_id=%s AND state='claimed' AND claimed_by=%s"
                " LIMIT 1",
                (robot, actor.tenant, actor.operator),
            )
            return await cur.fetchone()

        row = await self.pool.run(run)
        return None if row is None else row[0]  # type: ignore[index]

    async def held_by(self, operator: str) -> list[int]:
        async def run(conn: psycopg.AsyncConnection) -> list[tuple]:
            cur = await conn.execute(
                "SELECT handoff_id FROM claims WHERE operator=%s AND ended_at IS NULL", (operator,)
            )
            return await cur.fetchall()

        return [r[0] for r in await self.pool.run(run)]  # type: ignore[union-attr]

    async def audit_rows(self, event_like: str = "%") -> list[dict]:
        async def run(conn: psycopg.AsyncConnection) -> list[tuple]:
            cur = await conn.execute(
                "SELECT tenant_id, actor, robot_id, event, detail, peer, instance FROM audit WHERE event LIKE %s"
                " ORDER BY id",
                (event_like,),
            )
            return await cur.fetchall()

        keys = ("tenant", "actor", "robot", "event", "detail", "peer", "instance")
        return [dict(zip(keys, r, strict=True)) for r in await self.pool.run(run)]  # type: ignore[union-attr]
