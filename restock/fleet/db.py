"""The fleet's PostgreSQL plumbing (psycopg 3, asyncio): the schema, a small connection pool, the
audit writer and a LISTEN loop that survives a dropped connection.

Everything shared between fleet service instances lives in the database, so any number of them can
run against one: a claim is a row lock (``FOR UPDATE SKIP LOCKED``), a queue change a NOTIFY.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import psycopg

from restock.teleop.records_out import printable

log = logging.getLogger("restock.fleet")

# Channels: the payload names whom it concerns (a tenant, a robot, an operator).
QUEUE_CHANNEL = "fleet_queue"  # a tenant's queue changed
ROBOT_CHANNEL = "fleet_robot"  # a robot's credential was revoked (or changed)
RESOLUTION_CHANNEL = "fleet_resolution"  # a robot has a resolution to receive
OPERATOR_CHANNEL = "fleet_operator"  # the operator list changed
COMMAND_CHANNEL = "fleet_command"  # an operator's relayed command for a robot linked to another instance
REPLY_CHANNEL = "fleet_reply"  # a robot's reply for an operator linked to another instance
SESSION_CHANNEL = "fleet_session"  # a session ended (logout): its links close wherever they are
CHANNELS = (
    QUEUE_CHANNEL, ROBOT_CHANNEL, RESOLUTION_CHANNEL, OPERATOR_CHANNEL, COMMAND_CHANNEL, REPLY_CHANNEL, SESSION_CHANNEL,
)  # fmt: skip

SCHEMA = """
CREATE TABLE IF NOT EXISTS tenants (
  id text PRIMARY KEY, name text NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS stores (
  id text PRIMARY KEY, tenant_id text NOT NULL REFERENCES tenants(id), name text NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS robots (
  id text PRIMARY KEY, store_id text NOT NULL REFERENCES stores(id),
  tenant_id text NOT NULL REFERENCES tenants(id),
  secret_sha256 text NOT NULL,            -- hex SHA-256 of the robot's random 256-bit secret
  revoked_at timestamptz, last_seen timestamptz, status jsonb);
ALTER TABLE robots ADD COLUMN IF NOT EXISTS instance_url text;  -- the instance it is linked to (its stream)
CREATE TABLE IF NOT EXISTS operators (
  name text PRIMARY KEY, tenant_id text NOT NULL REFERENCES tenants(id),
  password_scrypt text NOT NULL, disabled_at timestamptz);
CREATE TABLE IF NOT EXISTS sessions (
  token_sha256 bytea PRIMARY KEY, operator text NOT NULL REFERENCES operators(name),
  tenant_id text NOT NULL, expires_at timestamptz NOT NULL, revoked_at timestamptz);
CREATE TABLE IF NOT EXISTS tickets (
  ticket_sha256 bytea PRIMARY KEY, token_sha256 bytea NOT NULL, expires_at timestamptz NOT NULL);
CREATE TABLE IF NOT EXISTS handoffs (
  id bigserial PRIMARY KEY, tenant_id text NOT NULL REFERENCES tenants(id),
  robot_id text NOT NULL REFERENCES robots(id), request_id text NOT NULL,
  kind text NOT NULL, lane_id text, blocked_sales_per_h double precision NOT NULL DEFAULT 0,
  raised_at timestamptz NOT NULL, request jsonb NOT NULL,
  state text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'claimed', 'resolved')),
  claimed_by text, claimed_at timestamptz, resolved_at timestamptz, resolution jsonb, delivered_at timestamptz,
  UNIQUE (robot_id, request_id));       -- a robot's resync after a lost link adds no duplicate
CREATE INDEX IF NOT EXISTS handoffs_open ON handoffs (tenant_id, state);
CREATE INDEX IF NOT EXISTS handoffs_undelivered ON handoffs (robot_id) WHERE state = 'resolved' AND delivered_at IS NULL;
CREATE TABLE IF NOT EXISTS claims (
  id bigserial PRIMARY KEY, handoff_id bigint NOT NULL REFERENCES handoffs(id),
  operator text NOT NULL, instance text NOT NULL,
  claimed_at timestamptz NOT NULL DEFAULT now(), ended_at timestamptz, outcome text);
-- The database itself refuses a second live claim of a handoff, and a second one by an operator.
CREATE UNIQUE INDEX IF NOT EXISTS claims_one_per_handoff ON claims (handoff_id) WHERE ended_at IS NULL;
CREATE UNIQUE INDEX IF NOT EXISTS claims_one_per_operator ON claims (operator) WHERE ended_at IS NULL;
CREATE TABLE IF NOT EXISTS audit (
  id bigserial PRIMARY KEY, t timestamptz NOT NULL DEFAULT clock_timestamp(),
  tenant_id text, actor text, robot_id text, event text NOT NULL,
  detail text NOT NULL DEFAULT '', peer text, instance text);
"""


async def create_schema(conninfo: str) -> None:
    # Two instances starting at once must not both create the tables: an advisory lock takes turns.
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(4242001)")
        await conn.execute(SCHEMA)


class Pool:
    """A few autocommit connections handed out one task at a time; a broken one is replaced.

    (psycopg_pool would do; one more dependency is not worth thirty lines.)
    """

    def __init__(self, conninfo: str, size: int = 4, connect_timeout_s: float = 5.0) -> None:
        self.conninfo = conninfo
        self.size = size
        self.connect_timeout_s = connect_timeout_s
        self._idle: asyncio.Queue[psycopg.AsyncConnection | None] = asyncio.Queue()
        for _ in range(size):
            self._idle.put_nowait(None)  # None: connect when first needed
        self.reconnects = 0

    async def _connect(self) -> psycopg.AsyncConnection:
        return await psycopg.AsyncConnection.connect(
            self.conninfo, autocommit=True, connect_timeout=max(1, int(self.connect_timeout_s))
        )

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection]:
        conn = await self._idle.get()
        try:
            if conn is None or conn.closed or conn.broken:
                if conn is not None:
                    self.reconnects += 1
                conn = await self._connect()
            yield conn
        except psycopg.OperationalError:
            if conn is not None:  # the server went away or killed this backend: never reuse it
                with contextlib.suppress(Exception):
                    await conn.close()
            conn = None
            raise
        finally:
            if conn is not None and conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                # cancelled mid-statement or mid-transaction: its state is unknown, so it is not reused
                with contextlib.suppress(Exception):
                    await conn.close()
                conn = None
            self._idle.put_nowait(conn)

    async def run(self, fn: Callable[[psycopg.AsyncConnection], Awaitable[object]], retries: int = 1) -> object:
        """fn(conn) on a pooled connection, once more on a fresh one when the first was found dead
        (fn must be one transaction, so a retry cannot do anything twice)."""
        for attempt in range(retries + 1):
            try:
                async with self.connection() as conn:
                    return await fn(conn)
            except psycopg.OperationalError:
                if attempt == retries:
                    raise
        raise AssertionError("unreachable")

    async def close(self) -> None:
        while not self._idle.empty():
            conn = self._idle.get_nowait()
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close()


async def write_audit(
    conn: psycopg.AsyncConnection,
    event: str,
    *,
    tenant: str | None = None,
    actor: str | None = None,
    robot: str | None = None,
    detail: str = "",
    peer: str | None = None,
    instance: str | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO audit (tenant_id, actor, robot_id, event, detail, peer, instance) VALUES (%s,%s,%s,%s,%s,%s,%s)",
        (printable(tenant), printable(actor), printable(robot), event, printable(detail[:2000]) or "",
         printable(peer), instance),
    )  # fmt: skip


async def notify(conn: psycopg.AsyncConnection, channel: str, payload: str) -> None:
    # pg_notify in the same transaction: listeners hear of the change only once it is committed.
    await conn.execute("SELECT pg_notify(%s, %s)", (channel, payload))


async def listen(
    conninfo: str,
    on_notify: Callable[[str, str], Awaitable[None] | None],
    on_reconnect: Callable[[], Awaitable[None] | None] | None = None,
    retry_s: float = 0.5,
    probe_s: float = 5.0,
) -> None:
    """Call on_notify(channel, payload) for every NOTIFY on CHANNELS, forever (cancel to stop).

    A dropped connection is reopened every ``retry_s``; on_reconnect runs after each reopening,
    because notifications sent while nobody listened are lost and the caller must re-read its state.
    """
    first = True
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                for channel in CHANNELS:
                    await conn.execute(f"LISTEN {channel}")
                if not first and on_reconnect is not None:
                    result = on_reconnect()
                    if asyncio.iscoroutine(result):
                        await result
                first = False
                while True:
                    async for note in conn.notifies(timeout=probe_s):
                        result = on_notify(note.channel, note.payload)
                        if asyncio.iscoroutine(result):
                            await result
                    # Quiet for probe_s: a server that vanished without closing the connection
                    # (a cut cable, a frozen host) shows itself here, not never.
                    await asyncio.wait_for(conn.execute("SELECT 1"), probe_s)
        except (psycopg.OperationalError, asyncio.TimeoutError) as err:
            log.warning("fleet: LISTEN connection lost (%s); reconnecting", str(err).strip()[:200] or "no answer")
            first = False
            await asyncio.sleep(retry_s)
