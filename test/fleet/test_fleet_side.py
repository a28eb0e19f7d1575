"""The bridge's fleet side (restock.teleop.fleet_side) between a real operator server (TLS, its own
loop and rules) and two fleet service instances on PostgreSQL: a handoff raised at the bridge reaches
the fleet's queue; an operator on the other instance claims it, takes the bridge's lease through
relayed commands, moves the arm (targets on the robot's port), watches a camera (frames through the
service), and resolves it in the fleet's queue: the bridge publishes the resolution once. When the
robot's link goes, the lease taken through it goes too and no target follows."""

from __future__ import annotations

import asyncio
import ssl
import time
from pathlib import Path

import aiohttp
import numpy as np
from fleet_helpers import FleetPair, Operator, fleet_rows, handoff, linked_bridge, next_of, open_in_fleet, wait_for
from teleop_client import connect, login, next_json, write_operators

from restock import records
from restock.teleop.auth import OperatorBook
from restock.teleop.fleet_side import SalesRate, read_credential
from restock.teleop.protocol import unpack_frame


def test_fleet_operator_works_through_the_bridge_rules_and_the_lost_link_ends_the_lease(
    fleet_pair: FleetPair, tmp_path: Path
) -> None:
    server, port, side = linked_bridge(tmp_path, fleet_pair, handoff("fs-1", lane="r0_l01"), 3.0)

    async def operator() -> None:
        async with aiohttp.ClientSession() as http:
            alice = Operator(fleet_pair, http, 1)  # on the other instance: commands relayed by NOTIFY
            assert (await alice.login("alice")).status == 200
            ws = await alice.ws()
            await wait_for(lambda: side.connected and open_in_fleet(fleet_pair, "fs-1"))  # the fleet has it
            await ws.send_json({"type": "claim"})
            claimed = await next_of(ws, "claimed")
            assert (claimed["robot"], claimed["request_id"]) == ("ra1", "fs-1")

            async def command(body: dict) -> None:
                await ws.send_json({"type": "command", "robot": "ra1", "body": body})

            await command({"type": "claim", "request_id": "fs-1"})
            await wait_for(lambda: server.rules.holder_name() == "alice")
            state = await next_of(ws, "reply")  # the bridge's compact state, relayed back
            assert state["body"]["lease"]["operator"] == "alice" and state["body"]["robot"] == "ra1"
            for seq in range(1, 8):
                await command({"type": "heartbeat", "seq": seq})
                await command({"type": "pose", "seq": seq, "position": [0.0, 1.2 + 0.01 * seq, -0.3],
                               "orientation": [0, 0, 0, 1], "grip": True})  # fmt: skip
            await wait_for(lambda: len(port.targets) >= 5)
            await ws.close()  # the service tells the robot: the lease ends
            await wait_for(lambda: server.rules.holder_name() is None)
            assert port.statuses[-1].control == "autonomy"

            ws = await alice.ws()  # back, still holding the fleet's claim: the robot again, then resolve there
            await ws.send_json({"type": "command", "robot": "ra1", "body": {"type": "claim", "request_id": "fs-1"}})
            await wait_for(lambda: server.rules.holder_name() == "alice")
            status, body = await alice.post("/api/resolve", {"id": claimed["id"], "action": "cleared"})
            assert status == 200, body
            await wait_for(lambda: len(port.resolutions) == 1 and len(server.rules.queue) == 0)
            await wait_for(lambda: server.rules.holder_name() is None)  # the lease ends with the fleet's claim
            await ws.close()

    try:
        asyncio.run(operator())
        (res,) = port.resolutions
        assert (res.request_id, res.action, res.operator) == ("fs-1", "cleared", "alice")
        assert side.counts["resolutions"] == 1
    finally:
        side.stop()
        server.stop()
        server.audit.close()


def test_camera_frames_reach_a_fleet_viewer_and_the_link_going_drops_the_lease(
    fleet_pair: FleetPair, tmp_path: Path
) -> None:
    server, port, side = linked_bridge(tmp_path, fleet_pair, handoff("fs-2", lane="r0_l02"), 0.0)
    camera = server.rules.camera_ids[0]
    pixels = np.full((48, 64, 3), 90, np.uint8)

    async def operator() -> None:
        async with aiohttp.ClientSession() as http:
            alice = Operator(fleet_pair, http, 0)  # the robot's instance: frames are relayed there
            await alice.login("alice")
            ws = await alice.ws()
            await wait_for(lambda: side.connected and open_in_fleet(fleet_pair, "fs-2"))  # the fleet has it
            await ws.send_json({"type": "claim"})
            await next_of(ws, "claimed")
            await ws.send_json({"type": "command", "robot": "ra1", "body": {"type": "watch", "camera_id": camera}})
            await wait_for(lambda: server.wants_frames(camera))
            got: list[int] = []
            async with asyncio.timeout(30):
                while len(got) < 3:
                    server.submit_frame(camera, pixels, time.time())
                    try:
                        msg = await ws.receive(timeout=0.2)
                    except asyncio.TimeoutError:
                        continue
                    if msg.type == aiohttp.WSMsgType.BINARY:
                        index, _, stamps, jpeg = unpack_frame(msg.data)
                        assert index == 0 and jpeg[:2] == b"\xff\xd8" and stamps.sent >= stamps.capture
                        got.append(index)
            for body in ({"type": "claim", "request_id": "fs-2"}, {"type": "heartbeat", "seq": 1}):
                await ws.send_json({"type": "command", "robot": "ra1", "body": body})
            await wait_for(lambda: server.rules.holder_name() == "alice")
            await asyncio.to_thread(fleet_pair.services[0].stop)  # the robot's instance goes: its link too
            await wait_for(lambda: server.rules.holder_name() is None and not server.wants_frames(camera))
            assert side.counts["links_lost"] >= 1 and port.statuses[-1].control == "autonomy"

    try:
        asyncio.run(operator())
    finally:
        side.stop()
        server.stop()
        server.audit.close()


def test_sales_rate_prices_a_blocked_lane_and_credentials_are_checked(tmp_path: Path) -> None:
    rate = SalesRate({"cola_500": 2, "water": 1})
    for minute in range(0, 120, 10):  # 12 sales of 2 over two hours: the last hour's are counted
        rate.add(records.SaleEvent(stamp=1000.0 + 60 * minute, sku="cola_500", quantity=2))
    assert rate.blocked_per_h("cola_500") == 7 * 2 / 2  # minutes 50..110: 7 sales of 2, over 2 lanes
    assert rate.blocked_per_h("water") == 0.0 and rate.blocked_per_h(None) == 0.0
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.write_text("ra1:s3cret\n")
    bad.write_text("no secret here\n")
    assert read_credential(good) == "ra1:s3cret"
    try:
        read_credential(bad)
    except ValueError as err:
        assert "ROBOT:SECRET" in str(err)
    else:
        raise AssertionError("a malformed credential file was read")


def test_a_handoff_resolved_at_the_bridge_leaves_the_fleets_queue_and_ends_the_claim_there(
    fleet_pair: FleetPair, fleet_tls: tuple[Path, Path], tmp_path: Path
) -> None:
    book = OperatorBook.load(write_operators(tmp_path / "operators.yaml"))  # bob works at the store's own bridge
    server, port, side = linked_bridge(tmp_path, fleet_pair, handoff("w-1", lane="r0_l01"), 1.0, book, fleet_tls)
    base = f"https://127.0.0.1:{server.bound_port}"
    local = ssl.create_default_context(cafile=str(fleet_tls[0]))

    async def run() -> None:
        async with aiohttp.ClientSession() as http:
            carol = Operator(fleet_pair, http, 1)  # the fleet's operator claims it first
            await carol.login("carol")
            await wait_for(lambda: side.connected and open_in_fleet(fleet_pair, "w-1"))  # the fleet has it
            fleet_ws = await carol.ws()
            await fleet_ws.send_json({"type": "claim"})
            assert (await next_of(fleet_ws, "claimed"))["request_id"] == "w-1"
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=local)) as http:
            ws = await connect(http, base, await login(http, base, "bob"))
            await ws.send_json({"type": "claim", "request_id": "w-1"})
            await ws.send_json({"type": "resolve", "request_id": "w-1", "action": "cleared"})
            assert (await next_json(ws, "ack"))["request_id"] == "w-1"
            await ws.close()
        state = "SELECT state, delivered_at IS NOT NULL, resolution->>'operator' FROM handoffs WHERE request_id='w-1'"
        await wait_for(lambda: fleet_rows(fleet_pair.conninfo, state) == [("resolved", True, "bob")])
        ended = "SELECT outcome FROM claims c JOIN handoffs h ON h.id = c.handoff_id WHERE h.request_id='w-1'"
        assert fleet_rows(fleet_pair.conninfo, ended) == [("resolved at the robot",)]
        await wait_for(lambda: side.uplink.link is not None and not side.uplink.link.withdrawals)  # acknowledged
        async with aiohttp.ClientSession() as http:
            carol = Operator(fleet_pair, http, 1)
            await carol.login("carol")
            status, view = await carol.get("/api/queue")
            assert status == 200 and view["handoffs"] == []  # nothing left to wait on in the fleet

    try:
        asyncio.run(run())
        assert [(r.request_id, r.operator) for r in port.resolutions] == [("w-1", "bob")]  # once: the local one
        assert side.counts["withdrawn"] == 1 and side.counts["resolutions"] == 0
        audit = "SELECT detail FROM audit WHERE event='withdraw'"
        assert "w-1" in fleet_rows(fleet_pair.conninfo, audit)[0][0]
    finally:
        side.stop()
        server.stop()
        server.audit.close()


def test_a_heartbeat_from_an_operator_not_driving_is_answered_with_the_robots_state(
    fleet_pair: FleetPair, tmp_path: Path
) -> None:
    """A console opening the robot (its camera list) gets the state even when nothing changed."""
    server, _port, side = linked_bridge(tmp_path, fleet_pair, handoff("fs-2", lane="r0_l01"), 3.0)

    async def operator() -> None:
        async with aiohttp.ClientSession() as http:
            alice = Operator(fleet_pair, http, 0)
            assert (await alice.login("alice")).status == 200
            first = await alice.ws()
            await wait_for(lambda: side.connected and open_in_fleet(fleet_pair, "fs-2"))  # the fleet has it
            await first.send_json({"type": "claim"})
            await next_of(first, "claimed")
            for ws in (first, await alice.ws()):  # the same operator's second console: the same state again
                await ws.send_json({"type": "command", "robot": "ra1", "body": {"type": "heartbeat"}})
                reply = await next_of(ws, "reply")
                assert reply["body"]["cameras"] == server.rules.camera_ids and reply["body"]["robot"] == "ra1"
                await ws.close()

    try:
        asyncio.run(operator())
    finally:
        side.stop()
        server.stop()
        server.audit.close()
