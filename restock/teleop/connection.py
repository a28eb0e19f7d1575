"""One operator's WebSocket connection: who it is, its message budget, and its camera stream.

The stream sends the newest frame only, with at most FRAMES_IN_FLIGHT not yet taken by the app
(decoded, or dropped for a newer one: its ``frame_shown``): a browser that decodes slower than the camera skips frames instead of queueing them,
and a slow viewer builds no backlog on the bridge (it holds one frame, the newest).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass, field

from aiohttp import web

from restock.teleop.auth import Session
from restock.teleop.protocol import RateLimit, stamp_sent
from restock.teleop.rules import Conn

# Two frames in the viewer's hands at most (one decoding, one on its way); the next waits on the
# bridge, where a newer one replaces it. One would leave the link idle for a round trip per frame:
# in the emulated headset (a busy renderer, ~30 ms each way) that halved the frames drawn.
FRAMES_IN_FLIGHT = 2
log = logging.getLogger("restock.teleop")


@dataclass
class Connection:
    id: str
    ws: web.WebSocketResponse
    session: Session
    peer: str
    rate: RateLimit
    watching: str | None = None
    frame: bytes | None = None
    frame_ready: asyncio.Event = field(default_factory=asyncio.Event)
    frames_in_flight: int = 0  # sent, not yet reported taken (frame_shown)
    frame_acked: asyncio.Event = field(default_factory=asyncio.Event)
    flood_window_start: float = 0.0
    dropped_in_window: int = 0
    dropped: int = 0
    bad: int = 0
    received_at: float = 0.0  # wall time the message being handled arrived (restock.teleop.trace)

    @property
    def conn(self) -> Conn:
        return Conn(self.id, self.session.operator, self.peer)

    def send_json(self, body: dict) -> None:
        if self.ws.closed:
            return
        try:
            text = json.dumps(body, allow_nan=False)
        except (TypeError, ValueError) as err:  # a NaN from a driver must not cut the operator off
            log.error("not sending a %s message: %s", body.get("type"), err)
            return
        task = asyncio.ensure_future(self.ws.send_str(text))
        task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)

    def offer_frame(self, data: bytes) -> None:
        self.frame = data  # the newest frame wins: a slow link skips frames, never lags
        self.frame_ready.set()

    def frame_shown(self) -> None:
        self.frames_in_flight = max(0, self.frames_in_flight - 1)
        self.frame_acked.set()

    async def send_frames(self) -> None:
        with contextlib.suppress(asyncio.CancelledError, ConnectionResetError):
            while not self.ws.closed:
                await self.frame_ready.wait()
                self.frame_ready.clear()
                while self.frames_in_flight >= FRAMES_IN_FLIGHT:
                    self.frame_acked.clear()
                    try:
                        await asyncio.wait_for(self.frame_acked.wait(), 0.5)
                    except asyncio.TimeoutError:
                        self.frames_in_flight = 0  # acks lost or a client that sends none: carry on
                data, self.frame = self.frame, None
                if data is not None:
                    self.frames_in_flight += 1
                    await self.ws.send_bytes(stamp_sent(data, time.time()))
