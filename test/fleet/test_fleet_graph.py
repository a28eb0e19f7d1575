"""The teleop bridge node as a real process on real DDS, linked out to two fleet service instances on
PostgreSQL: a handoff raised on handoff/requests (with its crop) reaches the fleet's queue; an operator
on the other instance claims it and drives the arm through the bridge's own rules (PoseStamped
targets on the robot's topic); the instance the robot is linked to is stopped under it: the lease
taken through the link ends (teleop/status back to autonomy), the robot links to the other instance,
a handoff raised meanwhile arrives once, and the fleet's resolutions come out on handoff/resolutions
once each."""

from __future__ import annotations

import asyncio
import base64
import sys
from pathlib import Path

import aiohttp
import numpy as np
import pytest
from fleet_helpers import FleetPair, Operator, fleet_bridge_params, fleet_rows, handoff, next_of

from restock.convert import encode_jpeg

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "teleop"))
from teleop_ros import RosSide, wait  # the test's side of the ROS graph

pytestmark = [pytest.mark.graph, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def test_bridge_node_links_out_survives_a_lost_instance_and_delivers_each_resolution_once(
    ros_graph, ros_node, tmp_path: Path, fleet_pair: FleetPair, fleet_tls: tuple[Path, Path]
) -> None:
    ros_graph(only=["teleop_bridge"], params=fleet_bridge_params(tmp_path, fleet_pair, fleet_tls[0]))
    ros = RosSide(ros_node)
    crop = base64.b64encode(encode_jpeg(np.full((64, 48, 3), 30, np.uint8))).decode()
    first = handoff("g-1", lane="r0_l01").model_copy(update={"image_jpeg_b64": crop})
    later = handoff("g-2", lane="r0_l02", kind="obstruction")
    in_fleet = "SELECT request_id FROM handoffs WHERE robot_id='ra1' ORDER BY id"

    def raised(rid: str) -> bool:
        return any(r == (rid,) for r in fleet_rows(fleet_pair.conninfo, in_fleet))

    # Until DDS discovery has carried it to the bridge and the bridge's link to the fleet (repeats: one row).
    wait(lambda: raised("g-1"), 60, "g-1 in the fleet's queue", every=lambda: ros.raise_handoff(first))

    async def operator() -> None:
        async with aiohttp.ClientSession() as http:
            alice = Operator(fleet_pair, http, 1)
            await alice.login("alice")
            ws = await alice.ws()
            await ws.send_json({"type": "claim"})
            claimed = await next_of(ws, "claimed")
            assert claimed["request_id"] == "g-1"

            async def command(body: dict) -> None:
                await ws.send_json({"type": "command", "robot": "ra1", "body": body})

            await command({"type": "claim", "request_id": "g-1"})
            await asyncio.to_thread(wait, lambda: any(s.operator == "alice" for s in ros.statuses), 30, "alice's lease")
            for seq in range(1, 30):
                await command({"type": "heartbeat", "seq": seq})
                await command({"type": "pose", "seq": seq, "position": [0.0, 1.2 + 0.002 * seq, -0.3],
                               "orientation": [0, 0, 0, 1], "grip": True})  # fmt: skip
                if len(ros.targets) >= 5:
                    break
                await asyncio.sleep(0.05)
            await asyncio.to_thread(wait, lambda: len(ros.targets) >= 5, 30, "5 targets from alice's poses")
            await asyncio.to_thread(fleet_pair.services[0].stop)  # the robot's instance goes under it
            await asyncio.to_thread(
                wait, lambda: ros.statuses[-1].control == "autonomy", 30, "the lease gone with the link"
            )
            moved = len(ros.targets)
            alice_b = Operator(fleet_pair, http, 1)
            await alice_b.login("alice")
            ws = await alice_b.ws()
            await asyncio.to_thread(
                wait, lambda: raised("g-2"), 60, "g-2 through the other instance", lambda: ros.raise_handoff(later)
            )
            status, body = await alice_b.post("/api/resolve", {"id": claimed["id"], "action": "removed"})
            assert status == 200, body
            status, body = await alice_b.post("/api/claim", {"id": None})
            assert status == 200 and body["request_id"] == "g-2", body
            status, body = await alice_b.post("/api/resolve", {"id": body["id"], "action": "cleared"})
            assert status == 200, body
            await asyncio.to_thread(wait, lambda: len(ros.resolutions) >= 2, 60, "both resolutions on DDS")
            await ws.close()
            assert len(ros.targets) == moved  # nothing moved the arm after the link went

    try:
        asyncio.run(operator())
        rows = fleet_rows(fleet_pair.conninfo, in_fleet)
        assert rows == [("g-1",), ("g-2",)]  # every repeat and resend kept once
        delivered = "SELECT request_id FROM handoffs WHERE delivered_at IS NOT NULL ORDER BY id"
        wait(lambda: len(fleet_rows(fleet_pair.conninfo, delivered)) == 2, 30, "both acknowledged by the robot")
        got = sorted((r.request_id, r.action, r.operator) for r in ros.resolutions)
        assert got == [("g-1", "removed", "alice"), ("g-2", "cleared", "alice")]
        has_crop = "SELECT request->>'image_jpeg_b64' IS NOT NULL FROM handoffs WHERE request_id='g-1'"
        assert fleet_rows(fleet_pair.conninfo, has_crop) == [(True,)]
        status = "SELECT status->>'robot', status->>'queue' FROM robots WHERE id='ra1'"
        wait(lambda: fleet_rows(fleet_pair.conninfo, status) == [("ra1", "0")], 30, "the robot's status, queue empty")
    finally:
        ros.close()
