"""The robot's fleet link when things break, end to end with the teleop bridge node as a real process
on real DDS (issue 19's acceptance):

- the fleet service process is SIGKILLed under a linked robot and another is started on the same
  port: the robot relinks, the handoff claimed before the kill is still claimed (the queue comes back
  from PostgreSQL), one raised while it was down arrives once; then every database connection of the
  service is killed (pg_terminate_backend): the service reconnects and both handoffs are resolved
  and delivered, each once;
- the robot is cut off from the fleet (its network gone, the fleet up) while 10 sim-minutes pass on
  its /clock: it keeps its handoffs, an operator resolves the earlier one meanwhile, and when the link
  is back the robot resyncs: the handoffs raised offline arrive once (with their offline wait), the
  resolution made meanwhile comes out on handoff/resolutions once, stamped on the robot's clock.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import psycopg
import pytest
from fleet_helpers import CuttableProxy, FleetPair, Operator, fleet_bridge_params, fleet_rows, handoff
from rosgraph_msgs.msg import Clock

from restock.paths import SOURCE_ROOT

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "teleop"))
from teleop_ros import RosSide, wait  # the test's side of the ROS graph

pytestmark = [pytest.mark.graph, pytest.mark.filterwarnings("ignore::DeprecationWarning")]
IN_FLEET = "SELECT request_id FROM handoffs WHERE robot_id='ra1' ORDER BY id"
DELIVERED = "SELECT request_id FROM handoffs WHERE robot_id='ra1' AND delivered_at IS NOT NULL ORDER BY id"
LINKED = "SELECT instance_url IS NOT NULL FROM robots WHERE id='ra1'"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(conninfo: str, port: int, tls: tuple[Path, Path], log: Path) -> subprocess.Popen:
    cert, key = tls
    args = [sys.executable, "-m", "restock.cli", "fleet", "serve", "--db", conninfo, "--port", str(port),
            "--instance", f"killable-{port}", "--tls-cert", str(cert), "--tls-key", str(key)]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(SOURCE_ROOT)}
    return subprocess.Popen(args, stdout=log.open("a"), stderr=subprocess.STDOUT, env=env)


def _raised(conninfo: str, rid: str) -> bool:
    return (rid,) in fleet_rows(conninfo, IN_FLEET)


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_killed_service_and_killed_database_connections_lose_no_handoff(
    ros_graph, ros_node, tmp_path: Path, fleet_pair: FleetPair, fleet_tls: tuple[Path, Path]
) -> None:
    conninfo = fleet_pair.conninfo
    port = _free_port()
    log = tmp_path / "fleet_serve.log"
    proc = _serve(conninfo, port, fleet_tls, log)
    procs = [proc]
    pair = FleetPair(conninfo, fleet_pair.services, [f"127.0.0.1:{port}"], fleet_pair.client_ssl,
                     fleet_pair.credentials)  # fmt: skip
    params = fleet_bridge_params(tmp_path, pair, fleet_tls[0])  # the killable instance only
    try:
        wait(lambda: _listening(port), 60, "the fleet service process listening")
        ros_graph(only=["teleop_bridge"], params=params)
        ros = RosSide(ros_node)
        wait(lambda: _raised(conninfo, "k-1"), 60, "k-1 in the fleet", lambda: ros.raise_handoff(handoff("k-1")))

        async def claim_first() -> int:
            async with aiohttp.ClientSession() as http:
                alice = Operator(pair, http, 0)
                await alice.login("alice")
                status, body = await alice.post("/api/claim", {"id": None})
                assert status == 200 and body["request_id"] == "k-1", body
                return int(body["id"])

        k1 = asyncio.run(claim_first())
        proc.send_signal(signal.SIGKILL)  # no goodbye to anyone: the robot's link just breaks
        proc.wait(30)
        wait(lambda: not _listening(port), 30, "the killed service's port closed")
        ros.raise_handoff(handoff("k-2", kind="obstruction"))  # raised while the fleet is gone: queued
        wait(lambda: any(r.request_id == "k-2" for r in ros.requests), 30, "k-2 on DDS")
        proc = _serve(conninfo, port, fleet_tls, log)  # a new service on the same port
        procs.append(proc)
        wait(lambda: _raised(conninfo, "k-2"), 90, "k-2 in the fleet after the robot relinked")
        claimed = "SELECT state, claimed_by FROM handoffs WHERE request_id='k-1'"
        assert fleet_rows(conninfo, claimed) == [("claimed", "alice")]  # the queue came back from PostgreSQL
        with psycopg.connect(conninfo, autocommit=True) as conn:  # every connection of the service killed
            killed = conn.execute(
                "SELECT count(pg_terminate_backend(pid)), now() FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchone()
        assert killed is not None and killed[0] >= 1
        # The service writes again: the robot's status (every second) lands after the kill.
        seen = "SELECT last_seen > %s FROM robots WHERE id='ra1'"
        with psycopg.connect(conninfo, autocommit=True) as conn:
            wait(lambda: conn.execute(seen, (killed[1],)).fetchone() == (True,), 60, "the service writing again")

        async def resolve_both() -> None:
            async with aiohttp.ClientSession() as http:
                alice = Operator(pair, http, 0)
                assert (await alice.login("alice")).status == 200
                status, body = await alice.post("/api/resolve", {"id": k1, "action": "removed"})
                assert status == 200, body
                status, body = await alice.post("/api/claim", {"id": None})
                assert status == 200 and body["request_id"] == "k-2", body
                status, body = await alice.post("/api/resolve", {"id": body["id"], "action": "cleared"})
                assert status == 200, body

        asyncio.run(resolve_both())
        wait(lambda: len(fleet_rows(conninfo, DELIVERED)) == 2, 60, "both resolutions delivered to the robot")
        wait(lambda: len(ros.resolutions) >= 2, 30, "both resolutions on DDS")
        assert fleet_rows(conninfo, IN_FLEET) == [("k-1",), ("k-2",)]
        assert sorted((r.request_id, r.action) for r in ros.resolutions) == [("k-1", "removed"), ("k-2", "cleared")]
        ros.close()
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                p.wait(30)


def test_robot_offline_for_ten_sim_minutes_resyncs_without_duplicates(
    ros_graph, ros_node, tmp_path: Path, fleet_pair: FleetPair, fleet_tls: tuple[Path, Path]
) -> None:
    conninfo = fleet_pair.conninfo
    proxy = CuttableProxy(int(fleet_pair.hosts[0].split(":")[1]))
    pair = FleetPair(conninfo, fleet_pair.services, [f"127.0.0.1:{proxy.port}"], fleet_pair.client_ssl,
                     fleet_pair.credentials)  # fmt: skip
    params = fleet_bridge_params(tmp_path, pair, fleet_tls[0])  # through the store's network only
    clock_pub = ros_node.create_publisher(Clock, "/clock", 10)
    sim_t = [36_000.0]

    def tick(dt: float = 0.0) -> None:
        sim_t[0] += dt
        msg = Clock()
        msg.clock.sec, msg.clock.nanosec = int(sim_t[0]), int((sim_t[0] % 1) * 1e9)
        clock_pub.publish(msg)

    try:
        ros_graph(only=["teleop_bridge"], params=params)
        ros = RosSide(ros_node)
        first = handoff("o-1").model_copy(update={"stamp": sim_t[0]})
        wait(lambda: _raised(conninfo, "o-1"), 60, "o-1 in the fleet", lambda: (tick(), ros.raise_handoff(first)))
        wait(lambda: fleet_rows(conninfo, LINKED) == [(True,)], 30, "the robot linked")
        proxy.cut()
        wait(lambda: fleet_rows(conninfo, LINKED) == [(False,)], 60, "the fleet seeing the robot gone")
        offline_from = sim_t[0]
        for minute in range(1, 11):  # 10 sim-minutes offline; the robot raises handoffs meanwhile
            tick(60.0)
            if minute in (2, 8):
                rid = f"o-{2 if minute == 2 else 3}"
                ros.raise_handoff(handoff(rid, kind="obstruction").model_copy(update={"stamp": sim_t[0]}))
                wait(lambda rid=rid: any(r.request_id == rid for r in ros.requests), 30, f"{rid} on DDS")
            ros.raise_handoff(first)  # a repeat: still one
        assert fleet_rows(conninfo, IN_FLEET) == [("o-1",)]  # nothing got through while offline

        async def resolve(rid: str, action: str) -> None:
            async with aiohttp.ClientSession() as http:
                alice = Operator(fleet_pair, http, 1)  # an instance the robot was never linked to
                await alice.login("alice")
                queue = (await alice.get("/api/queue"))[1]["handoffs"]
                key = next(h["id"] for h in queue if h["request_id"] == rid)
                status, body = await alice.post("/api/claim", {"id": key})
                assert status == 200, body
                status, body = await alice.post("/api/resolve", {"id": key, "action": action})
                assert status == 200, body

        asyncio.run(resolve("o-1", "removed"))  # while the robot is offline: kept for it in PostgreSQL
        assert ros.resolutions == []
        proxy.restore()
        wait(lambda: _raised(conninfo, "o-3"), 90, "the offline handoffs after the resync", tick)
        wait(lambda: [r.request_id for r in ros.resolutions] == ["o-1"], 30, "o-1's resolution on DDS")
        asyncio.run(resolve("o-2", "cleared"))
        asyncio.run(resolve("o-3", "cleared"))
        wait(lambda: len(fleet_rows(conninfo, DELIVERED)) == 3, 60, "all three delivered", tick)
        wait(lambda: len(ros.resolutions) >= 3, 30, "three resolutions on DDS")
        assert fleet_rows(conninfo, IN_FLEET) == [("o-1",), ("o-2",), ("o-3",)]
        assert sorted(r.request_id for r in ros.resolutions) == ["o-1", "o-2", "o-3"]  # each once
        assert ros.resolutions[0].stamp >= offline_from + 600.0  # acted on at the robot's clock, after
        # The offline wait travelled with each: raised in the fleet before the robot came back.
        waited = fleet_rows(
            conninfo,
            "SELECT h.request_id FROM handoffs h WHERE h.request_id IN ('o-2', 'o-3') AND h.raised_at <"
            " (SELECT max(t) FROM audit WHERE event = 'robot_connect' AND robot_id = 'ra1') ORDER BY h.id",
        )
        assert waited == [("o-2",), ("o-3",)]
        ros.close()
    finally:
        proxy.close()
