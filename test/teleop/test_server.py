"""The operator server under attack and in normal use: real TLS, real aiohttp, real SQLite.

Every refusal is asserted: the request fails with the reason, the server's refusal counters
name it, and nothing reaches the robot's port ("never control").
"""

from __future__ import annotations

import asyncio
import base64
import math
import time

import aiohttp
import numpy as np
import pytest
from teleop_client import CollectingPort, close_code, connect, handoff, login, next_json, pose_msg, ticket, until

from restock.convert import encode_jpeg
from restock.paths import store_file
from restock.store.description import load_store
from restock.teleop.auth import OperatorBook
from restock.teleop.records_out import AuditLog, SampleWriter
from restock.teleop.server import ServerConfig, TeleopServer

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def run(coro):
    return asyncio.run(coro)


def test_no_bad_or_expired_token_is_refused(make_bridge):
    b = make_bridge(session_ttl_s=60.0)
    uniform = {"error": "not logged in, or the login has expired"}  # which failure it was is not told

    async def go():
        async with b.client() as http:
            async with http.get(f"{b.base}/api/state") as r:
                assert r.status == 401 and await r.json() == uniform
            async with http.get(f"{b.base}/api/state", headers={"Authorization": "Bearer forged"}) as r:
                assert r.status == 401 and await r.json() == uniform
            token = await login(http, b.base, "alice")
            async with http.get(f"{b.base}/api/state", headers={"Authorization": f"Bearer {token}"}) as r:
                assert r.status == 200 and (await r.json())["robot_id"] == "robot1"
            b.offset[0] = 61.0
            async with http.post(f"{b.base}/api/ticket", headers={"Authorization": f"Bearer {token}"}) as r:
                assert r.status == 401 and await r.json() == uniform

    run(go())
    assert b.server.counters["http_auth"] == 3
    # The audit log says which it was.
    reasons = [r["detail"] for r in b.server.audit.rows("refused_http_auth")]
    assert [why.rsplit(": ", 1)[1] for why in reasons] == ["no token", "unknown token", "expired token"]
    assert not b.port.targets


def test_wrong_password_and_login_throttle(make_bridge):
    b = make_bridge()

    async def go():
        async with b.client() as http:
            for _ in range(5):
                async with http.post(f"{b.base}/api/login", json={"operator": "alice", "password": "guess"}) as r:
                    assert r.status == 401
            # The right password is refused too while the name is throttled.
            async with http.post(f"{b.base}/api/login", json={"operator": "alice", "password": "alice-password"}) as r:
                assert r.status == 401
            async with http.post(f"{b.base}/api/login", data=b"\x00not json") as r:
                assert r.status == 400

    run(go())
    assert b.server.counters["login"] == 6
    assert "too many failed logins" in b.server.audit.rows("refused_login")[-1]["detail"]


def test_logged_out_token_is_not_accepted_again_and_its_socket_closes(make_bridge):
    b = make_bridge()

    async def go():
        async with b.client() as http:
            token = await login(http, b.base, "alice")
            ws = await connect(http, b.base, token)
            await next_json(ws, "state")
            async with http.post(f"{b.base}/api/logout", headers={"Authorization": f"Bearer {token}"}) as r:
                assert r.status == 200
            assert await close_code(ws) == 4401
            async with http.post(f"{b.base}/api/ticket", headers={"Authorization": f"Bearer {token}"}) as r:
                assert r.status == 401

    run(go())
    assert b.server.audit.rows("refused_http_auth")[-1]["detail"].endswith("replayed token (logged out)")


def test_websocket_needs_a_fresh_one_time_ticket_and_the_same_origin(make_bridge):
    b = make_bridge()
    wss = b.base.replace("https", "wss")

    async def go():
        async with b.client() as http:
            token = await login(http, b.base, "alice")
            for url in (f"{wss}/ws", f"{wss}/ws?ticket=forged", f"{wss}/ws?ticket={token}"):
                with pytest.raises(aiohttp.WSServerHandshakeError) as err:
                    await http.ws_connect(url)
                assert err.value.status == 401
            t = await ticket(http, b.base, token)
            ws = await http.ws_connect(f"{wss}/ws?ticket={t}")
            await next_json(ws, "state")
            with pytest.raises(aiohttp.WSServerHandshakeError) as err:  # replayed ticket
                await http.ws_connect(f"{wss}/ws?ticket={t}")
            assert err.value.status == 401
            t2 = await ticket(http, b.base, token)
            with pytest.raises(aiohttp.WSServerHandshakeError) as err:
                await http.ws_connect(f"{wss}/ws?ticket={t2}", origin="https://evil.example")
            assert err.value.status == 403
            await ws.close()

    run(go())
    assert b.server.counters["ws_auth"] == 4 and b.server.counters["ws_origin"] == 1


def test_second_operator_can_neither_claim_nor_control(make_bridge):
    b = make_bridge()
    b.server.submit_handoff(handoff("h-1"))

    async def go():
        async with b.client() as http:
            alice = await connect(http, b.base, await login(http, b.base, "alice"))
            bob = await connect(http, b.base, await login(http, b.base, "bob"))
            await alice.send_json({"type": "claim", "request_id": "h-1"})
            await until(lambda: b.port.statuses[-1].control == "operator", what="alice's lease")
            await bob.send_json({"type": "claim", "request_id": "h-1"})
            assert "held by alice" in (await next_json(bob, "error"))["error"]
            await bob.send_json({"type": "claim"})
            assert "held by alice" in (await next_json(bob, "error"))["error"]
            for i in range(5):
                await bob.send_json(pose_msg((0.01 * i, 1.0, 0.0)))
            await bob.send_json({"type": "release"})
            assert "not held by this connection" in (await next_json(bob, "error"))["error"]
            await until(lambda: b.server.counters.get("pose", 0) >= 5, what="bob's poses refused")
            assert b.port.targets == []
            await alice.send_json(pose_msg((0.0, 1.0, 0.0)))
            await until(lambda: len(b.port.targets) == 1, what="alice's target")
            assert b.server.leases.holder("robot1").operator == "alice"
            # (checked before the clients close: their disconnect hands the robot back)
            assert b.port.statuses[-1].operator == "alice" and b.port.statuses[-1].control == "operator"

    run(go())


def test_malformed_nan_and_absurd_poses_are_dropped_and_the_link_survives(make_bridge):
    b = make_bridge(max_bad_messages=6)
    bad = [
        "{not json",
        '{"type": "pose", "position": [NaN, 0, 0], "orientation": [0, 0, 0, 1], "grip": true}',
        '{"type": "pose", "position": [1e300, 0, 0], "orientation": [0, 0, 0, 1], "grip": true}',
        '{"type": "pose", "position": [0, 1, 0], "orientation": [0, 0, 0, 0], "grip": true}',
        '{"type": "pose", "position": [0, 1, 0], "orientation": [0, 0, 0, 1], "grip": true, "sudo": 1}',
    ]

    async def go():
        async with b.client() as http:
            ws = await connect(http, b.base, await login(http, b.base, "alice"))
            await ws.send_json({"type": "claim"})
            await until(lambda: b.port.statuses[-1].control == "operator")
            for text in bad:
                await ws.send_str(text)
                assert (await next_json(ws, "error"))["error"]
            assert b.port.targets == []
            await ws.send_json(pose_msg((0.0, 1.0, 0.0)))  # still connected and in control
            await until(lambda: len(b.port.targets) == 1)
            await ws.send_bytes(b"\x00" * 10)
            assert "binary" in (await next_json(ws, "error"))["error"]
            for _ in range(3):  # past max_bad_messages: closed
                await ws.send_str("[]")
            assert await close_code(ws) == 1008
            await until(lambda: b.port.statuses[-1].control == "autonomy", what="lease dropped with the link")

    run(go())
    assert all(math.isfinite(c) for t in b.port.targets for c in t.position)


def test_oversize_frame_closes_the_connection_and_the_server_carries_on(make_bridge):
    b = make_bridge(max_ws_message_bytes=4096)

    async def go():
        async with b.client() as http:
            token = await login(http, b.base, "alice")
            ws = await connect(http, b.base, token)
            await ws.send_json({"type": "claim"})
            await until(lambda: b.port.statuses[-1].control == "operator")
            await ws.send_str('{"type": "heartbeat", "pad": "' + "x" * 100_000 + '"}')
            assert await close_code(ws) == 1009
            await until(lambda: b.port.statuses[-1].control == "autonomy")
            ws2 = await connect(http, b.base, token)  # the server is fine
            assert (await next_json(ws2, "state"))["lease"] is None
            await ws2.close()

    run(go())
    assert b.server.counters["ws_frame"] == 1 and b.port.targets == []


def test_message_flood_is_dropped_then_closed(make_bridge):
    b = make_bridge(max_messages_per_s=50.0, message_burst=20.0, flood_close_after=200)

    async def go():
        async with b.client() as http:
            ws = await connect(http, b.base, await login(http, b.base, "alice"))
            await ws.send_json({"type": "claim"})
            await until(lambda: b.port.statuses[-1].control == "operator")
            started = time.monotonic()
            for i in range(5000):
                try:
                    await ws.send_json(pose_msg((0.0001 * (i % 10), 1.0, 0.0)))
                except ConnectionError:
                    break  # closed by the bridge
            assert await close_code(ws) == 1008
            elapsed = time.monotonic() - started  # the bridge handled the flood within this
            await until(lambda: b.port.statuses[-1].control == "autonomy", what="lease dropped with the link")
            return elapsed

    elapsed = run(go())
    assert b.server.counters["rate"] >= 200
    # What got through is the bucket's arithmetic (burst + rate x time), however fast the flood came.
    assert len(b.port.targets) <= 20 + 50 * elapsed + 1


def test_deadman_heartbeat_hold_and_disconnect_release(make_bridge):
    b = make_bridge()

    async def go():
        async with b.client() as http:
            ws = await connect(http, b.base, await login(http, b.base, "alice"))
            await ws.send_json({"type": "claim"})
            await until(lambda: b.port.statuses[-1].control == "operator")
            for i in range(10):
                await ws.send_json(pose_msg((0.0, 1.0 + 0.01 * i, 0.0)))
                await asyncio.sleep(0.02)
            await until(lambda: b.port.statuses[-1].engaged, what="engaged status")
            n = len(b.port.targets)
            assert n == 10
            # Silence: the watchdog holds after 250 ms and says so.
            await until(lambda: not b.port.statuses[-1].engaged, timeout=3, what="hold on heartbeat loss")
            assert b.server.counters["heartbeat_timeout"] >= 1
            assert b.port.statuses[-1].control == "operator"  # still the lease holder, but holding
            # Deadman released: held at once, no target for the release.
            await ws.send_json(pose_msg((0.0, 1.2, 0.0)))
            await until(lambda: b.port.statuses[-1].engaged)
            await ws.send_json(pose_msg((0.0, 1.2, 0.0), grip=False))
            await until(lambda: not b.port.statuses[-1].engaged, what="hold on deadman release")
            assert len(b.port.targets) == n + 1
            await ws.close()
            await until(lambda: b.port.statuses[-1].control == "autonomy", what="release on disconnect")

    run(go())
    assert [r["event"] for r in b.server.audit.rows() if r["event"] in ("claim", "release")] == ["claim", "release"]


def test_label_writes_a_sample_publishes_the_resolution_and_hands_back(make_bridge):
    b = make_bridge()
    crop = base64.b64encode(encode_jpeg(np.full((96, 64, 3), 200, np.uint8))).decode()
    frame = encode_jpeg(np.full((480, 640, 3), 90, np.uint8))
    b.server.submit_handoff(handoff("h-7", image_jpeg_b64=crop, bbox=[300, 200, 364, 296], camera_id="cam_left"), frame)

    async def go():
        async with b.client() as http:
            token = await login(http, b.base, "alice")
            ws = await connect(http, b.base, token)
            await until(lambda: len(b.server.queue) == 1)
            async with http.get(f"{b.base}/api/handoff/h-7/image", headers={"Authorization": f"Bearer {token}"}) as r:
                assert r.status == 200 and r.content_type == "image/jpeg"
            await ws.send_json({"type": "resolve", "request_id": "h-7", "action": "labelled", "label": "cola_500"})
            assert "no lease" in (await next_json(ws, "error"))["error"]
            await ws.send_json({"type": "claim", "request_id": "h-7"})
            await ws.send_json({"type": "resolve", "request_id": "h-7", "action": "labelled", "label": "nuka_cola"})
            assert "neither a SKU" in (await next_json(ws, "error"))["error"]
            await ws.send_json({"type": "resolve", "request_id": "h-7", "action": "labelled", "label": "cola_500"})
            ack = await next_json(ws, "ack")
            assert ack["sample"]
            await ws.send_json({"type": "release"})
            await until(lambda: b.port.statuses[-1].control == "autonomy")

    run(go())
    (res,) = b.port.resolutions
    assert (res.request_id, res.operator, res.action, res.label) == ("h-7", "alice", "labelled", "cola_500")
    assert len(b.server.queue) == 0
    (label,) = (b.samples / "labels").iterdir()
    assert label.read_text().split()[0] == "0"  # cola_500 is a bottle
    events = [r["event"] for r in b.server.audit.rows()]
    assert [e for e in events if e in ("claim", "resolve", "release")] == ["claim", "resolve", "release"]
    assert events.count("refused_resolve") == 2  # no lease, then an unknown label


def test_estop_anyone_may_engage_only_the_holder_may_release(make_bridge):
    b = make_bridge()

    async def go():
        async with b.client() as http:
            alice = await connect(http, b.base, await login(http, b.base, "alice"))
            bob = await connect(http, b.base, await login(http, b.base, "bob"))
            await alice.send_json({"type": "claim"})
            await until(lambda: b.port.statuses[-1].control == "operator")
            await bob.send_json({"type": "estop", "engaged": True})
            await until(lambda: b.port.estops == [True])
            await bob.send_json({"type": "estop", "engaged": False})
            assert "needs the lease" in (await next_json(bob, "error"))["error"]
            await alice.send_json(pose_msg((0.0, 1.0, 0.0)))  # engaged e-stop: the holder's poses are refused too
            await until(lambda: b.server.counters.get("pose", 0) == 1)
            assert b.port.targets == []
            await alice.send_json({"type": "estop", "engaged": False})
            await until(lambda: b.port.estops == [True, False])
            await alice.send_json(pose_msg((0.0, 1.0, 0.0)))
            await until(lambda: len(b.port.targets) == 1)

    run(go())


def test_plain_http_only_on_loopback(tmp_path, operators_file):
    store = load_store(store_file("station_kiosk.yaml"))
    args = (
        store,
        OperatorBook.load(operators_file),
        CollectingPort(),
        AuditLog(":memory:"),
        SampleWriter(tmp_path, {}),
    )
    with pytest.raises(ValueError, match="loopback only"):
        TeleopServer(ServerConfig(host="0.0.0.0", ssl_context=None), *args)
    server = TeleopServer(ServerConfig(host="127.0.0.1", port=0, ssl_context=None), *args)
    port = server.start()

    async def go():
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/") as r:
            assert r.status == 200 and "restock operator" in await r.text()
            assert "default-src 'self'" in r.headers["Content-Security-Policy"]

    try:
        run(go())
    finally:
        server.stop()


def test_control_starts_where_the_arm_is(make_bridge):
    b = make_bridge()
    b.server.submit_handoff(handoff("h-2"))
    b.server.set_robot_state({"joints": {}}, ((0.5, 0.3, 0.9), 1.2))

    async def go():
        async with b.client() as http:
            ws = await connect(http, b.base, await login(http, b.base, "alice"))
            await until(lambda: len(b.server.queue) == 1)
            await ws.send_json({"type": "claim", "request_id": "h-2"})
            await ws.send_json(pose_msg((0.3, 1.1, -0.2)))
            await until(lambda: len(b.port.targets) == 1)

    run(go())
    assert b.port.targets[0].position == (0.5, 0.3, 0.9) and b.port.targets[0].yaw == 1.2


def test_session_expiry_closes_the_socket_and_a_silent_holder_loses_the_lease(make_bridge):
    b = make_bridge(session_ttl_s=120.0, lease_timeout_s=30.0)

    async def go():
        async with b.client() as http:
            ws = await connect(http, b.base, await login(http, b.base, "alice"))
            await ws.send_json({"type": "claim"})
            await until(lambda: b.port.statuses[-1].control == "operator")
            b.offset[0] = 31.0  # silent for 31 s
            await until(lambda: b.port.statuses[-1].control == "autonomy", what="lease timeout")
            assert b.server.audit.rows("lease_timeout")[0]["operator"] == "alice"
            b.offset[0] = 121.0  # the login expired
            assert await close_code(ws) == 4401

    run(go())
    assert b.port.targets == []


def test_passwd_command_prints_a_usable_entry(tmp_path, monkeypatch, capsys):
    import io

    from restock.teleop.auth import passwd_main

    monkeypatch.setattr("sys.stdin", io.StringIO("a long password\n"))
    assert passwd_main(["carol"]) == 0
    path = tmp_path / "ops.yaml"
    path.write_text(capsys.readouterr().out)
    assert OperatorBook.load(path).check("carol", "a long password").name == "carol"
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert passwd_main(["carol"]) == 2
    assert passwd_main(["bad name"]) == 2


def test_connections_per_operator_are_capped(make_bridge):
    b = make_bridge()

    async def go():
        async with b.client() as http:
            token = await login(http, b.base, "alice")
            open_ = [await connect(http, b.base, token) for _ in range(4)]
            with pytest.raises(aiohttp.WSServerHandshakeError) as err:
                await connect(http, b.base, token)
            assert err.value.status == 429
            for ws in open_:
                await ws.close()

    run(go())
    assert b.server.counters["ws_count"] == 1
