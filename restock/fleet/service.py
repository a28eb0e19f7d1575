"""`restock fleet`: the fleet service, aiohttp over HTTPS/WSS on its own loop, state in PostgreSQL.

Stateless between requests: sessions, tickets, the queue, claims and resolutions are rows, so any
number of instances serve one database and an operator may log in on one and claim on another.
Each instance keeps only its open WebSockets, and LISTENs: a tenant's queue changed (push it to
that tenant's operators), a robot was revoked (close its link at once), a resolution waits (send
it to the robot if it is connected here). After the LISTEN connection is lost and reopened, every
link is re-checked, since notifications sent meanwhile are gone.

Robots connect out: ``GET /robot/ws`` with ``Authorization: Bearer <robot>:<secret>``. Operators:
``POST /api/login``, ``/api/logout``, ``/api/ticket``, ``GET /api/queue``, ``POST /api/claim``,
``/api/release``, ``/api/resolve``, and ``GET /ws?ticket=...`` for the same over one WebSocket.
Everything refused goes through one path (:meth:`FleetService._refuse`): counted, logged on one
line, audited (within the bridge's audit budget) and answered with a public reason only.
Transport and bookkeeping only: the queue's rules are restock.fleet.queue, run by the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import ssl
import struct
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import WSCloseCode, WSMsgType, web

from restock import records
from restock.fleet import protocol as FP
from restock.fleet.accounts import Accounts
from restock.fleet.console import INDEX_HTML, SCRIPTS
from restock.fleet.db import (
    COMMAND_CHANNEL,
    OPERATOR_CHANNEL,
    QUEUE_CHANNEL,
    REPLY_CHANNEL,
    RESOLUTION_CHANNEL,
    ROBOT_CHANNEL,
    SESSION_CHANNEL,
    Pool,
    listen,
)
from restock.fleet.links import Link, Refused
from restock.fleet.queue import ClaimError
from restock.fleet.relay import CommandRelay
from restock.fleet.store import Actor, FleetStore
from restock.teleop import protocol as P
from restock.teleop.auth import MAX_PASSWORD_BYTES, OPERATOR_NAME, AuthError, LoginThrottle
from restock.teleop.guard import ConnectionLimits, Every, GuardedSite, one_line, quiet_server_logger, security_headers
from restock.teleop.login import LOGIN_REFUSED, LoginDesk, LoginRefused
from restock.teleop.records_out import AuditBudget, printable
from restock.teleop.tls import is_loopback

log = logging.getLogger("restock.fleet")
TOKEN_REFUSED = "not logged in, or the login has expired"
ROBOT_REFUSED = "robot credential refused"
REVOKED_CLOSE = 4403
MAX_CONNECTIONS_PER_OPERATOR = 4  # WebSockets of one operator on one instance (the bridge's cap)


@dataclass
class FleetConfig:
    host: str = "127.0.0.1"
    port: int = 8444
    ssl_context: ssl.SSLContext | None = None  # None: plain HTTP, loopback only
    instance: str = "fleet-1"
    public_url: str | None = None  # how robots and operators reach this instance (default: the bound address)
    db_connections: int = 6
    session_ttl_s: float = 900.0
    ticket_ttl_s: float = 20.0
    session_check_s: float = 0.5  # an operator link's session re-read at most this often
    recheck_s: float = 5.0  # every link's credential re-read this often, besides the NOTIFY
    max_messages_per_s: float = 200.0  # a relayed pose stream is 60-90 a second (the bridge allows 200)
    message_burst: float = 200.0  # a robot's resync after a lost link sends its whole outbox at once
    max_bad_messages: int = 20
    login_attempts: int = 5
    login_attempts_per_address: int = 30
    login_window_s: float = 60.0
    read_timeout_s: float = 10.0
    body_timeout_s: float = 10.0
    max_connections: int = 1024
    max_connections_per_address: int = 512  # robots behind one NAT share an address


class FleetService:
    def __init__(self, config: FleetConfig, conninfo: str) -> None:
        if config.ssl_context is None and not is_loopback(config.host):
            raise ValueError(f"plain HTTP is allowed on loopback only, not on {config.host}: configure TLS")
        self.config = config
        self.conninfo = conninfo
        self.counters: dict[str, int] = {}
        self.links: dict[str, Link] = {}
        self.robots: dict[str, Link] = {}  # robot id -> its link on this instance
        self.audit_budget = AuditBudget()
        self.limits = ConnectionLimits(config.max_connections_per_address, config.max_connections)
        self._every = Every()
        self._ids = itertools.count(1)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.bound_port: int | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None
        self.pool: Pool | None = None
        self.relay = CommandRelay(self)
        self._beside: set[asyncio.Task] = set()  # writes that go beside a command (see later())

    def later(self, work: Awaitable[None]) -> None:
        """Run ``work`` beside the caller, not before its next step (an audit row after the command it
        records went out); the service waits for it before it stops, so it still lands."""
        task = asyncio.ensure_future(work)
        self._beside.add(task)
        task.add_done_callback(self._beside_done)

    def _beside_done(self, task: asyncio.Task) -> None:
        self._beside.discard(task)
        err = None if task.cancelled() else task.exception()
        if err is not None:
            log.error("fleet %s: a write beside a command failed: %s", self.config.instance, one_line(err))

    # --- life cycle -----------------------------------------------------------------------

    def start(self, timeout: float = 20.0) -> int:
        """Serve on a loop in a daemon thread (tests, benches); returns the bound port."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            try:
                asyncio.run(self.serve(ready))
            except BaseException as err:
                failure.append(err)
                ready.set()

        self._thread = threading.Thread(target=run, name=f"fleet-{self.config.instance}", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise RuntimeError("the fleet service did not start in time")
        if failure:
            raise failure[0]
        assert self.bound_port is not None
        return self.bound_port

    def request_stop(self) -> None:
        """Stop serving (thread-safe; a signal handler may call it)."""
        if self.loop is not None and self._stopping is not None and self.loop.is_running():
            self.loop.call_soon_threadsafe(self._stopping.set)

    def stop(self, timeout: float = 10.0) -> None:
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout)

    async def serve(self, ready: threading.Event | None = None) -> None:
        """Serve until stop() (or cancellation); the CLI runs this on the main thread's loop."""
        self.loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        cfg = self.config
        self.pool = Pool(self.conninfo, cfg.db_connections)
        self.store = FleetStore(self.pool, cfg.instance)
        self.accounts = Accounts(self.pool, cfg.instance, cfg.session_ttl_s, cfg.ticket_ttl_s)
        book, self.tenants = await self.accounts.operator_book()
        throttle = LoginThrottle(cfg.login_attempts, cfg.login_attempts_per_address, cfg.login_window_s)
        self.logins = LoginDesk(book, throttle)
        app = web.Application(client_max_size=64 * 1024, middlewares=[self._errors])
        app.on_response_prepare.append(self._on_prepare)
        for path, handler in (("/api/login", self._login), ("/api/logout", self._logout), ("/api/ticket", self._ticket),
                              ("/api/claim", self._command), ("/api/release", self._command),
                              ("/api/resolve", self._command)):  # fmt: skip
            app.router.add_post(path, handler)
        app.router.add_get("/", self._page)
        for path in SCRIPTS:
            app.router.add_get(path, self._page)
        app.router.add_get("/favicon.ico", self._page)
        app.router.add_get("/api/queue", self._queue_http)
        app.router.add_get("/ws", self._operator_ws)
        app.router.add_get("/robot/ws", self._robot_ws)
        runner = web.AppRunner(app, handle_signals=False)
        await runner.setup()
        handler_args = {"keepalive_timeout": cfg.read_timeout_s, "max_line_size": 4096, "max_field_size": 8190,
                        "max_headers": 64, "access_log": None, "logger": quiet_server_logger("restock.fleet.http")}  # fmt: skip
        site = GuardedSite(runner, cfg.host, cfg.port, ssl_context=cfg.ssl_context, limits=self.limits,
                           read_timeout_s=cfg.read_timeout_s, refuse=self._site_refusal, handler_args=handler_args)  # fmt: skip
        await site.start()
        self.bound_port = site.port
        self.public_url = cfg.public_url or site.name
        tasks = [asyncio.create_task(listen(self.conninfo, self._on_notify, self._recheck_all)),
                 asyncio.create_task(self._ticker())]  # fmt: skip
        await self.store.audit("instance_start", detail=f"{site.name}")
        log.info("fleet %s serving on %s", cfg.instance, site.name)
        if ready is not None:
            ready.set()
        try:
            await self._stopping.wait()
        finally:
            for task in tasks:
                task.cancel()
            for link in list(self.links.values()):
                await link.ws.close(code=WSCloseCode.GOING_AWAY, message=b"fleet service stopping")
            await runner.cleanup()
            if self._beside:
                await asyncio.gather(*self._beside, return_exceptions=True)
            self.logins.close()
            await self.pool.close()

    # --- the one refusal path -------------------------------------------------------------

    async def refuse(self, r: Refused, link: Link | None = None) -> web.Response:
        self.counters[r.kind] = self.counters.get(r.kind, 0) + 1
        if self._every(r.kind):
            log.warning("fleet %s refused %s: %s", self.config.instance, r.kind, printable(r.reason))
        actor = r.actor or (link.actor if link else None)
        peer = r.peer or (link.peer if link else None)
        now = time.monotonic()
        summary = self.audit_budget.roll(now)
        with contextlib.suppress(Exception):  # the database down: the refusal is still answered
            if summary is not None:
                await self.store.audit("refused:unwritten", detail=summary)
            if self.audit_budget.allow(r.kind, peer, now):
                await self.store.refuse(r.kind, r.reason, actor, r.robot or (link.robot if link else None), peer)
        if link is not None and r.public:
            with contextlib.suppress(ConnectionError, RuntimeError):  # the link may be closing
                await link.ws.send_json({"type": "error", "error": r.public[:300]})
        return web.json_response({"error": r.public or "refused"}, status=r.status)

    def _site_refusal(self, kind: str, address: str, why: str, status: int) -> str:
        public = {"http_request": "malformed request", "http_error": "internal error"}.get(kind, "too many connections")
        if self.loop is not None:
            self.loop.create_task(self.refuse(Refused(kind, why, public, status, peer=address)))
        return public

    @web.middleware
    async def _errors(self, request: web.Request, handler) -> web.StreamResponse:  # type: ignore[no-untyped-def]
        try:
            return await handler(request)
        except Refused as r:
            return await self.refuse(r)
        except ClaimError as err:  # already audited by the store
            return web.json_response({"error": err.public}, status=err.status)
        except web.HTTPException as exc:
            if exc.status >= 400:
                why = f"{request.method} {request.path[:200]}: HTTP {exc.status}"
                return await self.refuse(Refused("http", why, exc.reason, exc.status, peer=request.remote))
            raise

    async def _on_prepare(self, request: web.Request, response: web.StreamResponse) -> None:
        security_headers(response, request.path, self.config.ssl_context is not None)

    # --- operators over HTTP -------------------------------------------------------------

    async def _page(self, request: web.Request) -> web.Response:
        if request.path == "/favicon.ico":  # browsers ask for it: an answer, not a refusal in the audit
            return web.Response(status=204)
        if request.path in SCRIPTS:
            return web.Response(text=SCRIPTS[request.path], content_type="application/javascript")
        return web.Response(text=INDEX_HTML, content_type="text/html")

    async def _json_body(self, request: web.Request) -> dict:
        peer = request.remote or "?"
        try:
            raw = await asyncio.wait_for(request.read(), self.config.body_timeout_s)
            body = P.loads_bounded(raw)
        except asyncio.TimeoutError:
            raise Refused(
                "http_body", f"{request.path}: body too slow", "request body too slow", 408, peer=peer
            ) from None
        except P.ProtocolError as err:
            raise Refused("http_body", f"{request.path}: {err}", "expected a JSON object", 400, peer=peer) from None
        if not isinstance(body, dict):
            raise Refused(
                "http_body", f"{request.path}: a JSON {type(body).__name__}", "expected a JSON object", 400, peer=peer
            )
        return body

    async def _bearer(self, request: web.Request) -> tuple[Actor, str]:
        header = request.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else None
        peer = request.remote or "?"
        try:
            operator, tenant = await self.accounts.check_session(token)
        except AuthError as err:
            raise Refused(
                "http_auth", f"{request.method} {request.path[:200]}: {err}", TOKEN_REFUSED, 401, peer=peer
            ) from None
        return Actor(operator, tenant, peer), token or ""

    async def _login(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        name, password, peer = body.get("operator"), body.get("password"), request.remote or "?"
        if not isinstance(name, str) or not isinstance(password, str) or not OPERATOR_NAME.match(name):
            raise Refused("login", f"from {peer}: operator must be a name, password a string",
                          "operator and password must be strings", 400, peer=peer)  # fmt: skip
        try:
            if len(password) > MAX_PASSWORD_BYTES:
                raise LoginRefused("password too long")
            await self.logins.check(name, password, peer, time.monotonic())
        except LoginRefused as err:
            raise Refused(err.kind, f"{name} from {peer}: {err}", err.public, err.status, peer=peer) from None
        tenant = self.tenants.get(name)
        if tenant is None:  # disabled or removed since the operator list was read
            raise Refused("login", f"{name} from {peer}: no longer an operator", LOGIN_REFUSED, 401, peer=peer)
        token = await self.accounts.open_session(name, tenant, peer)
        return web.json_response({"token": token, "operator": name, "tenant": tenant,
                                  "expires_in": self.config.session_ttl_s})  # fmt: skip

    async def _logout(self, request: web.Request) -> web.Response:
        actor, token = await self._bearer(request)
        await self.accounts.close_session(token)  # its NOTIFY closes the session's links on every instance
        await self._release_all(actor, "logout")
        await self.store.audit("logout", tenant=actor.tenant, actor=actor.operator, peer=actor.peer)
        return web.json_response({"ok": True})

    async def _ticket(self, request: web.Request) -> web.Response:
        _, token = await self._bearer(request)
        return web.json_response(
            {"ticket": await self.accounts.issue_ticket(token), "expires_in": self.config.ticket_ttl_s}
        )

    async def _queue_http(self, request: web.Request) -> web.Response:
        actor, _ = await self._bearer(request)
        return web.json_response(await self.store.queue_view(actor.tenant))

    async def _command(self, request: web.Request) -> web.Response:
        actor, _ = await self._bearer(request)
        body = await self._json_body(request)
        body.setdefault("type", request.path.rsplit("/", 1)[-1])
        try:
            msg = FP.parse_operator(body)
        except P.ProtocolError as err:
            raise Refused("message", f"{request.path}: {err}", str(err), 400, actor) from None
        if msg.type != request.path.rsplit("/", 1)[-1]:
            raise Refused("message", f"{request.path}: a {msg.type} body", "wrong message type", 400, actor)
        return web.json_response(await self._do(actor, msg))

    async def _do(self, actor: Actor, msg: FP.OperatorMessage) -> dict:
        """Carry out a claim, release or resolve (ClaimError if the rules refuse; the store audits it)."""
        if isinstance(msg, FP.Claim):
            entry = await self.store.claim(actor, msg.id)
            url = await self.accounts.robot_url(entry.robot)  # where its camera stream can be watched
            return {"type": "claimed", "id": entry.key, "robot": entry.robot, "request_id": entry.request_id,
                    "robot_url": url}  # fmt: skip
        if isinstance(msg, FP.Release):
            entry = await self.store.release(actor, msg.id)
            return {"type": "released", "id": entry.key}
        assert isinstance(msg, FP.Resolve)
        res = await self.store.resolve(actor, msg.id, msg.action, msg.label, msg.note)
        return {"type": "resolved", "id": msg.id, "request_id": res.request_id, "action": res.action}

    async def _release_all(self, actor: Actor, why: str) -> None:
        for key in await self.store.held_by(actor.operator):
            with contextlib.suppress(ClaimError):
                await self.store.release(actor, key, why)

    # --- operators over WSS --------------------------------------------------------------

    async def _operator_ws(self, request: web.Request) -> web.StreamResponse:
        peer = request.remote or "?"
        origin = request.headers.get("Origin")
        if origin is not None and origin.split("://", 1)[-1] != request.host:
            raise Refused("ws_origin", f"{peer}: origin {origin[:100]} is not {request.host[:100]}",
                          "cross-origin WebSocket refused", 403, peer=peer)  # fmt: skip
        try:
            operator, tenant, token_sha = await self.accounts.redeem_ticket(request.query.get("ticket"))
        except AuthError as err:
            raise Refused("ws_auth", f"{peer}: {err}", TOKEN_REFUSED, 401, peer=peer) from None
        mine = sum(1 for k in self.links.values() if k.actor is not None and k.actor.operator == operator)
        if mine >= MAX_CONNECTIONS_PER_OPERATOR:
            raise Refused("ws_count", f"{operator} has {mine} connections open here", "too many connections for this "
                          "operator", 429, Actor(operator, tenant, peer))  # fmt: skip
        link = await self._open_link(request, "o", FP.MAX_OPERATOR_MESSAGE_BYTES, tenant=tenant,
                                     actor=Actor(operator, tenant, peer), token_sha=token_sha)  # fmt: skip
        ws = link.ws
        await self.store.audit("connect", tenant=tenant, actor=operator, detail=link.id, peer=peer)
        try:
            await ws.send_json({"type": "queue", **await self.store.queue_view(tenant)})
            await self._read(link, self._operator_text)
        finally:
            self.links.pop(link.id, None)
            with contextlib.suppress(Exception):
                await self.relay.end(link)
                await self.store.audit("disconnect", tenant=tenant, actor=operator, detail=link.id, peer=peer)
        return ws

    async def _open_link(self, request: web.Request, prefix: str, max_bytes: int, **who: object) -> Link:
        # No permessage-deflate: camera frames are JPEG (deflate would cost ~5 ms a frame and viewer).
        ws = web.WebSocketResponse(max_msg_size=max_bytes, heartbeat=5.0, compress=False)
        await ws.prepare(request)
        rate = P.RateLimit(self.config.max_messages_per_s, self.config.message_burst)
        link = Link(f"{prefix}{next(self._ids)}", ws, request.remote or "?", rate, **who)  # type: ignore[arg-type]
        self.links[link.id] = link
        return link

    async def _read(
        self, link: Link, on_text: Callable[[Link, str], Awaitable[bool]],
        on_binary: Callable[[Link, bytes], Awaitable[bool]] | None = None,
    ) -> None:  # fmt: skip
        """Text messages to on_text until it says stop or the link closes; binary ones to on_binary
        (without one, a binary message is a bad message)."""
        async for msg in link.ws:
            if msg.type != WSMsgType.TEXT:
                if msg.type == WSMsgType.BINARY and on_binary is not None:
                    if await on_binary(link, msg.data):
                        continue
                    break
                if msg.type == WSMsgType.BINARY and await self._bad(link, "binary messages are not accepted"):
                    continue
                break
            if not await on_text(link, msg.data):
                break

    async def _bad(self, link: Link, reason: str) -> bool:
        """A malformed message: refused with the reason; too many close the link."""
        link.bad += 1
        await self.refuse(Refused("message", f"{link.id}: {reason}", reason, robot=link.robot), link)
        if link.bad > self.config.max_bad_messages:
            await link.ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"too many malformed messages")
            return False
        return True

    async def _operator_text(self, link: Link, text: str) -> bool:
        received = time.time()  # a relayed command carries it to the robot (restock.teleop.trace)
        assert link.actor is not None and link.token_sha is not None
        if not link.rate.allow(time.monotonic()):
            await self.refuse(
                Refused("rate", f"{link.id}: over {self.config.max_messages_per_s:.0f} messages/s", ""), link
            )
            return True
        now = time.monotonic()
        # The session is re-read at most every session_check_s (a pose stream is 60-90 messages a
        # second; one query each would be most of its latency); a logout here is seen at once.
        if now - link.session_checked >= self.config.session_check_s:
            if not await self.accounts.session_live(link.token_sha):
                link.session_checked = -math.inf
            else:
                link.session_checked = now
        if link.session_checked == -math.inf:
            await self.refuse(Refused("session", f"{link.id}: the session ended", TOKEN_REFUSED, 401), link)
            await link.ws.close(code=4401, message=b"session ended")
            return False
        try:
            msg = FP.parse_operator(text)
        except P.ProtocolError as err:
            return await self._bad(link, str(err))
        if isinstance(msg, P.Heartbeat):
            return True
        if isinstance(msg, P.FrameShown):  # the operator's page took a frame: the next may go
            self.relay.frame_shown(link)
            return True
        if isinstance(msg, FP.Command):
            return await self.relay.command(link, msg, text, received)
        if isinstance(msg, P.Logout):
            sha, link.token_sha = link.token_sha, None  # this link closes itself below, unrefused
            await self.accounts.close_session_sha(sha)
            await self._release_all(link.actor, "logout")
            await self.store.audit("logout", tenant=link.tenant, actor=link.actor.operator, peer=link.peer)
            await link.ws.close(code=4401, message=b"logged out")
            return False
        try:
            await link.ws.send_json(await self._do(link.actor, msg))
        except ClaimError as err:  # audited by the store
            await link.ws.send_json({"type": "error", "error": err.public, "status": err.status})
        return True

    # --- robots over WSS -----------------------------------------------------------------

    async def _robot_ws(self, request: web.Request) -> web.StreamResponse:
        peer = request.remote or "?"
        header = request.headers.get("Authorization", "")
        try:
            robot, tenant = await self.accounts.check_robot(header[7:] if header.startswith("Bearer ") else None)
        except AuthError as err:
            raise Refused("robot_auth", f"{peer}: {err}", ROBOT_REFUSED, 401, peer=peer) from None
        old = self.robots.get(robot)
        link = await self._open_link(request, "r", FP.MAX_ROBOT_MESSAGE_BYTES, tenant=tenant, robot=robot)
        ws = link.ws
        self.robots[robot] = link
        if old is not None:  # a robot reconnecting before its old link timed out: the new one wins
            await old.ws.close(code=WSCloseCode.GOING_AWAY, message=b"replaced by a newer connection")
        await self.store.audit("robot_connect", tenant=tenant, robot=robot, detail=link.id, peer=peer)
        try:
            await self._send_resolutions(link)
            await self.accounts.robot_linked(robot, self.public_url)
            await self._read(link, self._robot_text, self._robot_frame)
        finally:
            self.links.pop(link.id, None)
            with contextlib.suppress(Exception):
                if self.robots.get(robot) is link:
                    del self.robots[robot]
                    await self.accounts.robot_unlinked(robot, self.public_url)
                await self.store.audit("robot_disconnect", tenant=tenant, robot=robot, detail=link.id, peer=peer)
        return ws

    async def _robot_frame(self, link: Link, data: bytes) -> bool:
        """A camera frame (the bridge's binary format) for the operators watching this robot here."""
        if not link.rate.allow(time.monotonic()):
            return True  # over the rate: dropped, as a stream drops frames
        try:
            P.frame_header(data)
        except (P.ProtocolError, struct.error) as err:
            return await self._bad(link, f"not a camera frame: {err}")
        await self.relay.frame(link, data)
        return True

    async def _robot_text(self, link: Link, text: str) -> bool:
        assert link.robot is not None
        if not link.rate.allow(time.monotonic()):
            await self.refuse(
                Refused("rate", f"{link.id}: over {self.config.max_messages_per_s:.0f} messages/s", ""), link
            )
            return True
        try:
            msg, request = FP.parse_robot(text)
        except P.ProtocolError as err:
            return await self._bad(link, str(err))
        if isinstance(msg, FP.RobotHandoff) and isinstance(request, records.HandoffRequest):
            key, new = await self.store.submit_handoff(link.robot, link.tenant, request, msg.blocked_sales_per_h,
                                                       msg.waiting_s)  # fmt: skip
            await link.ws.send_json({"type": "ack", "request_id": request.request_id, "id": key, "new": new})
        elif isinstance(msg, FP.RobotWithdrawn) and isinstance(request, records.HandoffResolution):
            await self.store.withdraw(link.robot, link.tenant, request)
            await link.ws.send_json({"type": "withdrawn_ack", "request_id": request.request_id})
        elif isinstance(msg, FP.RobotStatus):
            await self.accounts.robot_status(link.robot, msg.status)
        elif isinstance(msg, FP.ResolutionAck):
            await self.store.delivered(link.robot, msg.request_id)
        elif isinstance(msg, FP.RobotReply):
            await self.relay.reply(link.robot, link.tenant, msg.operator, msg.body)
        return True

    async def _send_resolutions(self, link: Link) -> None:
        assert link.robot is not None
        for res in await self.store.undelivered(link.robot):
            await link.ws.send_json({"type": "resolution", "resolution": res.model_dump(mode="json")})

    # --- what other instances changed ------------------------------------------------------

    async def _on_notify(self, channel: str, payload: str) -> None:
        try:
            if channel in (COMMAND_CHANNEL, REPLY_CHANNEL):
                await self.relay.on_notify(channel, payload)
            elif channel == QUEUE_CHANNEL:
                for link in self.links.values():
                    if link.tenant == payload:
                        link.controls.clear()  # a claim may have ended: asked again at the next command
                await self._push_queue(payload)
            elif channel == ROBOT_CHANNEL:
                await self._check_robot(payload)
            elif channel == RESOLUTION_CHANNEL and payload in self.robots:
                await self._send_resolutions(self.robots[payload])
            elif channel == SESSION_CHANNEL:
                await self._end_session_links(bytes.fromhex(payload))
            elif channel == OPERATOR_CHANNEL:
                self.logins.book, self.tenants = await self.accounts.operator_book()
        except Exception as err:  # one failed push must not stop the listener
            log.warning("fleet %s: handling %s %s: %s", self.config.instance, channel, payload[:64], one_line(err))

    async def _end_session_links(self, session_sha: bytes) -> None:
        for link in [k for k in self.links.values() if k.token_sha == session_sha]:
            link.session_checked = -math.inf
            await self.refuse(Refused("session", f"{link.id}: the session ended", TOKEN_REFUSED, 401), link)
            await link.ws.close(code=4401, message=b"session ended")

    async def _push_queue(self, tenant: str) -> None:
        links = [k for k in self.links.values() if k.actor is not None and k.tenant == tenant]
        if links:
            message = {"type": "queue", **await self.store.queue_view(tenant)}
            for link in links:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await link.ws.send_json(message)

    async def _check_robot(self, robot: str) -> None:
        link = self.robots.get(robot)
        if link is not None and not await self.accounts.robot_live(robot):
            await self.store.audit(
                "robot_cut", tenant=link.tenant, robot=robot, detail="credential revoked", peer=link.peer
            )
            await link.ws.close(code=REVOKED_CLOSE, message=b"credential revoked")

    async def _recheck_all(self) -> None:
        """After the LISTEN connection came back: what was missed is re-read."""
        self.logins.book, self.tenants = await self.accounts.operator_book()
        for robot in list(self.robots):
            await self._check_robot(robot)
            if robot in self.robots:
                await self._send_resolutions(self.robots[robot])
        for tenant in {k.tenant for k in self.links.values() if k.actor is not None}:
            await self._push_queue(tenant)

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(self.config.recheck_s)
            try:
                for robot in list(self.robots):
                    await self._check_robot(robot)
                await self.store.release_orphaned()
                for link in [k for k in self.links.values() if k.token_sha is not None]:
                    if not await self.accounts.session_live(link.token_sha):  # expired
                        await self._end_session_links(link.token_sha)
            except Exception as err:  # the database away for a moment: next round
                log.warning("fleet %s: recheck: %s", self.config.instance, one_line(err))
