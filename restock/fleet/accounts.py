"""Who may talk to the fleet service: tenants, their stores and robots, operators, sessions.

A robot's credential is ``<robot id>:<secret>``, the secret 256 random bits; the database keeps only
its SHA-256 and a revocation time. (A password a person chose needs scrypt's cost against guessing;
a random secret does not, and after a fleet service restart every robot reconnects at once: 300
scrypt checks would take 15 CPU-seconds from the operators.) Revoking sends a NOTIFY,
so every instance drops that robot's connection at once. Operators log in with a password (the
bridge's scrypt hashes, checked through its throttled LoginDesk); a login opens a session whose
token, like a WebSocket's one-time ticket, is kept as a SHA-256 in the database: any instance
accepts a token another one issued, and a ticket is spent by whichever instance redeems it first.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets

import psycopg

from restock.fleet.db import OPERATOR_CHANNEL, ROBOT_CHANNEL, SESSION_CHANNEL, Pool, notify, write_audit
from restock.teleop.auth import AuthError, Operator, OperatorBook, hash_password


def token_sha(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


_NO_ROBOT = bytes(32)  # compared against when the robot is unknown, so a refusal takes as long either way


class Accounts:
    def __init__(self, pool: Pool, instance: str = "fleet", session_ttl_s: float = 900.0, ticket_ttl_s: float = 20.0):
        self.pool = pool
        self.instance = instance
        self.session_ttl_s = session_ttl_s
        self.ticket_ttl_s = ticket_ttl_s

    async def _exec(self, sql: str, args: tuple = (), audit: tuple[str, dict] | None = None,
                    channel: tuple[str, str] | None = None) -> list[tuple]:  # fmt: skip
        async def run(conn: psycopg.AsyncConnection) -> list[tuple]:
            async with conn.transaction():
                cur = await conn.execute(sql, args)
                rows = await cur.fetchall() if cur.description else []
                if audit is not None:
                    await write_audit(conn, audit[0], instance=self.instance, **audit[1])
                if channel is not None:
                    await notify(conn, *channel)
                return rows

        return await self.pool.run(run)  # type: ignore[return-value]

    # --- set-up (the fleet's admin commands and the tests) --------------------------------

    async def add_tenant(self, tenant: str, name: str = "") -> None:
        await self._exec("INSERT INTO tenants (id, name) VALUES (%s,%s) ON CONFLICT DO NOTHING", (tenant, name))

    async def add_store(self, store: str, tenant: str, name: str = "") -> None:
        await self._exec("INSERT INTO stores (id, tenant_id, name) VALUES (%s,%s,%s)", (store, tenant, name))

    async def add_robot(self, robot: str, store: str) -> str:
        """Register a robot of a store; returns its credential ``robot:secret`` (shown once, kept hashed)."""
        secret = secrets.token_urlsafe(32)
        await self._exec(
            "INSERT INTO robots (id, store_id, tenant_id, secret_sha256) SELECT %s, id, tenant_id, %s FROM stores"
            " WHERE id=%s RETURNING id",
            (robot, token_sha(secret).hex(), store),
            audit=("robot_added", {"robot": robot, "detail": f"store {store}"}),
        )
        return f"{robot}:{secret}"

    async def revoke_robot(self, robot: str, by: str = "admin") -> bool:
        rows = await self._exec(
            "UPDATE robots SET revoked_at=now() WHERE id=%s AND revoked_at IS NULL RETURNING tenant_id",
            (robot,),
            audit=("robot_revoked", {"robot": robot, "actor": by}),
            channel=(ROBOT_CHANNEL, robot),
        )
        return bool(rows)

    async def add_operator(self, name: str, tenant: str, password: str) -> None:
        hashed = await asyncio.to_thread(hash_password, password)
        await self._exec(
            "INSERT INTO operators (name, tenant_id, password_scrypt) VALUES (%s,%s,%s)",
            (name, tenant, hashed),
            audit=("operator_added", {"tenant": tenant, "actor": name}),
            channel=(OPERATOR_CHANNEL, name),
        )

    async def disable_operator(self, name: str, by: str = "admin") -> bool:
        """No more logins, and every session of the operator ends now (their links close on every
        instance); their claims go back to the queue at the next sweep."""
        rows = await self._exec(
            "UPDATE operators SET disabled_at=now() WHERE name=%s AND disabled_at IS NULL RETURNING tenant_id",
            (name,),
            audit=("operator_disabled", {"actor": by, "detail": name}),
            channel=(OPERATOR_CHANNEL, name),
        )
        live = await self._exec(
            "SELECT token_sha256 FROM sessions WHERE operator=%s AND revoked_at IS NULL AND expires_at > now()", (name,)
        )
        for (sha,) in live:
            await self.close_session_sha(bytes(sha))
        return bool(rows)

    # --- robots -------------------------------------------------------------------------

    async def check_robot(self, credential: str | None) -> tuple[str, str]:
        """(robot id, tenant) for a good, unrevoked credential, else AuthError naming why (logged, not told)."""
        robot, _, secret = (credential or "").rpartition(":")
        if not robot or not secret or len(credential or "") > 300:
            raise AuthError("malformed robot credential")
        rows = await self._exec(
            "SELECT secret_sha256, revoked_at IS NOT NULL, tenant_id FROM robots WHERE id=%s", (robot,)
        )
        stored = bytes.fromhex(rows[0][0]) if rows else _NO_ROBOT
        ok = hmac.compare_digest(token_sha(secret), stored)
        if not rows or not ok:
            raise AuthError(f"bad credential for robot {robot[:64]!r}")
        if rows[0][1]:
            raise AuthError(f"robot {robot} is revoked")
        return robot, rows[0][2]

    async def robot_live(self, robot: str) -> bool:
        rows = await self._exec("SELECT revoked_at IS NULL FROM robots WHERE id=%s", (robot,))
        return bool(rows and rows[0][0])

    async def robot_linked(self, robot: str, instance_url: str) -> None:
        await self._exec("UPDATE robots SET instance_url=%s, last_seen=now() WHERE id=%s", (instance_url, robot))

    async def robot_unlinked(self, robot: str, instance_url: str) -> None:
        """The robot's link to this instance ended (unless it has linked to another one since)."""
        await self._exec("UPDATE robots SET instance_url=NULL WHERE id=%s AND instance_url=%s", (robot, instance_url))

    async def robot_url(self, robot: str) -> str | None:
        rows = await self._exec("SELECT instance_url FROM robots WHERE id=%s", (robot,))
        return rows[0][0] if rows else None

    async def robot_status(self, robot: str, status: dict) -> None:
        await self._exec(
            "UPDATE robots SET last_seen=now(), status=%s WHERE id=%s", (psycopg.types.json.Jsonb(status), robot)
        )

    # --- operators ----------------------------------------------------------------------

    async def operator_book(self) -> tuple[OperatorBook, dict[str, str]]:
        """The operators who may log in (for the bridge's LoginDesk) and each one's tenant."""
        rows = await self._exec("SELECT name, password_scrypt, tenant_id FROM operators WHERE disabled_at IS NULL")
        return OperatorBook({n: Operator(n, h) for n, h, _ in rows}), {n: t for n, _, t in rows}

    async def open_session(self, operator: str, tenant: str, peer: str | None = None) -> str:
        token = secrets.token_urlsafe(32)
        await self._exec(
            "INSERT INTO sessions (token_sha256, operator, tenant_id, expires_at)"
            " VALUES (%s,%s,%s, now() + make_interval(secs => %s))",
            (token_sha(token), operator, tenant, self.session_ttl_s),
            audit=("login", {"tenant": tenant, "actor": operator, "peer": peer}),
        )
        return token

    async def check_session(self, token: str | None) -> tuple[str, str]:
        """(operator, tenant) of a live session token, else AuthError naming why."""
        if not token or len(token) > 200:
            raise AuthError("no token")
        rows = await self._exec(
            "SELECT s.operator, s.tenant_id, s.revoked_at IS NOT NULL, s.expires_at <= now(), o.disabled_at IS NOT NULL"
            " FROM sessions s JOIN operators o ON o.name = s.operator WHERE s.token_sha256=%s",
            (token_sha(token),),
        )
        if not rows:
            raise AuthError("unknown token")
        operator, tenant, revoked, expired, disabled = rows[0]
        if revoked:
            raise AuthError("replayed token (logged out)")
        if expired:
            raise AuthError("expired token")
        if disabled:
            raise AuthError(f"operator {operator} is disabled")
        return operator, tenant

    async def close_session(self, token: str) -> None:
        await self.close_session_sha(token_sha(token))

    async def close_session_sha(self, session_sha: bytes) -> None:
        """Logout: the token is refused from now on (replay) and its unspent tickets die with it."""
        await self._exec(
            "UPDATE sessions SET revoked_at=now() WHERE token_sha256=%s AND revoked_at IS NULL",
            (session_sha,),
            channel=(SESSION_CHANNEL, session_sha.hex()),
        )
        await self._exec("DELETE FROM tickets WHERE token_sha256=%s", (session_sha,))

    async def issue_ticket(self, token: str) -> str:
        await self.check_session(token)
        ticket = secrets.token_urlsafe(24)
        await self._exec(
            "INSERT INTO tickets (ticket_sha256, token_sha256, expires_at) VALUES (%s,%s, now() + make_interval(secs => %s))",
            (token_sha(ticket), token_sha(token), self.ticket_ttl_s),
        )
        return ticket

    async def redeem_ticket(self, ticket: str | None) -> tuple[str, str, bytes]:
        """(operator, tenant, the session's token hash) of a one-time ticket; spent whether or not it is good."""
        if not ticket or len(ticket) > 200:
            raise AuthError("no ticket")
        rows = await self._exec(
            "DELETE FROM tickets WHERE ticket_sha256=%s RETURNING token_sha256, expires_at <= now()",
            (token_sha(ticket),),
        )
        if not rows:
            raise AuthError("unknown or already used ticket")
        session_sha, expired = rows[0]
        if expired:
            raise AuthError("expired ticket")
        session = await self._exec(
            "SELECT s.operator, s.tenant_id FROM sessions s JOIN operators o ON o.name = s.operator"
            " WHERE s.token_sha256=%s AND s.revoked_at IS NULL AND s.expires_at > now() AND o.disabled_at IS NULL",
            (session_sha,),
        )
        if not session:
            raise AuthError("ticket of an ended session")
        return session[0][0], session[0][1], bytes(session_sha)

    async def session_live(self, session_sha: bytes) -> bool:
        rows = await self._exec(
            "SELECT 1 FROM sessions WHERE token_sha256=%s AND revoked_at IS NULL AND expires_at > now()", (session_sha,)
        )
        return bool(rows)
