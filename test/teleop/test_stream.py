"""The camera stream over the TLS WebSocket: one JPEG per frame for every viewer, the newest only,
and the stage stamps the latency figures read (real server, real TLS, real aiohttp clients)."""

from __future__ import annotations

import asyncio
import contextlib
import time

import aiohttp
import numpy as np
import pytest
from teleop_client import DEADLINE_S, connect, login, next_json, until

from restock.teleop.connection import FRAMES_IN_FLIGHT
from restock.teleop.protocol import FrameStamps, pack_frame, stamp_sent, unpack_frame

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_frame_header_round_trip_and_the_send_stamp_per_viewer():
    data = pack_frame(2, 7, FrameStamps(1700000000.25, 1700000000.5, 1700000000.75), b"\xff\xd8jpeg")
    assert unpack_frame(data) == (2, 7, FrameStamps(1700000000.25, 1700000000.5, 1700000000.75, 0.0), b"\xff\xd8jpeg")
    sent = stamp_sent(data, 1700000001.0)
    assert unpack_frame(sent)[2].sent == 1700000001.0 and unpack_frame(data)[2].sent == 0.0  # the shared frame stays


async def next_frame(
    ws: aiohttp.ClientWebSocketResponse, timeout: float = DEADLINE_S
) -> tuple[int, FrameStamps, bytes]:
    """The next camera frame within ``timeout`` in all (text messages on the way do not extend it)."""
    deadline = time.monotonic() + timeout
    while True:
        msg = await ws.receive(timeout=max(0.01, deadline - time.monotonic()))
        if msg.type == aiohttp.WSMsgType.BINARY:
            return unpack_frame(msg.data)[1:]
        assert msg.type == aiohttp.WSMsgType.TEXT, msg


def test_two_viewers_share_one_jpeg_per_frame_and_get_the_newest_only(make_bridge):
    """A viewer that has not taken its last frame is sent nothing more; when it does, it gets the
    newest frame, not the ones in between (no backlog on the bridge). Both viewers get the same
    JPEG, encoded once."""
    b = make_bridge(stream_fps=1000.0)
    camera = b.server.rules.camera_ids[0]
    n = FRAMES_IN_FLIGHT
    pixels = [np.full((480, 640, 3), 20 * (i + 1), np.uint8) for i in range(n + 2)]

    def submit(i: int) -> None:
        assert b.server.submit_frame(camera, pixels[i], 1000.0 + i, 1000.01 + i)

    async def go() -> None:
        async with b.client() as http:
            viewers = []
            for name in ("alice", "bob"):
                ws = await connect(http, b.base, await login(http, b.base, name))
                await ws.send_json({"type": "watch", "camera_id": camera})
                viewers.append(ws)
            # Both watches taken in, not just both connected: under load bob's "watch" came after frame 0.
            clients = b.server.clients
            await until(
                lambda: len(clients) == 2 and all(c.watching == camera for c in clients.values()), what="two viewers"
            )
            for i in range(n):  # as many as a viewer may hold untaken
                submit(i)
                got = [await next_frame(ws) for ws in viewers]
                assert [g[0] for g in got] == [i + 1, i + 1] and got[0][2] == got[1][2]  # one JPEG for both
            stamps = got[0][1]
            assert (stamps.capture, stamps.received) == (1000.0 + i, 1000.01 + i) and stamps.encoded <= stamps.sent
            submit(n)
            submit(n + 1)  # neither viewer has taken a frame: the newest replaces the one before on the bridge
            clients = list(b.server.clients.values())
            await until(lambda: all(c.frame is not None and unpack_frame(c.frame)[1] == n + 2 for c in clients))
            for ws in viewers:
                await ws.send_json({"type": "frame_shown", "capture": 1000.0, "shown": 1001.0})
                number, stamp, _ = await next_frame(ws)
                assert (number, stamp.capture) == (n + 2, 1000.0 + n + 1)
            # Frame n + 1 never comes: a receive left waiting 0.3 s gets nothing. (Not a receive with
            # a timeout: under load its cancellation raced the socket and surfaced as CancelledError.)
            waiting = asyncio.ensure_future(next_frame(viewers[0], timeout=60.0))
            done, _ = await asyncio.wait({waiting}, timeout=0.3)
            assert not done, f"a frame that was never submitted came: {waiting.result()[0]}"
            waiting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiting

    asyncio.run(go())
    assert b.server.streams.frames_encoded == n + 2  # n + 2 frames, two viewers: n + 2 JPEGs


def test_webrtc_viewers_get_one_vp8_frame_each_with_its_stamps_on_loopback(make_bridge):
    """Two WebRTC viewers (aiortc peers standing in for browsers; signalling on their WebSockets)
    get the camera as a video track from one shared VP8 encoder; the ICE candidates offered are the
    bridge's loopback address only; each frame's stamps come as rtc_frame messages."""
    pytest.importorskip("aiortc")
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

    from restock.teleop.webrtc import ice_on

    ice_on("127.0.0.1")  # the stand-in browsers gather on loopback too (aioice leaves it out otherwise)
    b = make_bridge(stream_fps=1000.0)
    camera = b.server.rules.camera_ids[0]
    y, x = np.mgrid[0:480, 0:640]
    still = np.stack([x * 255 // 640, y * 255 // 480, np.full_like(x, 90)], axis=-1).astype(np.uint8)

    async def viewer(http, name: str):
        ws = await connect(http, b.base, await login(http, b.base, name))
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.addTransceiver("video", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        await ws.send_json({"type": "rtc_offer", "camera_id": camera, "sdp": pc.localDescription.sdp})
        answer = await next_json(ws, "rtc_answer", timeout=10)
        candidates = [ln for ln in answer["sdp"].splitlines() if ln.startswith("a=candidate:")]
        assert candidates and all(ln.split()[4] == "127.0.0.1" for ln in candidates), answer["sdp"]
        tracks = []
        pc.on("track", tracks.append)
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        await until(lambda: tracks, 10, "the video track")
        return ws, pc, tracks[0]

    sent: list[bool] = []

    async def go() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()

        async def camera_feed() -> None:
            i = 0
            while not stop.is_set():
                moved = np.roll(still, 4 * i, axis=1)
                sent.append(await loop.run_in_executor(None, b.server.submit_frame, camera, moved, 2000.0 + i / 30))
                i += 1
                await asyncio.sleep(1 / 30)

        async with b.client() as http:
            viewers = [await viewer(http, name) for name in ("alice", "bob")]
            feed = asyncio.create_task(camera_feed())
            try:
                for _ws, _pc, track in viewers:
                    for _ in range(5):  # decoded pictures of the camera's size
                        frame = await asyncio.wait_for(track.recv(), 10)
                        assert (frame.width, frame.height) == (640, 480)
                metas = [await next_json(ws, "rtc_frame") for ws, _, _ in viewers]
            finally:
                stop.set()
                await feed
                for _ws, pc, _ in viewers:
                    await pc.close()
        for m in metas:
            assert m["capture"] >= 2000.0 and m["received"] <= m["encoded"] <= m["sent"]

    asyncio.run(go())
    # Two viewers, one VP8 encode per frame streamed; no JPEG (nobody watches frames on the socket).
    assert b.server.streams.rtc.frames_encoded == sum(sent) > 0 and b.server.streams.frames_encoded == 0


def test_offer_candidates_off_the_serving_address_are_dropped_and_the_first_codec_is_read():
    from restock.teleop.webrtc import candidates_on, first_codec

    offer = "\r\n".join([
        "v=0", "m=video 9 UDP/TLS/RTP/SAVPF 96 102", "a=rtpmap:96 VP8/90000", "a=rtpmap:102 H264/90000",
        "a=candidate:1 1 udp 2122260223 192.0.2.2 50000 typ host generation 0",
        "a=candidate:2 1 udp 2122194687 127.0.0.1 50001 typ host generation 0",
        "a=candidate:3 1 udp 2122129151 3f1c0a6e-1b2c.local 50002 typ host generation 0",
        "a=end-of-candidates",
    ])  # fmt: skip
    kept = candidates_on(offer, "127.0.0.1")
    assert [ln.split()[4] for ln in kept.splitlines() if ln.startswith("a=candidate:")] == ["127.0.0.1"]
    assert "a=end-of-candidates" in kept and first_codec(kept) == "vp8"
    assert first_codec(offer.replace("SAVPF 96 102", "SAVPF 102 96")) == "h264"


def test_a_malformed_webrtc_offer_is_refused_and_the_connection_carries_on(make_bridge):
    pytest.importorskip("aiortc")
    b = make_bridge()
    camera = b.server.rules.camera_ids[0]

    async def go() -> None:
        async with b.client() as http:
            ws = await connect(http, b.base, await login(http, b.base, "alice"))
            await ws.send_json({"type": "rtc_offer", "camera_id": camera, "sdp": "v=0\r\nnot an offer\r\n"})
            assert "WebRTC offer refused" in (await next_json(ws, "error", timeout=10))["error"]
            await ws.send_json({"type": "rtc_offer", "camera_id": "no_such_camera", "sdp": "v=0\r\nm=video\r\n"})
            assert "no camera no_such_camera" in (await next_json(ws, "error"))["error"]
            await ws.send_json({"type": "claim"})
            await until(lambda: b.port.statuses and b.port.statuses[-1].control == "operator", what="the claim")

    asyncio.run(go())
    assert not b.server.streams.rtc.viewers  # the refused peer is closed, nothing is encoded for it
