"""The operator server: HTTPS + secure WebSocket (aiohttp), on its own asyncio loop in a thread.

Transport only: the teleop rules (claim, lease, resolve, e-stop, pose) are restock.teleop.rules,
which this server feeds and whose effects it carries out. No rclpy here: the bridge node hands in
handoff requests, back-room alerts (restock.teleop.alerts) and camera frames through the
thread-safe ``submit_*`` methods and receives what the operator commands through a
:class:`RobotPort` (its publishers). Anything refused (login, token, ticket, origin, body, route,
lease, message, rate, connection cap) goes through one path, :meth:`TeleopServer._refuse`:
counted, logged on one line (rate-limited per kind), written to the audit log (within its budget)
and answered as JSON with the same headers as every response. None reaches the port.

HTTP API (JSON): POST /api/login, POST /api/logout, POST /api/ticket, GET /api/state,
GET /api/handoff/{id}/image; WebSocket: GET /ws?ticket=... (one-time ticket from /api/ticket).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import logging
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from aiohttp import WSCloseCode, WSMsgType, web

from restock import records
from restock.store.description import Store
from restock.teleop import protocol as P
from restock.teleop.alerts import ActiveAlerts
from restock.teleop.auth import (
    MAX_PASSWORD_BYTES,
    OPERATOR_NAME,
    AuthError,
    LoginThrottle,
    OperatorBook,
    Session,
    Sessions,
)
from restock.teleop.connection import Connection
from restock.teleop.guard import ConnectionLimits, Every, GuardedSite, one_line, quiet_server_logger, security_headers
from restock.teleop.login import LoginDesk, LoginRefused
from restock.teleop.records_out import AuditBudget, AuditLog, SampleWriter, printable
from restock.teleop.rules import Effects, Refusal, RobotPort, TeleopRules
from restock.teleop.stream import Streams
from restock.teleop.tls import is_loopback
from restock.teleop.trace import CommandTrace

__all__ = ["RobotPort", "ServerConfig", "TeleopServer"]

WEB_ROOT = Path(__file__).resolve().parent / "web"
MAX_CONNECTIONS_PER_OPERATOR = 4
FLOOD_WINDOW_S = 5.0
# One answer for every token or ticket failure: which one it was is logged and audited, never told.
TOKEN_REFUSED = "not logged in, or the login has expired"
SESSION_ENDED = b"session ended"
log = logging.getLogger("restock.teleop")


@dataclass
class ServerConfig:
    robot_id: str = "robot1"
    host: str = "127.0.0.1"
    port: int = 8443
    ssl_context: ssl.SSLContext | None = None  # None: plain HTTP, allowed on loopback only
    session_ttl_s: float = 900.0
    ticket_ttl_s: float = 20.0
    lease_timeout_s: float = 30.0
    heartbeat_timeout_s: float = 0.25
    max_ws_message_bytes: int = 16_384
    max_messages_per_s: float = 200.0
    message_burst: float = 100.0
    flood_close_after: int = 500  # messages dropped within FLOOD_WINDOW_S that close the connection
    max_bad_messages: int = 20  # malformed messages before the connection is closed
    translation_scale: float = 1.0
    stream_fps: float = 30.0
    jpeg_quality: int = 80
    webrtc: bool = True  # offer the stream as a WebRTC video track too (when aiortc is installed)
    rtc_bitrate: int = 2_000_000  # VP8 bits/s of that track (equal image quality: bench/teleop_latency.py)
    web_root: Path = WEB_ROOT
    # Logins: attempts per name from one address, and from one address for any names, per window.
    login_attempts: int = 5
    login_attempts_per_address: int = 30
    login_window_s: float = 60.0
    login_workers: int = 1  # scrypt threads (16 MiB and ~50 ms each): a flood cannot take the CPUs
    login_queue: int = 64  # password checks waiting for a worker (8 at most from one address); more: 503
    # Connections: whole request header within read_timeout_s of opening (or of the last response,
    # which is also the idle timeout), body within body_timeout_s, TLS handshake within as long.
    read_timeout_s: float = 10.0
    body_timeout_s: float = 10.0
    max_connections: int = 256
    max_connections_per_address: int = 32


class Replier(Protocol):
    """Where replies to a command go: an operator's WebSocket here, or one relayed by the fleet."""

    def send_json(self, body: dict) -> None: ...


class Refused(Exception):
    """Raised inside an HTTP handler; the middleware answers it through the one refusal path."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.reason)
        self.refusal = refusal


class TeleopServer:
    def __init__(
        self,
        config: ServerConfig,
        store: Store,
        operators: OperatorBook,
        port: RobotPort,
        audit: AuditLog,
        samples: SampleWriter,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if config.ssl_context is None and not is_loopback(config.host):
            raise ValueError(f"plain HTTP is allowed on loopback only, not on {config.host}: configure TLS")
        self.config = config
        self.store = store
        self.operators = operators
        self.port = port
        self.audit = audit
        self.samples = samples
        self.clock = clock
        self.rules = TeleopRules(
            config.robot_id,
            store,
            {name: op.robots for name, op in operators.operators.items()},
            port,
            audit,
            heartbeat_timeout_s=config.heartbeat_timeout_s,
            lease_timeout_s=config.lease_timeout_s,
            translation_scale=config.translation_scale,
        )
        self.sessions = Sessions(config.session_ttl_s, config.ticket_ttl_s)
        throttle = LoginThrottle(config.login_attempts, config.login_attempts_per_address, config.login_window_s)
        self.logins = LoginDesk(operators, throttle, config.login_workers, config.login_queue)
        self.limits = ConnectionLimits(config.max_connections_per_address, config.max_connections)
        self.audit_budget = AuditBudget()
        self.clients: dict[str, Connection] = {}
        self.alerts = ActiveAlerts()  # touched on the loop only (before it runs: by submit_alert)
        self._ids = itertools.count(1)
        rtc_host = config.host if config.webrtc else None
        self.streams = Streams(
            self.rules.camera_ids, self.clients, config.stream_fps, config.jpeg_quality, rtc_host, config.rtc_bitrate
        )
        self.counters = self.rules.counters  # refusals by kind, heartbeat timeouts
        self.on_broadcast: list[Callable[[], None]] = []  # viewers elsewhere (the fleet side) told of state changes
        self.trace = CommandTrace()  # each operator's poses, stage by stage
        self._every = Every()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._stopping: asyncio.Event | None = None
        self.bound_port: int | None = None

    # The rules' state, as the node's health and the tests read it.
    queue = property(lambda self: self.rules.queue)
    leases = property(lambda self: self.rules.leases)
    control = property(lambda self: self.rules.control)

    # --- life cycle ---------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> int:
        """Serve on a loop in a daemon thread; returns the bound port (config port 0 picks one)."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self.loop = loop
            self.streams.loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._serve(ready))
            except BaseException as err:  # reported to start()'s caller
                failure.append(err)
                ready.set()
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="teleop-server", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise RuntimeError("the teleop server did not start in time")
        if failure:
            raise failure[0]
        assert self.bound_port is not None
        return self.bound_port

    def stop(self, timeout: float = 5.0) -> None:
        if self.loop is not None and self._stopping is not None and self.loop.is_running():
            self.loop.call_soon_threadsafe(self._stopping.set)
        if self._thread is not None:
            self._thread.join(timeout)
        self.logins.close()

    async def _serve(self, ready: threading.Event) -> None:
        self._stopping = asyncio.Event()
        app = web.Application(client_max_size=64 * 1024, middlewares=[self._errors])
        app.on_response_prepare.append(self._on_prepare)
        app.router.add_get("/", self._index)
        app.router.add_static("/app/", self.config.web_root / "app", follow_symlinks=False, show_index=False)
        app.router.add_post("/api/login", self._login)
        app.router.add_post("/api/logout", self._logout)
        app.router.add_post("/api/ticket", self._ticket)
        app.router.add_get("/api/state", self._state_http)
        app.router.add_get("/api/handoff/{request_id}/image", self._handoff_image)
        app.router.add_get("/ws", self._websocket)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        # keepalive_timeout: aiohttp closes a connection with no whole request header this long after
        # it opened or after its last response (slow header and idle connection alike).
        handler_args = {
            "keepalive_timeout": self.config.read_timeout_s,
            "max_line_size": 4096,
            "max_field_size": 8190,
            "max_headers": 64,
            "access_log": None,
            "logger": quiet_server_logger(),
        }
        site = GuardedSite(
            self._runner,
            self.config.host,
            self.config.port,
            ssl_context=self.config.ssl_context,
            limits=self.limits,
            read_timeout_s=self.config.read_timeout_s,
            refuse=self._site_refusal,
            handler_args=handler_args,
        )
        await site.start()
        self.bound_port = site.port
        self.rules.publish_status("server started")
        ticker = asyncio.create_task(self._ticker())
        ready.set()
        await self._stopping.wait()
        ticker.cancel()
        for client in list(self.clients.values()):
            await client.ws.close(code=WSCloseCode.GOING_AWAY, message=b"bridge stopping")
        await self._runner.cleanup()

    # --- thread-safe inputs (called from the ROS executor) -------------------------------

    def submit_handoff(self, request: records.HandoffRequest, frame_jpeg: bytes | None = None) -> None:
        if self.loop is not None:
            self.loop.call_soon_threadsafe(
                lambda: self._apply(None, self.rules.add_handoff(request, frame_jpeg, time.time()))
            )

    def submit_alert(self, alert: records.BackroomAlert) -> None:
        if self.loop is None:
            self.alerts.update(alert)  # not serving yet: nobody to tell
        else:
            self.loop.call_soon_threadsafe(self._on_alert, alert)

    def wants_frames(self, camera_id: str) -> bool:
        return self.streams.wants(camera_id)

    def submit_frame(
        self, camera_id: str, pixels: np.ndarray, capture_stamp: float, received: float | None = None
    ) -> bool:
        """Encode once and fan out a frame if someone watches this camera (restock.teleop.stream)."""
        return self.streams.submit(camera_id, pixels, capture_stamp, received)

    def set_estop(self, engaged: bool) -> None:
        """The e-stop as its topic says (a hardware button, or this bridge)."""
        if self.loop is not None:
            self.loop.call_soon_threadsafe(lambda: self._apply(None, self.rules.on_estop_topic(engaged)))

    def set_robot_state(self, state: dict, arm_pose: tuple[tuple[float, float, float], float] | None = None) -> None:
        """The robot's joints (shown in the app) and where its grasp centre is (where control starts)."""
        self.rules.robot_state = state  # replaced whole: a reader sees one snapshot
        if arm_pose is not None:
            self.rules.arm_pose = arm_pose

    # --- on the loop ----------------------------------------------------------------------

    def _refuse(self, r: Refusal, client: Replier | None = None) -> web.Response:
        """The one refusal path: counted, one log line (the first of a kind, then one in a hundred),
        an audit row within the audit budget, the public reason to the client, and the HTTP answer."""
        self.counters[r.kind] = self.counters.get(r.kind, 0) + 1
        reason = printable(r.reason) or ""
        if self._every(r.kind):
            log.warning("refused %s%s: %s", r.kind, f" ({r.operator})" if r.operator else "", reason)
        now = self.clock()
        self._audit_summary(now)
        if self.audit_budget.allow(r.kind, r.peer, now):
            self.audit.write(f"refused_{r.kind}", self.config.robot_id, r.operator, reason, r.peer)
        if client is not None and r.public is not None:
            client.send_json({"type": "error", "error": r.public[:300]})
        return web.json_response({"error": r.public or "refused"}, status=r.status)

    def _audit_summary(self, now: float) -> None:
        summary = self.audit_budget.roll(now)
        if summary is not None:
            self.audit.write("refused_unwritten", self.config.robot_id, None, summary)

    def _site_refusal(self, kind: str, address: str, why: str, status: int) -> str:
        """A connection over a cap, or a request aiohttp could not parse: the same refusal path."""
        public = {"http_request": "malformed request", "http_error": "internal error"}.get(kind, "too many connections")
        self._refuse(Refusal(kind, why, public, None, address, status))
        return public

    def _apply(self, client: Replier | None, fx: Effects) -> bool:
        """Carry out what the rules decided; True: the connection stays open."""
        for reply in fx.replies:
            if client is not None:
                client.send_json(reply)
        for refusal in fx.refusals:
            self._refuse(refusal, client)
        if fx.broadcast:
            self._broadcast_state()
        return True

    def state(self, client: Connection | None = None) -> dict:
        return self.rules.state(client.session.operator if client else None, time.time())

    def _on_alert(self, alert: records.BackroomAlert) -> None:
        if self.alerts.update(alert):
            message = P.alerts_message(self.alerts.active())
            for client in list(self.clients.values()):
                client.send_json(message)

    def _broadcast_state(self) -> None:
        for client in list(self.clients.values()):
            client.send_json(self.state(client))
        for hook in self.on_broadcast:
            hook()

    async def _ticker(self) -> None:
        """Heartbeat watchdog and lease expiry (every 20 ms); sessions, tickets and state pushes (every 0.5 s)."""
        last_push = 0.0
        while True:
            await asyncio.sleep(0.02)
            now = self.clock()
            try:
                self._apply(None, self.rules.tick(now))
                if now - last_push > 0.5:
                    last_push = now
                    self.sessions.sweep(now)
                    self._audit_summary(now)
                    for client in list(self.clients.values()):
                        try:
                            self.sessions.check(client.session.token, now)
                        except AuthError as err:
                            self._refuse(
                                Refusal("session", f"{client.id}: {err}", None, client.session.operator, client.peer)
                            )
                            await client.ws.close(code=4401, message=SESSION_ENDED)
                    self._broadcast_state()
            except Exception as err:  # the watchdog must outlive any bug in one tick
                log.error("teleop ticker: %s", one_line(err))

    # --- HTTP ------------------------------------------------------------------------------

    @web.middleware
    async def _errors(self, request: web.Request, handler: Callable) -> web.StreamResponse:
        """Every error answered through the one refusal path: JSON, a 4xx (a 500 for a bug), no
        traceback to the client and one log line."""
        what = f"{request.method} {request.path[:200]}"
        try:
            return await handler(request)
        except Refused as refused:
            return self._refuse(refused.refusal)
        except web.HTTPException as exc:  # the router's 404/405, aiohttp's 413 for a large body
            if exc.status < 400:
                raise
            return self._refuse(Refusal("http", f"{what}: {exc.status} {exc.reason}", exc.reason, None,
                                        self._peer(request), exc.status))  # fmt: skip
        except (asyncio.CancelledError, ConnectionError):
            raise  # the client went away: nobody to answer
        except Exception as err:
            return self._refuse(
                Refusal("http_error", f"{what}: {one_line(err)}", "internal error", None, self._peer(request), 500)
            )

    async def _on_prepare(self, request: web.Request, response: web.StreamResponse) -> None:
        security_headers(response, request.path, self.config.ssl_context is not None)

    async def _index(self, _request: web.Request) -> web.FileResponse:
        return web.FileResponse(self.config.web_root / "index.html")

    def _peer(self, request: web.Request) -> str:
        return request.remote or "?"

    def _bearer(self, request: web.Request) -> Session:
        header = request.headers.get("Authorization", "")
        token = header[7:] if header.startswith("Bearer ") else None
        try:
            return self.sessions.check(token, self.clock())
        except AuthError as err:
            peer = self._peer(request)
            raise Refused(Refusal("http_auth", f"{request.method} {request.path[:200]}: {err}", TOKEN_REFUSED,
                                  None, peer, 401)) from None  # fmt: skip

    async def _json_body(self, request: web.Request) -> dict:
        peer = self._peer(request)
        try:
            raw = await asyncio.wait_for(request.read(), self.config.body_timeout_s)
        except asyncio.TimeoutError:
            raise Refused(Refusal("http_body", f"{request.path}: body not in within {self.config.body_timeout_s} s",
                                  "request body too slow", None, peer, 408)) from None  # fmt: skip
        try:
            body = P.loads_bounded(raw)
        except P.ProtocolError as err:
            body = err
        if not isinstance(body, dict):
            why = str(body) if isinstance(body, P.ProtocolError) else f"a JSON {type(body).__name__}"
            raise Refused(Refusal("http_body", f"{request.path}: {why}", "expected a JSON object", None, peer, 400))
        return body

    async def _login(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        name, password = body.get("operator"), body.get("password")
        peer = self._peer(request)
        if not isinstance(name, str) or not isinstance(password, str) or not OPERATOR_NAME.match(name):
            raise Refused(Refusal("login", f"from {peer}: operator must be a name, password a string",
                                  "operator and password must be strings", None, peer, 400))  # fmt: skip
        known = name if name in self.operators.operators else None
        try:  # counted before scrypt runs: a hundred at once get no further than the first few
            if len(password) > MAX_PASSWORD_BYTES:
                raise LoginRefused("password too long")
            await self.logins.check(name, password, peer, self.clock())
        except LoginRefused as err:
            raise Refused(
                Refusal(err.kind, f"{name} from {peer}: {err}", err.public, known, peer, err.status)
            ) from None
        session = self.sessions.open(name, self.clock())
        self.audit.write("login", self.config.robot_id, name, "", peer)
        return web.json_response({"token": session.token, "expires_in": self.config.session_ttl_s, "operator": name})

    async def _logout(self, request: web.Request) -> web.Response:
        session = self._bearer(request)
        await self._end_session(session, "logout", self._peer(request))
        return web.json_response({"ok": True})

    async def _end_session(self, session: Session, why: str, peer: str | None) -> None:
        self.sessions.close(session.token)
        self.audit.write(why, self.config.robot_id, session.operator, "", peer)
        for client in [c for c in self.clients.values() if c.session.token == session.token]:
            await client.ws.close(code=4401, message=why.encode())

    async def _ticket(self, request: web.Request) -> web.Response:
        session = self._bearer(request)
        ticket = self.sessions.issue_ticket(session.token, self.clock())
        return web.json_response({"ticket": ticket, "expires_in": self.config.ticket_ttl_s})

    async def _state_http(self, request: web.Request) -> web.Response:
        self._bearer(request)
        return web.json_response(self.state())

    async def _handoff_image(self, request: web.Request) -> web.Response:
        session = self._bearer(request)
        rid = request.match_info["request_id"]
        entry = self.rules.queue.get(rid)
        data = None
        if entry is not None and entry.request.image_jpeg_b64 is not None:
            with contextlib.suppress(ValueError):
                data = base64.b64decode(entry.request.image_jpeg_b64, validate=True)
        if data is None:
            raise Refused(Refusal("http", f"no image for handoff {rid[:100]}", "not found", session.operator,
                                  self._peer(request), 404))  # fmt: skip
        return web.Response(body=data, content_type="image/jpeg")

    # --- WebSocket -------------------------------------------------------------------------

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        peer = self._peer(request)
        origin = request.headers.get("Origin")
        if origin is not None and origin.split("://", 1)[-1] != request.host:
            raise Refused(Refusal("ws_origin", f"{peer}: origin {origin[:100]} is not {request.host[:100]}",
                                  "cross-origin WebSocket refused", None, peer, 403))  # fmt: skip
        try:
            session = self.sessions.redeem_ticket(request.query.get("ticket"), self.clock())
        except AuthError as err:
            raise Refused(Refusal("ws_auth", f"{peer}: {err}", TOKEN_REFUSED, None, peer, 401)) from None
        operator = session.operator
        if sum(c.session.operator == operator for c in self.clients.values()) >= MAX_CONNECTIONS_PER_OPERATOR:
            raise Refused(Refusal("ws_count", f"{operator} has {MAX_CONNECTIONS_PER_OPERATOR} connections open",
                                  "too many connections for this operator", operator, peer, 429))  # fmt: skip
        # compress=False: aiohttp would deflate each viewer's copy of every JPEG (~5 ms a frame) for 2%.
        ws = web.WebSocketResponse(max_msg_size=self.config.max_ws_message_bytes, heartbeat=5.0, compress=False)
        await ws.prepare(request)
        rate = P.RateLimit(self.config.max_messages_per_s, self.config.message_burst)
        client = Connection(f"c{next(self._ids)}", ws, session, peer, rate)
        self.clients[client.id] = client
        self.audit.write("connect", self.config.robot_id, operator, client.id, peer)
        sender = asyncio.create_task(client.send_frames())
        client.send_json(self.state(client))
        client.send_json(P.alerts_message(self.alerts.active()))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    if not await self._on_text(client, msg.data):
                        break
                elif msg.type == WSMsgType.BINARY:
                    if not await self._bad(client, "binary messages are not accepted"):
                        break
                elif msg.type == WSMsgType.ERROR:
                    self._refuse(Refusal("ws_frame", f"{client.id}: {ws.exception()}", None, operator, peer))
                    break
        finally:
            sender.cancel()
            await self._disconnect(client)
        return ws

    async def _bad(self, client: Connection, reason: str) -> bool:
        """A malformed message: refused with the reason; too many close the connection."""
        client.bad += 1
        who = client.session.operator, client.peer
        self._refuse(Refusal("message", f"{client.id}: {reason}", reason, *who), client)
        if client.bad > self.config.max_bad_messages:
            why = f"{client.id}: more than {self.config.max_bad_messages} malformed messages"
            self._refuse(Refusal("connection", why, None, *who))
            await client.ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"too many malformed messages")
            return False
        return True

    async def _on_text(self, client: Connection, text: str) -> bool:
        client.received_at, now = time.time(), self.clock()
        who = client.session.operator, client.peer
        if not client.rate.allow(now):
            client.dropped += 1
            if now - client.flood_window_start > FLOOD_WINDOW_S:
                client.flood_window_start, client.dropped_in_window = now, 0
            client.dropped_in_window += 1
            why = f"{client.id}: over {self.config.max_messages_per_s:.0f} messages/s: dropped"
            self._refuse(Refusal("rate", why, None, *who))
            if client.dropped_in_window >= self.config.flood_close_after:
                await client.ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"message flood")
                return False
            return True
        try:
            self.sessions.check(client.session.token, now)
        except AuthError as err:
            self._refuse(Refusal("session", f"{client.id}: {err}", None, *who))
            await client.ws.close(code=4401, message=SESSION_ENDED)
            return False
        try:
            msg = P.parse_client_message(text)
        except P.ProtocolError as err:
            return await self._bad(client, str(err))
        try:
            return await self._dispatch(client, msg, now)
        except Exception as err:  # a bug in one handler: hold, log, keep serving (never a crash, never control)
            log.error("teleop: handling a %s message from %s: %s", msg.type, client.session.operator, one_line(err))
            self.rules.control.hold()
            return await self._bad(client, f"internal error handling {msg.type}")

    async def _dispatch(self, client: Connection, msg: P.ClientMessage, now: float) -> bool:
        if isinstance(msg, P.Resolve):
            plan = self.rules.plan_resolve(client.conn, msg)
            if isinstance(plan, Effects):
                return self._apply(client, plan)
            saved = None
            if plan.wants_sample:
                try:
                    loop = asyncio.get_running_loop()
                    saved = await loop.run_in_executor(
                        None, self.samples.write, plan.entry.request, plan.resolution, plan.entry.frame_jpeg
                    )
                except (OSError, ValueError) as err:
                    log.warning("no training sample for %s: %s", msg.request_id, err)
            return self._apply(
                client, self.rules.finish_resolve(client.conn, plan, saved.image.name if saved else None)
            )
        if isinstance(msg, P.Watch):
            if msg.camera_id is not None and msg.camera_id not in self.rules.camera_ids:
                return await self._bad(client, f"no camera {msg.camera_id} (cameras: {self.rules.camera_ids})")
            client.watching = msg.camera_id
            self.streams.update_watched()
        elif isinstance(msg, P.RtcOffer):
            if msg.camera_id not in self.rules.camera_ids:
                return await self._bad(client, f"no camera {msg.camera_id} (cameras: {self.rules.camera_ids})")
            client.send_json(await self.streams.rtc_offer(client, msg))
        elif isinstance(msg, P.FrameShown):
            client.frame_shown()
        elif isinstance(msg, P.Logout):
            await self._end_session(client.session, "logout", client.peer)
            return False
        else:
            self._apply(client, self.rules.handle(client.conn, msg, now))
            if isinstance(msg, P.Pose):
                self.trace.pose(client.conn.id, msg.sent, loop=client.received_at, published=time.time())
            elif isinstance(msg, P.Release):
                self.trace.log(client.conn.id)
        return True

    async def _disconnect(self, client: Connection) -> None:
        self.clients.pop(client.id, None)
        await self.streams.drop(client)
        self._apply(None, self.rules.disconnect(client.conn))
        self.audit.write("disconnect", self.config.robot_id, client.session.operator, client.id, client.peer)
        self.trace.log(client.conn.id)
