"""The operator stream as a WebRTC video track (aiortc), beside the JPEG frames on the WebSocket.

Signalling rides the viewer's authenticated WebSocket: the app sends an ``rtc_offer`` (SDP),
the bridge answers with ``rtc_answer``. ICE runs on the bridge's own serving address only (the
loopback address in tests and benches; aioice would otherwise offer every other interface's)
and with no STUN or TURN server, and remote candidates on other addresses are dropped from the
offer, so the media never leaves that address.

Each camera has one VP8 encoder (libvpx through PyAV) shared by every WebRTC viewer: a frame is
encoded once and the same packets go to each viewer's track, which aiortc only packetizes. A
viewer that falls behind by more than a few frames drops them all and waits for a key frame
(asked of the shared encoder), so no backlog builds. Each packet's stage stamps (capture,
received, encoded, sent) go to its viewer as an ``rtc_frame`` message with the packet's RTP time
(before aiortc's random offset), which the app matches with the frames it shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from restock.teleop.protocol import FrameStamps

log = logging.getLogger("restock.teleop")

VIDEO_CLOCK = 90_000  # RTP clock of video (Hz)
MAX_BACKLOG = 3  # frames queued for one viewer before it skips to the next key frame
KEYFRAME_EVERY_S = 2.0  # a viewer that lost a packet sees a whole picture again within this
_CANDIDATE = re.compile(r"^a=candidate:\S+ \d+ \S+ \d+ (\S+) \d+ ", re.IGNORECASE)


def available() -> bool:
    """aiortc and PyAV are installed (setup.py's runtime dependencies; without them: WebSocket frames only)."""
    try:
        import aiortc  # noqa: F401
        import av  # noqa: F401
    except ImportError:
        return False
    return True


def ice_on(host: str) -> None:
    """Gather ICE candidates on ``host`` only (aioice's own list is every interface but loopback)."""
    import aioice.ice

    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: [host]


def candidates_on(sdp: str, host: str) -> str:
    """The SDP with only the ICE candidates on ``host``: nothing is ever sent to another address."""
    lines = sdp.splitlines()
    kept = [ln for ln in lines if not (m := _CANDIDATE.match(ln)) or m.group(1) == host]
    return "\r\n".join(kept) + "\r\n"


def first_codec(sdp: str) -> str | None:
    """The codec (lower case) an SDP's video section lists first: the one aiortc sends."""
    m = re.search(r"^m=video \S+ \S+ (\d+)", sdp, re.MULTILINE)
    rtpmap = m and re.search(rf"^a=rtpmap:{m.group(1)} ([^/\s]+)", sdp, re.MULTILINE)
    return rtpmap.group(1).lower() if rtpmap else None


@dataclass
class Vp8Encoder:
    """One camera's VP8 encoder: real-time, no look-ahead, constant bit rate, a key frame on request."""

    bitrate: int
    fps: float
    codec: object = None
    first_capture: float | None = None
    last_pts: int = -1
    last_key: float = 0.0
    key_wanted: bool = True

    def encode(self, pixels: np.ndarray, capture: float) -> list:
        """The av.Packets of one frame (RTP time: 90 kHz since the first frame's capture)."""
        import av

        height, width = pixels.shape[:2]
        if self.codec is None or (self.codec.width, self.codec.height) != (width, height):
            self.codec = _vp8_context(width, height, self.bitrate, self.fps)
            self.key_wanted = True
        if self.first_capture is None:
            self.first_capture = capture
        pts = max(self.last_pts + 1, round((capture - self.first_capture) * VIDEO_CLOCK))
        self.last_pts = pts
        frame = av.VideoFrame.from_ndarray(pixels, format="rgb24").reformat(format="yuv420p")
        frame.pts = pts
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        now = time.monotonic()
        if self.key_wanted or now - self.last_key > KEYFRAME_EVERY_S:
            frame.pict_type = av.video.frame.PictureType.I
            self.key_wanted, self.last_key = False, now
        packets = list(self.codec.encode(frame))
        for p in packets:
            p.pts, p.time_base = pts, fractions.Fraction(1, VIDEO_CLOCK)
        return packets


def _vp8_context(width: int, height: int, bitrate: int, fps: float):
    import av

    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "yuv420p"
    codec.bit_rate = bitrate
    codec.time_base = fractions.Fraction(1, VIDEO_CLOCK)
    codec.framerate = fractions.Fraction(round(fps), 1)
    codec.gop_size = 10_000  # key frames come from KEYFRAME_EVERY_S and requests, not a fixed distance
    codec.qmin, codec.qmax = 2, 56
    codec.thread_count = 1  # libvpx's threads wait on each other on a busy 2-core machine: 10x slower there
    codec.options = {
        "deadline": "realtime",
        "cpu-used": "16",  # the fastest real-time setting: latency before compression ratio
        "lag-in-frames": "0",  # no look-ahead: a frame leaves as soon as it is encoded
        "error-resilient": "1",
        "bufsize": str(bitrate // 2),
        "minrate": str(bitrate),
        "maxrate": str(bitrate),
        "undershoot-pct": "100",
        "overshoot-pct": "15",
        "static-thresh": "1",
    }
    codec.open()
    return codec


@dataclass
class _Sent:
    packet: object
    number: int  # the shared encoder's frame count: the same for every viewer
    stamps: FrameStamps


def _track_class():
    from aiortc import MediaStreamTrack

    class SharedVideoTrack(MediaStreamTrack):
        """One viewer's video track: the shared encoder's packets, in order, at most MAX_BACKLOG behind."""

        kind = "video"

        def __init__(self, on_sent: Callable[[int, int, FrameStamps], None], want_key: Callable[[], None]) -> None:
            super().__init__()
            self.queue: deque[_Sent] = deque()
            self.ready = asyncio.Event()
            self.started = False  # a viewer starts at a key frame
            self.on_sent = on_sent
            self.want_key = want_key

        def offer(self, packet, number: int, stamps: FrameStamps) -> None:
            if not self.started and not packet.is_keyframe:
                self.want_key()
                return
            self.started = True
            if len(self.queue) >= MAX_BACKLOG:  # behind: skip to the next key frame, never lag
                self.queue.clear()
                self.started = False
                self.want_key()
                return
            self.queue.append(_Sent(packet, number, stamps))
            self.ready.set()

        async def recv(self):
            while not self.queue:
                self.ready.clear()
                await self.ready.wait()
            item = self.queue.popleft()
            sent = time.time()
            s = item.stamps
            self.on_sent(item.packet.pts, item.number, FrameStamps(s.capture, s.received, s.encoded, sent))
            return item.packet

    return SharedVideoTrack


@dataclass
class RtcViewer:
    camera_id: str
    pc: object
    track: object


@dataclass
class RtcHub:
    """The WebRTC viewers of one bridge and the shared encoder per camera; runs on the server's loop
    (encode: on the caller's thread, once per frame)."""

    host: str
    bitrate: int = 2_000_000
    fps: float = 30.0
    viewers: dict[str, RtcViewer] = field(default_factory=dict)  # by connection id
    encoders: dict[str, Vp8Encoder] = field(default_factory=dict)
    frames_encoded: int = 0

    def __post_init__(self) -> None:
        ice_on(self.host)
        self._track = _track_class()

    def watched(self) -> frozenset[str]:
        return frozenset(v.camera_id for v in self.viewers.values())

    def encode(self, camera_id: str, pixels: np.ndarray, capture: float) -> list:
        encoder = self.encoders.setdefault(camera_id, Vp8Encoder(self.bitrate, self.fps))
        self.frames_encoded += 1
        return encoder.encode(pixels, capture)

    def fan_out(self, camera_id: str, packets: list, number: int, stamps: FrameStamps) -> None:
        for viewer in self.viewers.values():
            if viewer.camera_id == camera_id:
                for packet in packets:
                    viewer.track.offer(packet, number, stamps)

    async def answer(
        self, conn_id: str, camera_id: str, offer_sdp: str, on_sent: Callable[[int, int, FrameStamps], None]
    ) -> str:
        """Open (or reopen) this connection's peer for ``camera_id``; the answer's SDP."""
        from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpSender, RTCSessionDescription

        await self.close(conn_id)
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))  # no STUN: aiortc's default is Google's
        encoder = self.encoders.setdefault(camera_id, Vp8Encoder(self.bitrate, self.fps))

        def want_key() -> None:
            encoder.key_wanted = True

        track = self._track(on_sent, want_key)
        self.viewers[conn_id] = RtcViewer(camera_id, pc, track)
        try:
            await pc.setRemoteDescription(RTCSessionDescription(candidates_on(offer_sdp, self.host), "offer"))
            pc.addTrack(track)
            vp8 = [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType.lower() == "video/vp8"]
            for transceiver in pc.getTransceivers():
                transceiver.setCodecPreferences(vp8)
            await pc.setLocalDescription(await pc.createAnswer())
            sdp = pc.localDescription.sdp
            if first_codec(sdp) != "vp8":  # the shared encoder's packets are VP8: nothing else would play
                raise ValueError(f"the offer puts {first_codec(sdp)} first, not VP8")
        except Exception:
            await self.close(conn_id)
            raise
        return sdp

    async def close(self, conn_id: str) -> None:
        viewer = self.viewers.pop(conn_id, None)
        if viewer is not None:
            with contextlib.suppress(Exception):  # a peer half set up closes as far as it got
                await viewer.pc.close()
