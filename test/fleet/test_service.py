"""`restock fleet` over HTTPS/WSS on 127.0.0.1, two instances on one PostgreSQL: a robot's handoff
reaches an operator on the other instance and the resolution comes back; revocation, tenants,
refusals, audit."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time

import aiohttp
import psycopg
import pytest
from fleet_helpers import FleetPair, Operator, handoff, linked_robot, next_of, wait_for

from restock.fleet import relay
from restock.fleet.accounts import Accounts
from restock.fleet.db import Pool
from restock.fleet.link import RobotLink
from restock.fleet.service import REVOKED_CLOSE, FleetConfig, FleetService
from restock.teleop.protocol import FrameStamps, pack_frame, unpack_frame


def audit(conninfo: str, event_like: str) -> list[tuple]:
    with psycopg.connect(conninfo) as conn:
        return conn.execute(
            "SELECT event, actor, robot_id, detail, instance FROM audit WHERE event LIKE %s ORDER BY id", (event_like,)
        ).fetchall()


def test_handoff_reaches_an_operator_on_the_other_instance_and_the_resolution_comes_back(fleet_pair: FleetPair) -> None:
    async def run() -> None:
        got = []
        robot = fleet_pair.link(0, "ra1", on_resolution=got.append)  # robot on instance a
        task = asyncio.create_task(robot.run())
        async with aiohttp.ClientSession() as http:
            alice = Operator(fleet_pair, http, 1)  # operator on instance b
            assert (await alice.login("alice")).status == 200
            ws = await alice.ws()
            assert (await next_of(ws, "queue"))["handoffs"] == []
            await robot.connected.wait()
            robot.send_handoff(handoff("h1"), blocked_sales_per_h=3.0)
            queue = await next_of(ws, "queue")  # pushed by b on a's NOTIFY
            [item] = queue["handoffs"]
            assert (item["robot"], item["store"], item["request_id"], item["state"]) == ("ra1", "sa1", "h1", "open")
            await wait_for(lambda: not robot.outbox)  # acknowledged by the service
            await ws.send_json({"type": "claim"})
            claimed = await next_of(ws, "claimed")
            assert claimed["id"] == item["id"] and claimed["robot"] == "ra1"
            await ws.send_json({"type": "resolve", "id": item["id"], "action": "labelled", "label": "cola_500"})
            assert (await next_of(ws, "resolved"))["request_id"] == "h1"
            await wait_for(lambda: bool(got))
            assert got[0].request_id == "h1" and got[0].operator == "alice" and got[0].label == "cola_500"
            status, body = await alice.get("/api/queue")
            assert status == 200 and body["handoffs"] == []
            assert [(r["id"], r["linked"]) for r in body["robots"]] == [("ra1", True)]  # not chain_b's rb1
            await robot.stop()  # its link ends: the view says so (polled: no NOTIFY for it)
            for _ in range(400):
                body = (await alice.get("/api/queue"))[1]
                if not body["robots"][0]["linked"]:
                    break
                await asyncio.sleep(0.05)
            assert body["robots"][0]["linked"] is False
            await ws.close()
        with psycopg.connect(fleet_pair.conninfo) as conn:
            await_delivered = conn.execute("SELECT delivered_at IS NOT NULL FROM handoffs").fetchone()
        await robot.stop()
        task.cancel()
        assert await_delivered == (True,) or robot.resolved  # the ack may still be on its way
        events = [e[0] for e in audit(fleet_pair.conninfo, "%")]
        for event in ("robot_connect", "handoff", "login", "connect", "claim", "resolve"):
            assert event in events, event
        assert {e[4] for e in audit(fleet_pair.conninfo, "claim")} == {"b"}

    asyncio.run(run())


def test_revoked_robot_is_cut_at_once_and_cannot_reconnect(fleet_pair: FleetPair) -> None:
    async def run() -> None:
        robot = fleet_pair.link(1, "ra1", retry_s=0.1, max_retry_s=0.2)
        task = asyncio.create_task(robot.run())
        await robot.connected.wait()
        pool = Pool(fleet_pair.conninfo, 1)
        assert await Accounts(pool, "admin").revoke_robot("ra1")
        # recheck_s is an hour: only the NOTIFY can have cut it (bench/fleet_revoke.py times it)
        await wait_for(lambda: robot.last_close is not None)
        assert robot.last_close[0] == REVOKED_CLOSE
        await wait_for(lambda: robot.refusals >= 2)  # it keeps trying; every attempt is refused
        assert robot.connects == 1
        await robot.stop()
        task.cancel()
        await pool.close()
        refused = audit(fleet_pair.conninfo, "refused:robot_auth")
        assert len(refused) >= 2 and all("robot ra1 is revoked" in r[3] for r in refused)
        assert [r[0] for r in audit(fleet_pair.conninfo, "robot_cut")] == ["robot_cut"]

    asyncio.run(run())


def test_tenant_a_cannot_list_or_claim_tenant_bs_handoffs_over_http_or_wss(fleet_pair: FleetPair) -> None:
    async def run() -> None:
        robot_b = fleet_pair.link(0, "rb1")
        task = asyncio.create_task(robot_b.run())
        robot_b.send_handoff(handoff("b1"), blocked_sales_per_h=50.0)
        await wait_for(lambda: robot_b.connects == 1 and not robot_b.outbox)
        async with aiohttp.ClientSession() as http:
            bob, alice = Operator(fleet_pair, http, 0), Operator(fleet_pair, http, 1)
            await bob.login("bob")
            await alice.login("alice")
            status, queue = await bob.get("/api/queue")
            [b1] = queue["handoffs"]
            assert (await alice.get("/api/queue"))[1]["handoffs"] == []  # HTTP: not listed
            for path, body in (("/api/claim", {"id": b1["id"]}), ("/api/release", {"id": b1["id"]}),
                               ("/api/resolve", {"id": b1["id"], "action": "cleared"}), ("/api/claim", {})):  # fmt: skip
                status, answer = await alice.post(path, body)
                assert status == 404, (path, answer)
            ws = await alice.ws()
            assert (await next_of(ws, "queue"))["handoffs"] == []  # WSS: not listed
            await ws.send_json({"type": "claim", "id": b1["id"]})
            assert (await next_of(ws, "error"))["error"] == "no open handoff with that id"
            await ws.send_json({"type": "resolve", "id": b1["id"], "action": "removed"})
            assert (await next_of(ws, "error"))["status"] == 404
            await ws.close()
            status, claimed = await bob.post("/api/claim", {})
            assert status == 200 and claimed["id"] == b1["id"]  # still open: alice's attempts did nothing
        await robot_b.stop()
        task.cancel()
        refusals = audit(fleet_pair.conninfo, "refused:%")
        alice_rows = [r for r in refusals if r[1] == "alice"]
        assert [r[0] for r in alice_rows] == ["refused:claim", "refused:release", "refused:resolve", "refused:claim",
                                              "refused:claim", "refused:resolve"]  # fmt: skip
        assert sum("belongs to tenant chain_b" in r[3] for r in alice_rows) == 5  # all but "claim the next one"

    asyncio.run(run())


def test_refusals_are_answered_without_detail_and_audited(fleet_pair: FleetPair) -> None:
    async def run() -> None:
        async with aiohttp.ClientSession() as http:
            forged = fleet_pair.credentials["ra1"][:-4] + "AAAA"
            for credential in (forged, "rb9:nope", ""):
                headers = {"Authorization": f"Bearer {credential}"}
                try:
                    await http.ws_connect(
                        fleet_pair.url(0, "/robot/ws", ws=True), headers=headers, ssl=fleet_pair.client_ssl
                    )
                    raise AssertionError("a bad credential connected")
                except aiohttp.WSServerHandshakeError as err:
                    assert err.status == 401
            mallory = Operator(fleet_pair, http, 0)
            assert (await mallory.login("alice", "wrong-password")).status == 401
            assert (await mallory.get("/api/queue"))[0] == 401
            alice = Operator(fleet_pair, http, 1)
            await alice.login("alice")
            _, body = await alice.post("/api/ticket")
            url = fleet_pair.url(0, f"/ws?ticket={body['ticket']}", ws=True)  # redeemed on the other instance
            ws = await http.ws_connect(url, ssl=fleet_pair.client_ssl)
            await next_of(ws, "queue")
            try:
                await http.ws_connect(url, ssl=fleet_pair.client_ssl)
                raise AssertionError("a spent ticket connected")
            except aiohttp.WSServerHandshakeError as err:
                assert err.status == 401
            await ws.send_str('{"type": "claim", "id": "1"}')
            assert "invalid message" in (await next_of(ws, "error"))["error"]
            assert (await alice.post("/api/logout"))[0] == 200
            assert (await alice.get("/api/queue"))[0] == 401  # replayed token
            # her WebSocket on the other instance: told, then closed (the logout's NOTIFY)
            assert (await next_of(ws, "error"))["error"] == "not logged in, or the login has expired"
            closing = await ws.receive()
            assert closing.type == aiohttp.WSMsgType.CLOSE and closing.data == 4401
        kinds = [r[0] for r in audit(fleet_pair.conninfo, "refused:%")]
        assert kinds.count("refused:robot_auth") == 3
        for kind in ("refused:login", "refused:http_auth", "refused:ws_auth", "refused:message", "refused:session"):
            assert kind in kinds, kind

    asyncio.run(run())


def test_killed_database_connections_lose_no_handoff(fleet_pair: FleetPair) -> None:
    async def run() -> None:
        robot, task, _ = await linked_robot(fleet_pair, 0, "ra1", "before", retry_s=0.1, max_retry_s=0.5)
        async with aiohttp.ClientSession() as http:
            alice = Operator(fleet_pair, http, 1)
            await alice.login("alice")
            ws = await alice.ws()
            await next_of(ws, "queue")
            with psycopg.connect(fleet_pair.conninfo, autocommit=True) as conn:
                killed = conn.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                ).fetchone()[0]
            assert killed >= 4  # both instances' pools and LISTEN connections
            robot.send_handoff(handoff("after"))
            await wait_for(lambda: not robot.outbox)  # the next statement ran on a fresh connection
            queue = await next_of(ws, "queue")  # b's listener came back and re-read
            while len(queue["handoffs"]) < 2:
                queue = await next_of(ws, "queue")
            assert sorted(h["request_id"] for h in queue["handoffs"]) == ["after", "before"]
            for _ in range(2):
                status, body = await alice.post("/api/claim", {})
                assert status == 200, body
                assert (await alice.post("/api/resolve", {"id": body["id"], "action": "cleared"}))[0] == 200
            await wait_for(lambda: len(robot.resolved) == 2)
            await ws.close()
        await robot.stop()
        task.cancel()
        assert sorted(robot.resolved) == ["after", "before"]

    asyncio.run(run())


def test_commands_reach_the_claimed_robot_across_instances_and_end_with_the_link(fleet_pair: FleetPair) -> None:
    async def run() -> None:
        robot, task, commands = await linked_robot(fleet_pair, 0, "ra1", "h1")
        pose = {"type": "pose", "seq": 1, "position": [0.1, 1.2, -0.3], "orientation": [0, 0, 0, 1], "grip": True}
        async with aiohttp.ClientSession() as http:
            alice, bob = Operator(fleet_pair, http, 1), Operator(fleet_pair, http, 1)
            await alice.login("alice")
            await bob.login("bob")
            ws, bws = await alice.ws(), await bob.ws()
            await ws.send_json({"type": "command", "robot": "ra1", "body": pose})
            assert (await next_of(ws, "error"))["error"] == "you hold no handoff of that robot"  # no claim yet
            await bws.send_json({"type": "command", "robot": "ra1", "body": pose})
            assert (await next_of(bws, "error"))["error"] == "you hold no handoff of that robot"  # another tenant
            await ws.send_json({"type": "claim"})
            await next_of(ws, "claimed")
            await ws.send_json({"type": "command", "robot": "ra1", "body": {"type": "logout"}})
            assert "not relayed" in (await next_of(ws, "error"))["error"]
            for body in ({"type": "claim"}, pose, {"type": "heartbeat", "seq": 2}, {"type": "estop", "engaged": True}):
                await ws.send_json({"type": "command", "robot": "ra1", "body": body})
            await wait_for(lambda: len(commands) == 4)  # robot on a, operator on b: through a NOTIFY
            assert [(op, b["type"]) for op, b in commands] == [
                ("alice", t) for t in ("claim", "pose", "heartbeat", "estop")
            ]
            assert commands[1][1] == pose
            await robot.send_reply("alice", {"type": "state", "control": "operator"})
            reply = await next_of(ws, "reply")
            assert reply["body"] == {"type": "state", "control": "operator", "robot": "ra1"}
            await ws.close()  # the operator's link goes: the robot is told to let go
            await wait_for(lambda: len(commands) == 5)
            assert commands[4] == ("alice", {"type": "release"})
            await bws.close()
        await robot.stop()
        task.cancel()
        await wait_for(lambda: len(audit(fleet_pair.conninfo, "commands")) == 1)
        rows = audit(fleet_pair.conninfo, "command%")
        assert [r[0] for r in rows] == ["command", "command", "commands"]  # claim, estop; the stream's counts
        assert "ra1 pose x1" in rows[-1][3] and "ra1 heartbeat x1" in rows[-1][3]
        refused = [(r[1], r[2]) for r in audit(fleet_pair.conninfo, "refused:command")]
        assert refused == [("alice", "ra1"), ("bob", "ra1")]

    asyncio.run(run())


def test_plain_http_only_on_loopback_and_robot_secrets_kept_as_digests(fleet_pair: FleetPair) -> None:
    with pytest.raises(ValueError, match="loopback only"):
        FleetService(FleetConfig(host="0.0.0.0", ssl_context=None), fleet_pair.conninfo)
    with psycopg.connect(fleet_pair.conninfo) as conn:
        stored = dict(conn.execute("SELECT id, secret_sha256 FROM robots").fetchall())
    for robot, credential in fleet_pair.credentials.items():
        secret = credential.rpartition(":")[2]
        assert secret not in stored[robot] and stored[robot] == hashlib.sha256(secret.encode()).hexdigest()


def test_an_operator_opens_at_most_four_websockets_on_an_instance(fleet_pair: FleetPair) -> None:
    async def run() -> None:
        async with aiohttp.ClientSession() as http:
            alice = Operator(fleet_pair, http, 0)
            await alice.login("alice")
            open_ = [await alice.ws() for _ in range(4)]
            try:
                await alice.ws()
                raise AssertionError("a fifth WebSocket opened")
            except aiohttp.WSServerHandshakeError as err:
                assert err.status == 429
            for ws in open_:
                await ws.close()
        assert [r[0] for r in audit(fleet_pair.conninfo, "refused:ws_count")] == ["refused:ws_count"]

    asyncio.run(run())


def test_a_killed_instance_costs_a_robot_one_reconnect_and_loses_no_handoff(fleet_pair: FleetPair) -> None:
    async def run() -> None:
        urls = [fleet_pair.url(i, "/robot/ws", ws=True) for i in (0, 1)]
        robot = RobotLink(urls, fleet_pair.credentials["ra1"], fleet_pair.client_ssl, retry_s=0.1, max_retry_s=0.3)
        task = asyncio.create_task(robot.run())
        robot.send_handoff(handoff("before"))
        await wait_for(lambda: robot.connected_to == urls[0] and not robot.outbox)
        await asyncio.to_thread(fleet_pair.services[0].stop)  # instance a goes (its links are closed)
        robot.send_handoff(handoff("during"))
        await wait_for(lambda: robot.connected_to == urls[1] and not robot.outbox)
        async with aiohttp.ClientSession() as http:
            alice = Operator(fleet_pair, http, 1)
            await alice.login("alice")
            for _ in range(2):
                status, body = await alice.post("/api/claim", {})
                assert status == 200, body
                await alice.post("/api/resolve", {"id": body["id"], "action": "cleared"})
        await wait_for(lambda: len(robot.resolved) == 2)
        assert sorted(robot.resolved) == ["before", "during"] and robot.connects == 2
        await robot.stop()
        task.cancel()
        with psycopg.connect(fleet_pair.conninfo) as conn:
            assert conn.execute("SELECT count(*), count(delivered_at) FROM handoffs").fetchone()[0] == 2

    asyncio.run(run())


def test_camera_frames_reach_the_watching_claimant_on_the_robots_instance_only(fleet_pair: FleetPair) -> None:
    async def run() -> None:
        robot, task, commands = await linked_robot(fleet_pair, 0, "ra1", "h1")
        async with aiohttp.ClientSession() as http:
            alice, carol = Operator(fleet_pair, http, 1), Operator(fleet_pair, http, 0)
            await alice.login("alice")
            await carol.login("carol")
            status, claimed = await alice.post("/api/claim", {})  # on instance b
            assert status == 200 and claimed["robot_url"] == f"https://{fleet_pair.hosts[0]}"
            stream = Operator(fleet_pair, http, 0)  # her stream opens where the robot is linked
            stream.token = alice.token
            ws, cws = await stream.ws(), await carol.ws()
            watch = {"type": "watch", "camera_id": "cam_left"}
            await ws.send_json({"type": "command", "robot": "ra1", "body": watch})
            await cws.send_json({"type": "command", "robot": "ra1", "body": watch})
            assert (await next_of(cws, "error"))["error"] == "you hold no handoff of that robot"
            await wait_for(lambda: ("alice", watch) in commands)
            frames = []
            for n in range(5):
                sent = pack_frame(0, n, FrameStamps(time.time(), time.time(), time.time()), b"\xff\xd8jpeg\xff\xd9")
                while not await robot.send_frame(sent):
                    await asyncio.sleep(0.01)
                msg = await ws.receive()
                while msg.type == aiohttp.WSMsgType.TEXT:  # queue pushes come on the same link
                    msg = await ws.receive()
                assert msg.type == aiohttp.WSMsgType.BINARY
                frames.append(unpack_frame(msg.data)[1])
            assert frames == [0, 1, 2, 3, 4]
            links = {k.actor.operator: k for k in fleet_pair.services[0].links.values() if k.actor is not None}
            await wait_for(lambda: links["alice"].frames == 5)  # counted once written
            assert links["carol"].frames == 0 and links["carol"].frames_dropped == 0  # never a candidate
            await robot._ws.send_bytes(b"not a frame")  # type: ignore[union-attr]
            await wait_for(lambda: bool(audit(fleet_pair.conninfo, "refused:message")))
            await ws.close()
            await cws.close()
        await robot.stop()
        task.cancel()
        assert "not a camera frame" in audit(fleet_pair.conninfo, "refused:message")[0][3]

    asyncio.run(run())


def test_a_robot_sending_garbage_is_refused_then_cut(fleet_pair: FleetPair) -> None:
    async def run() -> None:
        async with aiohttp.ClientSession() as http:
            headers = {"Authorization": f"Bearer {fleet_pair.credentials['rb1']}"}
            ws = await http.ws_connect(fleet_pair.url(0, "/robot/ws", ws=True), headers=headers,
                                       ssl=fleet_pair.client_ssl)  # fmt: skip
            junk = ["not json", "[" * 100 + "]" * 100, '{"type": "handoff", "request": {"record": "nope"}}',
                    '{"type": "status", "status": 1}', '{"type": "reply", "operator": "../x", "body": {}}']  # fmt: skip
            errors = []
            for i in range(25):
                await ws.send_str(junk[i % len(junk)])
            while True:
                msg = await ws.receive()
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                errors.append(json.loads(msg.data)["error"])
            assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == aiohttp.WSCloseCode.POLICY_VIOLATION
            assert len(errors) == 21 and "not JSON" in errors[0] and "nested deeper" in errors[1]
        rows = audit(fleet_pair.conninfo, "refused:message")
        assert len(rows) == 20 and {r[2] for r in rows} == {"rb1"}  # the audit budget: 20 a kind per address

    asyncio.run(run())


def test_a_disabled_operator_is_logged_out_everywhere_and_cannot_log_in(fleet_pair: FleetPair) -> None:
    async def run() -> None:
        async with aiohttp.ClientSession() as http:
            alice = Operator(fleet_pair, http, 0)
            await alice.login("alice")
            ws = await alice.ws()
            await next_of(ws, "queue")
            pool = Pool(fleet_pair.conninfo, 1)
            assert await Accounts(pool, "admin").disable_operator("alice")
            await pool.close()
            closing = await ws.receive()
            while closing.type == aiohttp.WSMsgType.TEXT:
                closing = await ws.receive()
            assert closing.type == aiohttp.WSMsgType.CLOSE and closing.data == 4401
            assert (await alice.get("/api/queue"))[0] == 401
            for i in (0, 1):  # both instances re-read their operator list on its NOTIFY
                await wait_for(lambda i=i: "alice" not in fleet_pair.services[i].tenants)
                assert (await Operator(fleet_pair, http, i).login("alice")).status == 401
        rows = audit(fleet_pair.conninfo, "operator_disabled")
        assert [(r[1], r[3]) for r in rows] == [("admin", "alice")]

    asyncio.run(run())


def test_a_command_to_a_robot_linked_here_goes_as_it_came_with_the_relays_times(fleet_pair: FleetPair) -> None:
    async def run() -> None:
        stamps: list[tuple] = []
        commands: list[tuple[str, dict]] = []

        def on_command(operator: str, body: dict) -> None:
            commands.append((operator, body))
            stamps.append(robot.command_stamps)

        robot, task, _ = await linked_robot(fleet_pair, 0, "ra1", "h1", on_command=on_command)
        pose = {"type": "pose", "seq": 7, "position": [0.1, 1.2, -0.3], "orientation": [0, 0, 0, 1], "grip": True}
        async with aiohttp.ClientSession() as http:
            alice = Operator(fleet_pair, http, 0)  # the robot's own instance: no NOTIFY
            await alice.login("alice")
            ws = await alice.ws()
            await ws.send_json({"type": "claim"})
            await next_of(ws, "claimed")
            before = time.time()
            await ws.send_str(json.dumps({"type": "command", "robot": "ra1", "body": pose}, indent=1))
            await ws.send_json({"type": "command", "robot": "ra1", "body": {"type": "estop", "engaged": True}})
            await wait_for(lambda: len(commands) == 2)
            assert commands == [("alice", pose), ("alice", {"type": "estop", "engaged": True})]
            service_in, service_out, link_in = stamps[0]
            assert before <= service_in <= service_out <= link_in <= time.time()
            # The e-stop's audit row is written beside the command, and lands.
            await wait_for(lambda: [r[3] for r in audit(fleet_pair.conninfo, "command")] == ["estop (handoff 1)"])
            await ws.close()
        await robot.stop()
        task.cancel()

    asyncio.run(run())


def test_a_page_that_says_when_it_took_a_frame_has_two_in_flight_and_then_the_newest(
    fleet_pair: FleetPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(relay, "ACK_TIMEOUT_S", 600.0)  # a loaded machine's pauses are not lost acks here

    async def run() -> None:
        robot, task, commands = await linked_robot(fleet_pair, 0, "ra1", "h1")
        async with aiohttp.ClientSession() as http:
            alice = Operator(fleet_pair, http, 0)
            await alice.login("alice")
            ws = await alice.ws()
            await ws.send_json({"type": "claim"})
            await next_of(ws, "claimed")
            watch = {"type": "watch", "camera_id": "cam_left"}
            await ws.send_json({"type": "command", "robot": "ra1", "body": watch})
            await wait_for(lambda: ("alice", watch) in commands)
            [link] = [k for k in fleet_pair.services[0].links.values() if k.actor is not None]

            async def frame(n: int) -> None:
                data = pack_frame(0, n, FrameStamps(time.time(), time.time(), time.time()), b"\xff\xd8jpeg\xff\xd9")
                while not await robot.send_frame(data):
                    await asyncio.sleep(0.01)

            async def next_frame() -> int:
                msg = await ws.receive()
                while msg.type == aiohttp.WSMsgType.TEXT:
                    msg = await ws.receive()
                return unpack_frame(msg.data)[1]

            await frame(0)
            assert await next_frame() == 0
            await ws.send_json({"type": "frame_shown", "capture": 1.0, "shown": 2.0})  # now paced
            await wait_for(lambda: link.frames_paced)
            for n in (1, 2, 3, 4):  # 1 and 2 go; 3 waits and is replaced by 4
                await frame(n)
                await wait_for(lambda n=n: link.pending_frame is not None or link.frames == n + 1)
            assert [await next_frame(), await next_frame()] == [1, 2]
            await wait_for(lambda: link.frames_dropped == 1)
            assert link.frames == 3 and link.frames_in_flight == 2
            await ws.send_json({"type": "frame_shown", "capture": 1.0, "shown": 2.0})
            assert await next_frame() == 4  # the newest, once the page took one
            await ws.close()
        await robot.stop()
        task.cancel()

    asyncio.run(run())
