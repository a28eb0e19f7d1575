"""The camera stream over the TLS WebSocket: one JPEG per frame for every viewer, the newest only,
and the stage stamps the latency figures read (real server, real TLS, real aiohttp clients)."""

from __future__ import annotations

import asyncio

import aiohttp
import numpy as np
import pytest
from teleop_client import connect, login, until

from restock.teleop.protocol import FrameStamps, pack_frame, stamp_sent, unpack_frame

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_frame_header_round_trip_and_the_send_stamp_per_viewer():
    data = pack_frame(2, 7, FrameStamps(1700000000.25, 1700000000.5, 1700000000.75), b"\xff\xd8jpeg")
    assert unpack_frame(data) == (2, 7, FrameStamps(1700000000.25, 1700000000.5, 1700000000.75, 0.0), b"\xff\xd8jpeg")
    sent = stamp_sent(data, 1700000001.0)
    assert unpack_frame(sent)[2].sent == 1700000001.0 and unpack_frame(data)[2].sent == 0.0  # the shared frame stays


async def next_frame(ws: aiohttp.ClientWebSocketResponse) -> tuple[int, FrameStamps, bytes]:
    while True:
        msg = await ws.receive(timeout=5.0)
        if msg.type == aiohttp.WSMsgType.BINARY:
            return unpack_frame(msg.data)[1:]
        assert msg.type == aiohttp.WSMsgType.TEXT, msg


def test_two_viewers_share_one_jpeg_per_frame_and_get_the_newest_only(make_bridge):
    """A viewer that has not taken its last frame is sent nothing more; when it does, it gets the
    newest frame, not the ones in between (no backlog on the bridge). Both viewers get the same
    JPEG, encoded once."""
    b = make_bridge(stream_fps=1000.0)
    camera = b.server.rules.camera_ids[0]
    pixels = [np.full((480, 640, 3), 40 * (i + 1), np.uint8) for i in range(3)]

    def submit(i: int) -> None:
        assert b.server.submit_frame(camera, pixels[i], 1000.0 + i, 1000.01 + i)

    async def go() -> None:
        async with b.client() as http:
            viewers = []
            for name in ("alice", "bob"):
                ws = await connect(http, b.base, await login(http, b.base, name))
                await ws.send_json({"type": "watch", "camera_id": camera})
                viewers.append(ws)
            await until(lambda: b.server.wants_frames(camera) and len(b.server.clients) == 2, what="two viewers")
            submit(0)
            first = [await next_frame(ws) for ws in viewers]
            assert [f[0] for f in first] == [1, 1] and first[0][2] == first[1][2]  # one JPEG for both
            stamps = first[0][1]
            assert (stamps.capture, stamps.received) == (1000.0, 1000.01) and stamps.encoded <= stamps.sent
            submit(1)
            submit(2)  # neither viewer has taken frame 1: frame 3 replaces frame 2 on the bridge
            clients = list(b.server.clients.values())
            await until(lambda: all(c.frame is not None and unpack_frame(c.frame)[1] == 3 for c in clients))
            for ws in viewers:
                await ws.send_json({"type": "frame_shown", "capture": 1000.0, "shown": 1001.0})
                number, stamp, _ = await next_frame(ws)
                assert (number, stamp.capture) == (3, 1002.0)
            with pytest.raises(asyncio.TimeoutError):  # frame 2 never comes
                await asyncio.wait_for(next_frame(viewers[0]), 0.3)

    asyncio.run(go())
    assert b.server.frames_encoded == 3  # three frames, two viewers: three JPEGs
