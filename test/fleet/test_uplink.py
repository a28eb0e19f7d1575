"""The robot's uplink from a plain thread (as a node's executor would call it): handoffs queued while
the fleet is unreachable reach it when it comes up, once; the resolution comes back once."""

from __future__ import annotations

import asyncio
import queue
import ssl
import time

import psycopg
from fleet_helpers import FleetPair, handoff

from restock import records
from restock.fleet.db import Pool
from restock.fleet.service import FleetConfig, FleetService
from restock.fleet.store import Actor, FleetStore
from restock.fleet.uplink import FleetUplink
from restock.teleop.tls import server_context


def rows_when(conninfo: str, sql: str, done, tries: int = 600) -> list[tuple]:  # type: ignore[no-untyped-def]
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for _ in range(tries):
            rows = conn.execute(sql).fetchall()
            if done(rows):
                return rows
            time.sleep(0.05)
    raise AssertionError(f"never: {sql} -> {rows}")


def test_uplink_queues_offline_resyncs_and_gets_resolutions(fleet_pair: FleetPair, fleet_tls: tuple) -> None:
    cert, key = fleet_tls

    def service(port: int) -> FleetService:
        config = FleetConfig(port=port, ssl_context=server_context(cert, key), instance="late", recheck_s=3600.0)
        return FleetService(config, fleet_pair.conninfo)

    late = service(0)  # a port of its own, then down: the fleet is out of reach when the robot starts
    port = late.start()
    late.stop()
    got: queue.Queue[records.HandoffResolution] = queue.Queue()
    ctx = ssl.create_default_context(cafile=str(cert))
    uplink = FleetUplink(f"wss://127.0.0.1:{port}/robot/ws", fleet_pair.credentials["ra1"], ctx, got.put,
                         retry_s=0.1, max_retry_s=0.3)  # fmt: skip
    uplink.start()
    late = service(port)
    try:
        uplink.submit_handoff(handoff("offline-1"), 2.0)
        uplink.submit_handoff(handoff("offline-2"), 0.5)
        uplink.submit_handoff(handoff("offline-1"), 2.0)  # a repeat: ignored
        assert not uplink.connected
        late.start()
        sql = "SELECT request_id FROM handoffs WHERE robot_id='ra1' ORDER BY id"
        rows = rows_when(fleet_pair.conninfo, sql, lambda r: len(r) >= 2)
        assert rows == [("offline-1",), ("offline-2",)]

        async def operator() -> None:
            store = FleetStore(Pool(fleet_pair.conninfo, 1), "test")
            alice = Actor("alice", "chain_a")
            first = await store.claim(alice)
            assert first.request_id == "offline-1"  # 2 sales/h blocked before 0.5
            await store.resolve(alice, first.key, "removed")
            await store.pool.close()

        asyncio.run(operator())
        res = got.get(timeout=30)
        assert (res.request_id, res.action, res.operator) == ("offline-1", "removed", "alice")
        sql = "SELECT request_id FROM handoffs WHERE delivered_at IS NOT NULL"
        assert rows_when(fleet_pair.conninfo, sql, bool) == [("offline-1",)]  # acknowledged by the robot
        assert got.empty() and uplink.link is not None and list(uplink.link.resolved) == ["offline-1"]
    finally:
        uplink.stop()
        late.stop()
