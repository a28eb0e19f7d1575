"""The camera streams of one operator server: who watches which camera, and how each frame reaches them.

A frame from the ROS thread (:meth:`Streams.submit`) is encoded at most once per transport,
whatever the number of viewers: one JPEG for every viewer on WebSocket frames (each
:class:`~restock.teleop.connection.Connection` then sends the newest one it holds), one VP8 frame
for every WebRTC viewer (restock.teleop.webrtc). Neither is made when nobody watches that way.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import numpy as np

from restock.convert import encode_jpeg
from restock.teleop import protocol as P
from restock.teleop import webrtc
from restock.teleop.connection import Connection

log = logging.getLogger("restock.teleop")


class Streams:
    def __init__(
        self, camera_ids: list[str], clients: dict[str, Connection], fps: float, jpeg_quality: int,
        rtc_host: str | None, rtc_bitrate: int,
    ) -> None:  # fmt: skip
        self.camera_ids = camera_ids
        self.clients = clients  # the server's, by connection id
        self.fps = fps
        self.jpeg_quality = jpeg_quality
        self.loop: asyncio.AbstractEventLoop | None = None  # the server's, once it runs
        # Read from the ROS thread without the loop: replaced whole, never changed in place.
        self._jpeg_watched: frozenset[str] = frozenset()
        self._rtc_watched: frozenset[str] = frozenset()
        self._budget: dict[str, P.RateLimit] = {}
        self.frames_encoded = 0  # JPEGs made: one per streamed frame, however many watch
        self._rtc_host, self._rtc_bitrate = rtc_host, rtc_bitrate
        self.rtc: webrtc.RtcHub | None = None  # made at the first offer: aiortc is not imported before
        # Viewers elsewhere (the fleet's operators, by name -> camera): each frame of a camera one of
        # them watches goes once to remote_sink (the robot's fleet link), which fans it out there.
        self.remote: dict[str, str] = {}
        self.remote_sink: Callable[[bytes], None] | None = None

    def wants(self, camera_id: str) -> bool:
        return camera_id in self._jpeg_watched or camera_id in self._rtc_watched

    def update_watched(self) -> None:
        watched = {c.watching for c in self.clients.values() if c.watching}
        self._jpeg_watched = frozenset(watched | set(self.remote.values()))
        self._rtc_watched = self.rtc.watched() if self.rtc is not None else frozenset()

    def submit(self, camera_id: str, pixels: np.ndarray, capture: float, received: float | None = None) -> bool:
        """Encode once per transport and fan out (at most ``fps`` a camera); True if anyone was sent it."""
        jpeg, rtc = camera_id in self._jpeg_watched, camera_id in self._rtc_watched
        if not (jpeg or rtc) or self.loop is None:
            return False
        if not self._budget.setdefault(camera_id, P.RateLimit(self.fps, 2.0)).allow(time.monotonic()):
            return False  # a camera faster than fps is thinned; a jittery one at the rate is not
        received = time.time() if received is None else received
        if jpeg:
            data = encode_jpeg(pixels, self.jpeg_quality)
            self.frames_encoded += 1
            stamps = P.FrameStamps(capture, received, time.time())
            frame = P.pack_frame(self.camera_ids.index(camera_id), self.frames_encoded, stamps, data)
            self.loop.call_soon_threadsafe(self._fan_out, camera_id, frame)
        if rtc and self.rtc is not None:
            packets = self.rtc.encode(camera_id, pixels, capture)
            stamps = P.FrameStamps(capture, received, time.time())
            self.loop.call_soon_threadsafe(self.rtc.fan_out, camera_id, packets, self.rtc.frames_encoded, stamps)
        return True

    def _fan_out(self, camera_id: str, frame: bytes) -> None:
        for client in self.clients.values():
            if client.watching == camera_id:
                client.offer_frame(frame)
        if self.remote_sink is not None and camera_id in self.remote.values():
            self.remote_sink(P.stamp_sent(frame, time.time()))

    async def rtc_offer(self, client: Connection, offer: P.RtcOffer) -> dict:
        """Answer a viewer's WebRTC offer: the ``rtc_answer`` message, or an ``error`` one."""
        if self.rtc is None and self._rtc_host and webrtc.available():
            self.rtc = webrtc.RtcHub(self._rtc_host, self._rtc_bitrate, self.fps)
        if self.rtc is None:
            return {"type": "error", "error": "no WebRTC on this bridge: use frames"}

        def sent(pts: int, number: int, stamps: P.FrameStamps) -> None:
            client.send_json({"type": "rtc_frame", "rtp": pts & 0xFFFFFFFF, "number": number, **vars(stamps)})

        try:
            sdp = await self.rtc.answer(client.id, offer.camera_id, offer.sdp, sent)
        except Exception as err:  # a malformed or unanswerable offer: the viewer falls back to frames
            log.warning("WebRTC offer from %s refused: %s", client.session.operator, str(err)[:200])
            return {"type": "error", "error": "WebRTC offer refused: use frames"}
        finally:
            self.update_watched()
        return {"type": "rtc_answer", "sdp": sdp}

    async def drop(self, client: Connection) -> None:
        """A viewer left: its WebRTC peer closes; what nobody watches is no longer encoded."""
        if self.rtc is not None:
            await self.rtc.close(client.id)
        self.update_watched()
