"""The operator server: HTTPS + secure WebSocket (aiohttp), on its own asyncio loop in a thread.

No rclpy here: the bridge node hands in handoff requests and camera frames through the
thread-safe ``submit_*`` methods and receives what the operator commands through a
:class:`RobotPort` (its publishers). Every refusal (authentication, lease, protocol, rate)
is logged with the reason and written to the audit log where an operator is known; none
reaches the port.

HTTP API (JSON): POST /api/login, POST /api/logout, POST /api/ticket, GET /api/state,
GET /api/handoff/{id}/image; WebSocket: GET /ws?ticket=... (one-time ticket from /api/ticket).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import logging
import math
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
from aiohttp import WSCloseCode, WSMsgType, web

from restock import records
from restock.store.description import Store
from restock.teleop import protocol as P
from restock.teleop.auth import AuthError, LoginThrottle, OperatorBook, Session, Sessions
from restock.teleop.control import EeTarget, TeleopControl, Workspace
from restock.teleop.imaging import encode_jpeg
from restock.teleop.records_out import AuditLog, SampleWriter
from restock.teleop.session import HandoffQueue, LeaseBook, LeaseError
from restock.teleop.tls import is_loopback
from restock.vision.classes import FOREIGN_ITEM_LABEL

WEB_ROOT = Path(__file__).resolve().parent / "web"
FRAMES_IN_FLIGHT = 3
MAX_CONNECTIONS_PER_OPERATOR = 4
FLOOD_WINDOW_S = 5.0
log = logging.getLogger("restock.teleop")


class RobotPort(Protocol):
    """Where the operator's commands go (the bridge node's publishers)."""

    def publish_target(self, target: EeTarget) -> None: ...
    def publish_status(self, status: records.TeleopStatus) -> None: ...
    def publish_resolution(self, resolution: records.HandoffResolution) -> None: ...
    def publish_estop(self, engaged: bool) -> None: ...
    def ros_now(self) -> float: ...


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
    web_root: Path = WEB_ROOT


@dataclass
class _Client:
    id: str
    ws: web.WebSocketResponse
    session: Session
    peer: str
    rate: P.RateLimit
    watching: str | None = None
    frame: bytes | None = None
    frame_ready: asyncio.Event = field(default_factory=asyncio.Event)
    frames_in_flight: int = 0  # sent, not yet reported drawn (frame_shown)
    frame_acked: asyncio.Event = field(default_factory=asyncio.Event)
    flood_window_start: float = 0.0
    dropped_in_window: int = 0
    dropped: int = 0
    bad: int = 0


class _Every:
    """Log the first of a kind of event and then one in ``n`` (a flood must not flood the log)."""

    def __init__(self, n: int = 100) -> None:
        self.n = n
        self.counts: dict[str, int] = {}

    def __call__(self, key: str) -> bool:
        c = self.counts.get(key, 0)
        self.counts[key] = c + 1
        return c % self.n == 0


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
        self.sessions = Sessions(config.session_ttl_s, config.ticket_ttl_s)
        self.throttle = LoginThrottle()
        self.leases = LeaseBook(config.lease_timeout_s)
        self.queue = HandoffQueue()
        self.control = TeleopControl(
            Workspace.for_store(store),
            store.robot.gripper.max_opening,
            config.heartbeat_timeout_s,
            config.translation_scale,
        )
        self.camera_ids = [c.id for c in store.cameras]
        self.sku_ids = sorted(store.skus)
        self.clients: dict[str, _Client] = {}
        self._ids = itertools.count(1)
        self._watched: frozenset[str] = frozenset()  # read from the ROS thread without the loop
        self._frame_budget: dict[str, P.RateLimit] = {}
        self.robot_state: dict = {}
        self.arm_pose: tuple[tuple[float, float, float], float] | None = None  # grasp centre and yaw, from joint_states
        self.estop_engaged = False
        self.frame_latency: deque[tuple[float, float, float]] = deque(maxlen=2000)  # capture, shown, received
        self.counters: dict[str, int] = {}
        self._every = _Every()
        self._engaged_reported = False
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._stopping: asyncio.Event | None = None
        self.bound_port: int | None = None

    # --- life cycle ---------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> int:
        """Serve on a loop in a daemon thread; returns the bound port (config port 0 picks one)."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self.loop = loop
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

    async def _serve(self, ready: threading.Event) -> None:
        self._stopping = asyncio.Event()
        app = web.Application(client_max_size=64 * 1024, middlewares=[self._headers])
        app.router.add_get("/", self._index)
        app.router.add_static("/app/", self.config.web_root / "app", follow_symlinks=False, show_index=False)
        app.router.add_post("/api/login", self._login)
        app.router.add_post("/api/logout", self._logout)
        app.router.add_post("/api/ticket", self._ticket)
        app.router.add_get("/api/state", self._state_http)
        app.router.add_get("/api/handoff/{request_id}/image", self._handoff_image)
        app.router.add_get("/ws", self._websocket)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port, ssl_context=self.config.ssl_context)
        await site.start()
        server = site._server  # the bound socket's port (config port 0 picks a free one)
        self.bound_port = server.sockets[0].getsockname()[1] if server and server.sockets else self.config.port
        self._publish_status("server started")
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
            self.loop.call_soon_threadsafe(self._add_handoff, request, frame_jpeg)

    def wants_frames(self, camera_id: str) -> bool:
        return camera_id in self._watched

    def submit_frame(self, camera_id: str, pixels: np.ndarray, capture_stamp: float) -> bool:
        """Encode and fan out a frame if someone watches this camera (at most stream_fps); True if sent."""
        if camera_id not in self._watched or self.loop is None:
            return False
        if not self._frame_budget.setdefault(camera_id, P.RateLimit(self.config.stream_fps, 2.0)).allow(
            time.monotonic()
        ):
            return False  # a camera faster than stream_fps is thinned; a jittery one at the rate is not
        jpeg = encode_jpeg(pixels, self.config.jpeg_quality)
        data = P.pack_frame(self.camera_ids.index(camera_id), capture_stamp, time.time(), jpeg)
        self.loop.call_soon_threadsafe(self._fan_out, camera_id, data)
        return True

    def set_estop(self, engaged: bool) -> None:
        """The e-stop as its topic says (a hardware button, or this bridge)."""
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self._on_estop_topic, engaged)

    def _on_estop_topic(self, engaged: bool) -> None:
        if engaged != self.estop_engaged:
            self.estop_engaged = engaged
            if engaged:
                self.control.hold()
            self._broadcast_state()

    def set_robot_state(self, state: dict, arm_pose: tuple[tuple[float, float, float], float] | None = None) -> None:
        """The robot's joints (shown in the app) and where its grasp centre is (where control starts)."""
        self.robot_state = state  # replaced whole: a reader sees one snapshot
        if arm_pose is not None:
            self.arm_pose = arm_pose

    # --- on the loop ----------------------------------------------------------------------

    def _count(self, what: str) -> None:
        self.counters[what] = self.counters.get(what, 0) + 1

    def _refuse(self, what: str, reason: str, operator: str | None = None, peer: str | None = None) -> None:
        """Every refusal: counted, logged (rate-limited per kind), audited when it names an operator."""
        self._count(what)
        if self._every(what):
            log.warning("refused %s%s: %s", what, f" from {operator}" if operator else "", reason)
        # A flood is audited once a hundred; every other refusal, each time.
        if operator is not None and (what not in ("rate", "pose") or self._every(f"audit:{what}:{operator}")):
            self.audit.write(f"refused_{what}", self.config.robot_id, operator, reason, peer)

    def _add_handoff(self, request: records.HandoffRequest, frame_jpeg: bytes | None) -> None:
        dropped = self.queue.add(request, time.time(), frame_jpeg)
        if dropped is not None:
            log.warning("handoff queue full: dropped the oldest unclaimed request %s", dropped.request.request_id)
        self.audit.write("handoff_queued", self.config.robot_id, None, f"{request.request_id} {request.kind}")
        self._broadcast_state()

    def _fan_out(self, camera_id: str, data: bytes) -> None:
        for client in self.clients.values():
            if client.watching == camera_id:
                client.frame = data  # the newest frame wins: a slow link skips frames, never lags
                client.frame_ready.set()

    def _update_watched(self) -> None:
        self._watched = frozenset(c.watching for c in self.clients.values() if c.watching)

    def _lease_info(self) -> dict | None:
        lease = self.leases.holder(self.config.robot_id)
        if lease is None:
            return None
        return {"operator": lease.operator, "request_id": lease.request_id, "engaged": self.control.engaged}

    def _publish_status(self, why: str) -> None:
        lease = self.leases.holder(self.config.robot_id)
        status = records.TeleopStatus(
            stamp=max(0.0, self.port.ros_now()),
            operator=lease.operator if lease else None,
            request_id=lease.request_id if lease else None,
            control="operator" if lease else "autonomy",
            engaged=bool(lease) and self.control.engaged,
        )
        self._engaged_reported = status.engaged
        self.port.publish_status(status)
        log.info("teleop status: %s (%s)", status.control, why)

    def state(self, client: _Client | None = None) -> dict:
        target = self.control.target
        return {
            "type": "state",
            "robot_id": self.config.robot_id,
            "store": self.store.name,
            "you": client.session.operator if client else None,
            "queue": self.queue.summary(time.time()),
            "lease": self._lease_info(),
            "cameras": self.camera_ids,
            "skus": self.sku_ids,
            "foreign_label": FOREIGN_ITEM_LABEL,
            "robot": self.robot_state,
            "estop": self.estop_engaged,
            "target": None if target is None else {"position": target.position, "yaw": target.yaw},
        }

    def _broadcast_state(self) -> None:
        for client in list(self.clients.values()):
            self._send_json(client, self.state(client))

    def _send_json(self, client: _Client, body: dict) -> None:
        if client.ws.closed:
            return
        try:
            text = json.dumps(body, allow_nan=False)
        except (TypeError, ValueError) as err:  # a NaN from a driver must not cut the operator off
            log.error("not sending a %s message: %s", body.get("type"), err)
            return
        task = asyncio.ensure_future(client.ws.send_str(text))
        task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)

    async def _ticker(self) -> None:
        """Heartbeat watchdog (every 20 ms), lease and session expiry, state pushes."""
        last_push = 0.0
        while True:
            await asyncio.sleep(0.02)
            now = self.clock()
            try:
                why = self.control.tick(now)
                if why:
                    self._count("heartbeat_timeout")
                    log.warning("%s (operator %s)", why, self._holder_name())
                    self.audit.write("hold", self.config.robot_id, self._holder_name(), why)
                if self._engaged_reported != (self.control.engaged and self._holder_name() is not None):
                    self._publish_status("deadman engaged" if self.control.engaged else why or "holding")
                for lease in self.leases.expire(now):
                    self.control.hold()
                    self.queue.unclaim_all(lease.operator)
                    self.audit.write(
                        "lease_timeout", lease.robot, lease.operator, f"silent {self.config.lease_timeout_s} s"
                    )
                    log.warning("lease of %s on %s timed out", lease.operator, lease.robot)
                    self._publish_status("lease timeout")
                    self._broadcast_state()
                if now - last_push > 0.5:
                    last_push = now
                    for client in list(self.clients.values()):
                        try:
                            self.sessions.check(client.session.token, now)
                        except AuthError as err:
                            self._refuse("session", str(err), client.session.operator, client.peer)
                            await client.ws.close(code=4401, message=str(err).encode()[:120])
                    self._broadcast_state()
            except Exception:  # the watchdog must outlive any bug in one tick
                log.exception("teleop ticker")

    def _holder_name(self) -> str | None:
        lease = self.leases.holder(self.config.robot_id)
        return lease.operator if lease else None

    # --- HTTP ------------------------------------------------------------------------------

    @web.middleware
    async def _headers(self, request: web.Request, handler: Callable) -> web.StreamResponse:
        response = await handler(request)
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' blob: data:; connect-src 'self'; "
            "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if request.path.startswith("/api/"):
            response.headers["Cache-Control"] = "no-store"
        if self.config.ssl_context is not None:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response

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
            self._refuse("http_auth", f"{request.method} {request.path}: {err}", peer=self._peer(request))
            raise web.HTTPUnauthorized(text=json.dumps({"error": str(err)}), content_type="application/json") from None

    async def _json_body(self, request: web.Request) -> dict:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
            body = None
        if not isinstance(body, dict):
            self._refuse("http_body", f"{request.path}: body is not a JSON object", peer=self._peer(request))
            raise web.HTTPBadRequest(
                text=json.dumps({"error": "expected a JSON object"}), content_type="application/json"
            )
        return body

    async def _login(self, request: web.Request) -> web.Response:
        body = await self._json_body(request)
        name, password = body.get("operator"), body.get("password")
        peer = self._peer(request)
        if not isinstance(name, str) or not isinstance(password, str) or len(name) > 64:
            self._refuse("login", "operator and password must be strings", peer=peer)
            return web.json_response({"error": "operator and password must be strings"}, status=400)
        keys = (f"{name}:op", f"{peer}:ip")
        now = self.clock()
        try:
            self.throttle.check(keys, now)
            # scrypt takes ~50 ms: off the loop so streaming and heartbeats carry on.
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, self.operators.check, name, password)
        except AuthError as err:
            self.throttle.failed(keys, now)
            self._refuse(
                "login", f"{name!r} from {peer}: {err}", name if name in self.operators.operators else None, peer
            )
            return web.json_response({"error": "login refused"}, status=401)
        self.throttle.succeeded(keys)
        session = self.sessions.open(name, now)
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
        self._bearer(request)
        entry = self.queue.get(request.match_info["request_id"])
        if entry is None or entry.request.image_jpeg_b64 is None:
            raise web.HTTPNotFound()
        try:
            data = base64.b64decode(entry.request.image_jpeg_b64, validate=True)
        except ValueError:
            raise web.HTTPNotFound() from None
        return web.Response(body=data, content_type="image/jpeg")

    # --- WebSocket -------------------------------------------------------------------------

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        peer = self._peer(request)
        origin = request.headers.get("Origin")
        if origin is not None and origin.split("://", 1)[-1] != request.host:
            self._refuse("ws_origin", f"origin {origin} is not {request.host}", peer=peer)
            raise web.HTTPForbidden(text="cross-origin WebSocket refused")
        try:
            session = self.sessions.redeem_ticket(request.query.get("ticket"), self.clock())
        except AuthError as err:
            self._refuse("ws_auth", f"{peer}: {err}", peer=peer)
            raise web.HTTPUnauthorized(text=str(err)) from None
        if sum(c.session.operator == session.operator for c in self.clients.values()) >= MAX_CONNECTIONS_PER_OPERATOR:
            self._refuse(
                "ws_count",
                f"{session.operator} has {MAX_CONNECTIONS_PER_OPERATOR} connections open",
                session.operator,
                peer,
            )
            raise web.HTTPTooManyRequests(text="too many connections for this operator")
        ws = web.WebSocketResponse(max_msg_size=self.config.max_ws_message_bytes, autoping=True, heartbeat=5.0)
        await ws.prepare(request)
        client = _Client(
            f"c{next(self._ids)}",
            ws,
            session,
            peer,
            P.RateLimit(self.config.max_messages_per_s, self.config.message_burst),
        )
        self.clients[client.id] = client
        self.audit.write("connect", self.config.robot_id, session.operator, client.id, peer)
        sender = asyncio.create_task(self._send_frames(client))
        self._send_json(client, self.state(client))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    if not await self._on_text(client, msg.data):
                        break
                elif msg.type == WSMsgType.BINARY:
                    if not await self._bad(client, "binary messages are not accepted"):
                        break
                elif msg.type == WSMsgType.ERROR:
                    self._refuse("ws_frame", f"{client.id}: {ws.exception()}", session.operator, peer)
                    break
        finally:
            sender.cancel()
            await self._disconnect(client)
        return ws

    async def _bad(self, client: _Client, reason: str) -> bool:
        """A malformed message: refused with the reason; too many close the connection."""
        client.bad += 1
        self._refuse("message", f"{client.id}: {reason}", client.session.operator, client.peer)
        self._send_json(client, {"type": "error", "error": reason[:300]})
        if client.bad > self.config.max_bad_messages:
            self._refuse("connection", f"{client.id}: more than {self.config.max_bad_messages} malformed messages")
            await client.ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"too many malformed messages")
            return False
        return True

    async def _on_text(self, client: _Client, text: str) -> bool:
        now = self.clock()
        if not client.rate.allow(now):
            client.dropped += 1
            if now - client.flood_window_start > FLOOD_WINDOW_S:
                client.flood_window_start, client.dropped_in_window = now, 0
            client.dropped_in_window += 1
            self._refuse(
                "rate",
                f"{client.id}: over {self.config.max_messages_per_s:.0f} messages/s: dropped",
                client.session.operator,
                client.peer,
            )
            if client.dropped_in_window >= self.config.flood_close_after:
                await client.ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"message flood")
                return False
            return True
        try:
            self.sessions.check(client.session.token, now)
        except AuthError as err:
            self._refuse("session", f"{client.id}: {err}", client.session.operator, client.peer)
            await client.ws.close(code=4401, message=str(err).encode()[:120])
            return False
        try:
            msg = P.parse_client_message(text)
        except P.ProtocolError as err:
            return await self._bad(client, str(err))
        try:
            return await self._dispatch(client, msg, now)
        except Exception:  # a bug in one handler: hold, log, keep serving (never a crash, never control)
            log.exception("teleop: handling a %s message from %s", msg.type, client.session.operator)
            self.control.hold()
            return await self._bad(client, f"internal error handling {msg.type}")

    async def _dispatch(self, client: _Client, msg: P.ClientMessage, now: float) -> bool:
        robot, operator = self.config.robot_id, client.session.operator
        holds = self.leases.controls(robot, client.id)
        if isinstance(msg, P.Heartbeat):
            if holds:
                self.leases.touch(robot, client.id, now)
                self.control.heartbeat(now)
        elif isinstance(msg, P.Pose):
            if not holds:
                self._refuse("pose", f"{client.id}: no lease on {robot}: pose ignored", operator, client.peer)
                return True
            if self.estop_engaged:
                self.control.hold()
                self._refuse("pose", f"{client.id}: e-stop engaged: pose ignored", operator, client.peer)
                return True
            self.leases.touch(robot, client.id, now)
            decision = self.control.on_pose(msg, now)
            if self._engaged_reported != self.control.engaged:  # the status first: the arm resets on it
                self._publish_status("deadman engaged" if self.control.engaged else decision.reason)
            if decision.target is not None:
                self.port.publish_target(decision.target)
            elif decision.reason and self._every("pose_decision"):
                log.info("%s: %s", operator, decision.reason)
        elif isinstance(msg, P.Claim):
            self._claim(client, msg.request_id, now)
        elif isinstance(msg, P.Release):
            self._release(client, "hand-back")
        elif isinstance(msg, P.Resolve):
            await self._resolve(client, msg)
        elif isinstance(msg, P.Estop):
            self._estop(client, msg.engaged, holds)
        elif isinstance(msg, P.Watch):
            if msg.camera_id is not None and msg.camera_id not in self.camera_ids:
                return await self._bad(client, f"no camera {msg.camera_id} (cameras: {self.camera_ids})")
            client.watching = msg.camera_id
            self._update_watched()
        elif isinstance(msg, P.FrameShown):
            self.frame_latency.append((msg.capture, msg.shown, time.time()))
            client.frames_in_flight = max(0, client.frames_in_flight - 1)
            client.frame_acked.set()
        elif isinstance(msg, P.Logout):
            await self._end_session(client.session, "logout", client.peer)
            return False
        return True

    def _claim(self, client: _Client, request_id: str | None, now: float) -> None:
        robot, operator = self.config.robot_id, client.session.operator
        allowed = self.operators.operators[operator].robots if operator in self.operators.operators else ()
        if allowed and robot not in allowed:
            self._refuse("claim", f"{operator} may not operate {robot}", operator, client.peer)
            self._send_json(client, {"type": "error", "error": f"you may not operate {robot}"})
            return
        try:
            entry = self.queue.get(request_id) if request_id else None
            if request_id and entry is None:
                raise LeaseError(f"no open handoff request {request_id}")
            first = self.leases.holder(robot) is None
            self.leases.claim(robot, operator, client.id, request_id, now)
            if request_id:
                self.queue.claim(request_id, operator)
        except LeaseError as err:
            self._refuse("claim", str(err), operator, client.peer)
            self._send_json(client, {"type": "error", "error": str(err)})
            return
        if first:
            # Control starts where the arm is, so the first target does not move it; without joint
            # states, at the handoff's lane.
            home, yaw = None, 0.0
            if self.arm_pose is not None:
                home, yaw = self.arm_pose
            elif entry is not None and entry.request.lane_id in self.store.lane_by_id:
                home = self.store.lane_by_id[entry.request.lane_id].loading_point()
            self.control.reset(home, yaw)
            self.control.heartbeat(now)
        self.audit.write("claim", robot, operator, request_id or "", client.peer)
        self._publish_status(f"claimed by {operator}")
        self._broadcast_state()

    def _release(self, client: _Client, why: str) -> None:
        robot, operator = self.config.robot_id, client.session.operator
        try:
            self.leases.release(robot, client.id)
        except LeaseError as err:
            self._refuse("release", str(err), operator, client.peer)
            self._send_json(client, {"type": "error", "error": str(err)})
            return
        self.control.hold()
        self.queue.unclaim_all(operator)
        self.audit.write("release", robot, operator, why, client.peer)
        self._publish_status(f"released by {operator} ({why})")
        self._broadcast_state()

    async def _resolve(self, client: _Client, msg: P.Resolve) -> None:
        robot, operator = self.config.robot_id, client.session.operator
        lease = self.leases.holder(robot)
        entry = self.queue.get(msg.request_id)
        reason = None
        if lease is None or lease.connection != client.id:
            reason = f"no lease on {robot}"
        elif entry is None:
            reason = f"no open handoff request {msg.request_id}"
        elif entry.claimed_by != operator:
            reason = f"handoff {msg.request_id} is not claimed by {operator}"
        elif msg.action == "labelled" and msg.label not in (*self.sku_ids, FOREIGN_ITEM_LABEL):
            reason = f"label {msg.label!r} is neither a SKU of this store nor {FOREIGN_ITEM_LABEL!r}"
        if reason is not None:
            self._refuse("resolve", reason, operator, client.peer)
            self._send_json(client, {"type": "error", "error": reason})
            return
        assert entry is not None
        label = msg.label if msg.action == "labelled" else (FOREIGN_ITEM_LABEL if msg.action == "removed" else None)
        resolution = records.HandoffResolution(
            request_id=msg.request_id,
            operator=operator,
            action=msg.action,
            label=label,
            stamp=max(0.0, self.port.ros_now()),
            note=msg.note,
        )
        saved = None
        if label is not None and entry.request.kind == "unfamiliar_item":
            try:
                loop = asyncio.get_running_loop()
                saved = await loop.run_in_executor(
                    None, self.samples.write, entry.request, resolution, entry.frame_jpeg
                )
            except (OSError, ValueError) as err:
                log.warning("no training sample for %s: %s", msg.request_id, err)
        self.queue.resolve(msg.request_id)
        self.port.publish_resolution(resolution)
        if lease is not None and lease.request_id == msg.request_id:
            lease.request_id = None  # still in control, with nothing claimed
            self._publish_status(f"{msg.request_id} resolved")
        detail = f"{msg.request_id} {msg.action} {label or ''}".strip()
        self.audit.write(
            "resolve", robot, operator, detail + (f" sample={saved.image.name}" if saved else ""), client.peer
        )
        self._send_json(
            client,
            {
                "type": "ack",
                "of": "resolve",
                "request_id": msg.request_id,
                "sample": saved.image.name if saved else None,
            },
        )
        self._broadcast_state()

    def _estop(self, client: _Client, engaged: bool, holds: bool) -> None:
        operator = client.session.operator
        if not engaged and not holds:
            # Anyone logged in may stop the robot; only the operator in control may let it go again.
            self._refuse("estop", f"{operator} cannot release the e-stop without the lease", operator, client.peer)
            self._send_json(client, {"type": "error", "error": "releasing the e-stop needs the lease"})
            return
        if engaged:
            self.control.hold()
        self.estop_engaged = engaged
        self.port.publish_estop(engaged)
        self.audit.write("estop" if engaged else "estop_release", self.config.robot_id, operator, "", client.peer)
        log.warning("e-stop %s by %s", "ENGAGED" if engaged else "released", operator)
        self._broadcast_state()

    async def _send_frames(self, client: _Client) -> None:
        """Newest frame only, and at most FRAMES_IN_FLIGHT not yet drawn: a browser that decodes
        slower than the camera skips frames instead of queueing them (latency stays bounded)."""
        with contextlib.suppress(asyncio.CancelledError, ConnectionResetError):
            while not client.ws.closed:
                await client.frame_ready.wait()
                client.frame_ready.clear()
                while client.frames_in_flight >= FRAMES_IN_FLIGHT:
                    client.frame_acked.clear()
                    try:
                        await asyncio.wait_for(client.frame_acked.wait(), 0.5)
                    except asyncio.TimeoutError:
                        client.frames_in_flight = 0  # acks lost or a client that sends none: carry on
                data, client.frame = client.frame, None
                if data is not None:
                    client.frames_in_flight += 1
                    await client.ws.send_bytes(data)

    async def _disconnect(self, client: _Client) -> None:
        self.clients.pop(client.id, None)
        self._update_watched()
        gone = self.leases.drop_connection(client.id)
        for lease in gone:
            self.control.hold()
            self.queue.unclaim_all(lease.operator)
            self.audit.write("release", lease.robot, lease.operator, "disconnect", client.peer)
            self._publish_status(f"{lease.operator} disconnected")
        self.audit.write("disconnect", self.config.robot_id, client.session.operator, client.id, client.peer)
        if gone:
            self._broadcast_state()

    # --- figures for bench/ -----------------------------------------------------------------

    def frame_latency_summary(self) -> dict:
        if not self.frame_latency:
            return {"frames": 0}
        rows = np.array(self.frame_latency)
        lat = (rows[:, 1] - rows[:, 0]) * 1000
        span = rows[-1, 0] - rows[0, 0]
        return {
            "frames": len(rows),
            "fps": (len(rows) - 1) / span if span > 0 else math.nan,
            "median_ms": float(np.median(lat)),
            "p90_ms": float(np.percentile(lat, 90)),
        }
