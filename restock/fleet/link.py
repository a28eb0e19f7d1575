"""A robot's one outbound link to the fleet service (WSS), kept up across lost links.

Handoffs wait in an outbox until the service acknowledges them; on every (re)connect, and every
``resend_s`` while any is unacknowledged, the outbox is sent again with how long each has waited (the service adds no duplicate: a request id is
kept once per robot). Resolutions come back on the same link and are passed on once each, then
acknowledged, so one that crossed a dropped link is sent again and still acted on once. While the
link is down the robot carries on by itself; nothing here blocks its caller. No rclpy: a node (or
a test, or the fleet day) drives it on an asyncio loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import aiohttp

from restock import records

log = logging.getLogger("restock.fleet.link")


MAX_REMEMBERED = 10_000  # resolutions remembered to act on each once (a resend comes within minutes)


def _call(callback: Callable[..., None], *args: object) -> None:
    """The robot's own code: a failure there is logged and must not take the link down."""
    try:
        callback(*args)
    except Exception as err:
        log.error("fleet link: %s failed: %s: %s", getattr(callback, "__name__", "callback"), type(err).__name__, err)


@dataclass
class _Waiting:
    request: records.HandoffRequest
    blocked_sales_per_h: float
    queued_at: float


class RobotLink:
    def __init__(
        self,
        url: str | Sequence[str],
        credential: str,
        ssl_context: ssl.SSLContext | None = None,
        on_resolution: Callable[[records.HandoffResolution], None] | None = None,
        on_command: Callable[[str, dict], None] | None = None,
        on_link: Callable[[bool], None] | None = None,
        retry_s: float = 0.5,
        max_retry_s: float = 10.0,
        resend_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # Several instances' addresses: after a failed attempt or a lost link the next one is tried,
        # so a killed instance costs a robot one reconnect, not its link.
        self.urls = [url] if isinstance(url, str) else list(url)
        self._at = 0
        self.connected_to: str | None = None
        self.credential = credential
        self.ssl_context = ssl_context
        self.on_resolution = on_resolution
        self.on_command = on_command  # (operator, bridge message) relayed from the operator holding a handoff
        # True when a link comes up, False when it goes: a robot drops every lease the fleet's operators
        # held through it (a command never outlives the link).
        self.on_link = on_link
        self.retry_s, self.max_retry_s, self.resend_s = retry_s, max_retry_s, resend_s
        self.clock = clock
        self.outbox: dict[str, _Waiting] = {}
        self.resolved: dict[str, records.HandoffResolution] = {}  # request id -> what the operator decided
        # Handoffs the robot resolved itself, told to the fleet until it acknowledges (resent like the outbox).
        self.withdrawals: dict[str, records.HandoffResolution] = {}
        self.connected = asyncio.Event()
        self.connects = 0
        self.last_close: tuple[int | None, str] | None = None  # (WebSocket close code, why) of the last link
        self.refusals = 0  # connection attempts refused by the service (bad or revoked credential)
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._stop = False
        self._frame_busy = False
        # The last relayed command's (service received, service sent, received here) wall times, for
        # on_command to read while it runs (restock.teleop.trace).
        self.command_stamps: tuple[float | None, float | None, float] = (None, None, 0.0)

    def send_handoff(self, request: records.HandoffRequest, blocked_sales_per_h: float = 0.0) -> None:
        """Queue a handoff; it goes now if the link is up, else on reconnect. A repeat id is ignored."""
        if request.request_id in self.outbox or request.request_id in self.resolved:
            return
        self.outbox[request.request_id] = _Waiting(request, blocked_sales_per_h, self.clock())
        if self._ws is not None and not self._ws.closed:
            asyncio.get_running_loop().create_task(self._send_one(self.outbox[request.request_id]))

    def send_withdrawal(self, resolution: records.HandoffResolution) -> None:
        """The robot resolved one of its handoffs itself: it leaves the fleet's queue (told now if the
        link is up, else on reconnect, until acknowledged)."""
        self.outbox.pop(resolution.request_id, None)
        self.withdrawals[resolution.request_id] = resolution
        if self._ws is not None and not self._ws.closed:
            asyncio.get_running_loop().create_task(self._send(self._withdrawal(resolution)))

    @staticmethod
    def _withdrawal(resolution: records.HandoffResolution) -> dict:
        return {"type": "withdrawn", "resolution": json.loads(records.encode(resolution))}

    async def send_status(self, status: dict) -> None:
        await self._send({"type": "status", "status": status})

    async def send_reply(self, operator: str, body: dict) -> None:
        """The robot's bridge answers an operator (state, acks, errors)."""
        await self._send({"type": "reply", "operator": operator, "body": body})

    async def send_frame(self, frame: bytes) -> bool:
        """A camera frame (restock.teleop.protocol.pack_frame) for the operators watching; False when
        the link is down or still busy with the last one (a stream drops frames, it never queues them)."""
        if self._ws is None or self._ws.closed or self._frame_busy:
            return False
        self._frame_busy = True
        try:
            await self._ws.send_bytes(frame)
            return True
        except (ConnectionError, RuntimeError):
            return False
        finally:
            self._frame_busy = False

    async def _send(self, message: dict) -> None:
        """Send now, or drop while the link is down (a status or a reply is stale by the reconnect)."""
        if self._ws is not None and not self._ws.closed:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self._ws.send_json(message)

    async def _send_one(self, item: _Waiting) -> None:
        body = {"type": "handoff", "request": json.loads(records.encode(item.request)),
                "blocked_sales_per_h": item.blocked_sales_per_h, "waiting_s": max(0.0, self.clock() - item.queued_at)}  # fmt: skip
        await self._send(body)

    async def run(self) -> None:
        """Keep the link up until stop(); back off after each failure, up to max_retry_s."""
        delay = self.retry_s
        async with aiohttp.ClientSession() as session:
            while not self._stop:
                try:
                    headers = {"Authorization": f"Bearer {self.credential}"}
                    url = self.urls[self._at % len(self.urls)]
                    async with session.ws_connect(url, headers=headers, ssl=self.ssl_context or False,
                                                  heartbeat=5.0, max_msg_size=4_000_000) as ws:  # fmt: skip
                        self._ws, self.connected_to = ws, url
                        self.connects += 1
                        delay = self.retry_s
                        self.connected.set()
                        if self.on_link is not None:
                            _call(self.on_link, True)
                        resend = asyncio.create_task(self._resend(ws))
                        try:
                            self.last_close = await self._read(ws)
                        finally:
                            resend.cancel()
                except aiohttp.WSServerHandshakeError as err:
                    self.refusals += 1
                    self.last_close = (None, f"refused: HTTP {err.status}")
                except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as err:
                    self.last_close = (None, f"{type(err).__name__}: {err}")
                finally:
                    was_up = self.connected.is_set()
                    self._ws, self.connected_to = None, None
                    self.connected.clear()
                    self._at += 1
                    if was_up and self.on_link is not None:
                        _call(self.on_link, False)
                if not self._stop:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, self.max_retry_s)

    async def _resend(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Send the outbox now and again every resend_s while anything in it is unacknowledged (a
        message the service dropped over its rate limit, or an ack lost with a link)."""
        while not ws.closed:
            for item in list(self.outbox.values()):
                await self._send_one(item)
            for resolution in list(self.withdrawals.values()):
                await self._send(self._withdrawal(resolution))
            await asyncio.sleep(self.resend_s)

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> tuple[int | None, str]:
        """Read until the link closes; the close code and reason the service sent (read from the close
        frame itself: the service may drop the connection before the reply, which ws.close_code tells
        as 1006)."""
        while True:
            msg = await ws.receive()
            received = time.time()
            if msg.type == aiohttp.WSMsgType.CLOSE:
                return int(msg.data), str(msg.extra or "")
            if msg.type != aiohttp.WSMsgType.TEXT:
                return ws.close_code, str(ws.exception() or msg.type.name)
            data = json.loads(msg.data)
            if data.get("type") == "ack":
                self.outbox.pop(data.get("request_id"), None)
            elif data.get("type") == "withdrawn_ack":
                self.withdrawals.pop(data.get("request_id"), None)
            elif data.get("type") == "resolution":
                res = records.HandoffResolution.model_validate(data["resolution"])
                if res.request_id not in self.resolved:  # sent again after a lost ack: acted on once
                    self.resolved[res.request_id] = res
                    while len(self.resolved) > MAX_REMEMBERED:  # the oldest first (insertion order)
                        del self.resolved[next(iter(self.resolved))]
                    self.outbox.pop(res.request_id, None)
                    if self.on_resolution is not None:
                        _call(self.on_resolution, res)
                await ws.send_json({"type": "resolution_ack", "request_id": res.request_id})
            elif data.get("type") == "command" and self.on_command is not None:
                # "message": the operator's own message as it came, when the service relays it as it is;
                # "at": when the service took it and relayed it (restock.teleop.trace), read by on_command.
                body = data["message"].get("body") if isinstance(data.get("message"), dict) else data.get("body")
                at = data.get("at")
                self.command_stamps = (
                    (*at, received) if isinstance(at, list) and len(at) == 2 else (None, None, received)
                )
                _call(self.on_command, str(data.get("operator")), body if isinstance(body, dict) else {})
            elif data.get("type") == "error":
                log.warning("fleet link: the service refused: %s", str(data.get("error"))[:200])

    async def stop(self) -> None:
        self._stop = True
        if self._ws is not None:
            await self._ws.close()
