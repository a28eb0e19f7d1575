"""Fleet test helpers: two tenants with a store, a robot and operators each, on a test database."""

from __future__ import annotations

import asyncio
import json
import ssl
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import psycopg

from restock import records
from restock.fleet.accounts import Accounts
from restock.fleet.db import Pool
from restock.fleet.link import RobotLink
from restock.fleet.service import FleetService
from restock.fleet.store import FleetStore
from restock.fleet.uplink import FleetUplink
from restock.paths import store_file
from restock.store.description import load_store
from restock.teleop.auth import OperatorBook
from restock.teleop.fleet_side import FleetSide
from restock.teleop.records_out import AuditLog, SampleWriter
from restock.teleop.server import ServerConfig, TeleopServer
from restock.teleop.tls import server_context

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "teleop"))
from teleop_client import CollectingPort

PASSWORD = "operator-password"


@dataclass
class Fleet:
    accounts: Accounts
    store: FleetStore
    credentials: dict[str, str]  # robot -> robot:secret


async def populate(conninfo: str, instance: str = "a") -> Fleet:
    """chain_a: store sa1, robot ra1, operators alice and carol; chain_b: store sb1, robot rb1, operator bob."""
    pool = Pool(conninfo, size=4)
    accounts = Accounts(pool, instance)
    creds = {}
    for tenant, store, robot, ops in (
        ("chain_a", "sa1", "ra1", ("alice", "carol")),
        ("chain_b", "sb1", "rb1", ("bob",)),
    ):
        await accounts.add_tenant(tenant)
        await accounts.add_store(store, tenant)
        creds[robot] = await accounts.add_robot(robot, store)
        for op in ops:
            await accounts.add_operator(op, tenant, PASSWORD)
    return Fleet(accounts, FleetStore(pool, instance), creds)


def handoff(request_id: str, kind: str = "unfamiliar_item", lane: str | None = "r0_l01") -> records.HandoffRequest:
    return records.HandoffRequest(
        request_id=request_id, source="shelf_camera", kind=kind, stamp=time.time(), lane_id=lane
    )


async def populate_credentials(conninfo: str) -> dict[str, str]:
    fleet = await populate(conninfo)
    await fleet.store.pool.close()
    return fleet.credentials


@dataclass
class FleetPair:
    conninfo: str
    services: list[FleetService]
    hosts: list[str]  # 127.0.0.1:port of each instance
    client_ssl: ssl.SSLContext
    credentials: dict[str, str]

    def url(self, i: int, path: str, ws: bool = False) -> str:
        return f"{'wss' if ws else 'https'}://{self.hosts[i]}{path}"

    def link(self, i: int, robot: str, **kw: object) -> RobotLink:
        return RobotLink(self.url(i, "/robot/ws", ws=True), self.credentials[robot], self.client_ssl, **kw)  # type: ignore[arg-type]


class Operator:
    """An operator's HTTPS client: login, queue, commands, and a WSS connection through a ticket."""

    def __init__(self, pair: FleetPair, http: aiohttp.ClientSession, i: int = 0) -> None:
        self.pair, self.http, self.i = pair, http, i
        self.token: str | None = None

    async def login(self, name: str, password: str = PASSWORD) -> aiohttp.ClientResponse:
        r = await self.http.post(self.pair.url(self.i, "/api/login"), json={"operator": name, "password": password},
                                 ssl=self.pair.client_ssl)  # fmt: skip
        if r.status == 200:
            self.token = (await r.json())["token"]
        return r

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def get(self, path: str) -> tuple[int, dict]:
        r = await self.http.get(self.pair.url(self.i, path), headers=self._auth(), ssl=self.pair.client_ssl)
        return r.status, await r.json()

    async def post(self, path: str, body: dict | None = None) -> tuple[int, dict]:
        r = await self.http.post(self.pair.url(self.i, path), json=body or {}, headers=self._auth(),
                                 ssl=self.pair.client_ssl)  # fmt: skip
        return r.status, await r.json()

    async def ws(self) -> aiohttp.ClientWebSocketResponse:
        status, body = await self.post("/api/ticket")
        assert status == 200, body
        return await self.http.ws_connect(self.pair.url(self.i, f"/ws?ticket={body['ticket']}", ws=True),
                                          ssl=self.pair.client_ssl)  # fmt: skip


async def next_of(ws: aiohttp.ClientWebSocketResponse, kind: str, timeout: float = 20.0) -> dict:
    """The next message of a type (others skipped); the timeout only stops a broken test hanging."""
    async with asyncio.timeout(timeout):
        while True:
            msg = await ws.receive()
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise AssertionError(f"link closed waiting for {kind}: {msg.type} {msg.data!r} {msg.extra!r}")
            data = json.loads(msg.data)
            if data.get("type") == kind:
                return data


async def wait_for(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


async def linked_robot(
    pair: FleetPair, i: int, robot: str, request_id: str, **options: object
) -> tuple[RobotLink, asyncio.Task, list]:
    """A robot linked to instance i with one handoff acknowledged; the commands relayed to it are
    listed (unless options give an on_command of its own)."""
    commands: list[tuple[str, dict]] = []
    options.setdefault("on_command", lambda op, body: commands.append((op, body)))
    link = pair.link(i, robot, **options)
    task = asyncio.create_task(link.run())
    link.send_handoff(handoff(request_id))
    await wait_for(lambda: link.connects == 1 and not link.outbox)
    return link, task, commands


class CuttableProxy:
    """A TCP relay on 127.0.0.1 between a robot and a fleet instance, on its own loop in a thread:
    ``cut()`` drops every connection through it and refuses new ones (the store's network gone),
    ``restore()`` lets them through again. The bytes (TLS) pass untouched."""

    def __init__(self, target_port: int) -> None:
        import threading

        self.target_port = target_port
        self.up = True
        self.port = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self._thread.start()
        ready.wait(10)

    def _run(self, ready: object) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._client, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        ready.set()  # type: ignore[attr-defined]
        self._loop.run_forever()
        # Closed: every relay ends on this loop before it goes (no coroutine left for the collector).
        tasks = asyncio.all_tasks(self._loop)
        for task in tasks:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        self._loop.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        try:
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        finally:
            self._writers -= {writer, up_writer}

    def cut(self) -> None:
        def drop() -> None:
            self.up = False
            for w in list(self._writers):
                w.transport.abort()  # no goodbye: the link just goes, as with a pulled cable

        self._loop.call_soon_threadsafe(drop)

    def restore(self) -> None:
        self._loop.call_soon_threadsafe(setattr, self, "up", True)

    def close(self) -> None:
        def stop() -> None:
            self._server.close()
            for w in list(self._writers):
                w.transport.abort()
            self._loop.stop()

        self._loop.call_soon_threadsafe(stop)
        self._thread.join(10)


def fleet_rows(conninfo: str, sql: str) -> list[tuple]:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        return conn.execute(sql).fetchall()


def open_in_fleet(pair: FleetPair, request_id: str) -> bool:
    """The robot's handoff has reached the fleet's queue (a claim before that finds nothing)."""
    rows = fleet_rows(pair.conninfo, f"SELECT state FROM handoffs WHERE request_id='{request_id}'")
    return rows == [("open",)]


def fleet_bridge_params(tmp: Path, pair: FleetPair, ca: Path) -> dict[str, dict[str, object]]:
    credential = tmp / "ra1.credential"
    credential.write_text(pair.credentials["ra1"] + "\n")
    urls = [pair.url(i, "/robot/ws", ws=True) for i in range(len(pair.hosts))]
    return {
        "teleop_bridge": {
            "robot_id": "ra1",
            "port": 0,
            "state_dir": str(tmp / "teleop"),
            "heartbeat_timeout_s": 2.0,  # a loaded machine's relay may pause; the watchdog is tested elsewhere
            "fleet_url": urls,
            "fleet_credential_file": str(credential),
            "fleet_ca_file": str(ca),
            "fleet_status_period_s": 1.0,
        }
    }


def linked_bridge(
    tmp_path: Path, pair: FleetPair, request: records.HandoffRequest, cost: float,
    operators: OperatorBook | None = None, tls: tuple[Path, Path] | None = None,
) -> tuple[TeleopServer, CollectingPort, FleetSide]:  # fmt: skip
    """A bridge for robot ra1 linked to instance a, with one handoff raised (as the node raises it)."""
    store = load_store(store_file("corner_store.yaml"))
    port = CollectingPort()
    context = server_context(*tls) if tls else None  # TLS where an operator logs in at the bridge itself
    config = ServerConfig(robot_id="ra1", port=0, ssl_context=context, heartbeat_timeout_s=2.0)
    samples = SampleWriter(tmp_path / "samples", {k: v.kind for k, v in store.skus.items()})
    book = operators or OperatorBook({})
    server = TeleopServer(config, store, book, port, AuditLog(tmp_path / "audit.sqlite"), samples)
    server.start()
    url = pair.url(0, "/robot/ws", ws=True)

    def make(**callbacks: object) -> FleetUplink:
        return FleetUplink(url, pair.credentials["ra1"], pair.client_ssl, retry_s=0.1, max_retry_s=0.5, **callbacks)  # type: ignore[arg-type]

    side = FleetSide(server, make)
    side.start()
    server.submit_handoff(request)
    side.submit_handoff(request, cost)
    return server, port, side
