"""Fleet test helpers: two tenants with a store, a robot and operators each, on a test database."""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from restock import records
from restock.fleet.accounts import Accounts
from restock.fleet.db import Pool
from restock.fleet.link import RobotLink
from restock.fleet.service import FleetService
from restock.fleet.store import FleetStore

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
