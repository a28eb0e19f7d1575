"""Teleop test helpers (imported by the tests here): operators, a collecting port, an HTTPS/WSS client."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from restock import records
from restock.teleop.auth import hash_password
from restock.teleop.control import EeTarget
from restock.teleop.server import TeleopServer

PASSWORDS = {"alice": "alice-password", "bob": "bob-password"}


def write_operators(path: Path) -> Path:
    lines = ["operators:"]
    for name, pw in PASSWORDS.items():
        lines += [f"  {name}:", f"    password_scrypt: '{hash_password(pw, n=2**12)}'"]
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass
class CollectingPort:
    """The server's RobotPort as plain lists: what would reach the robot's topics (the graph tests use the node)."""

    targets: list[EeTarget] = field(default_factory=list)
    statuses: list[records.TeleopStatus] = field(default_factory=list)
    resolutions: list[records.HandoffResolution] = field(default_factory=list)
    estops: list[bool] = field(default_factory=list)

    def publish_target(self, target: EeTarget) -> None:
        self.targets.append(target)

    def publish_status(self, status: records.TeleopStatus) -> None:
        self.statuses.append(status)

    def publish_resolution(self, resolution: records.HandoffResolution) -> None:
        self.resolutions.append(resolution)

    def publish_estop(self, engaged: bool) -> None:
        self.estops.append(engaged)

    def ros_now(self) -> float:
        return time.time()


@dataclass
class Bridge:
    server: TeleopServer
    port: CollectingPort
    base: str
    ssl: ssl.SSLContext
    offset: list[float]  # added to the server's clock: moves time forward for expiry tests
    samples: Path

    def client(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=self.ssl))


async def login(http: aiohttp.ClientSession, base: str, name: str, password: str | None = None) -> str:
    async with http.post(f"{base}/api/login", json={"operator": name, "password": password or PASSWORDS[name]}) as r:
        assert r.status == 200, await r.text()
        return (await r.json())["token"]


async def ticket(http: aiohttp.ClientSession, base: str, token: str) -> str:
    async with http.post(f"{base}/api/ticket", headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status == 200, await r.text()
        return (await r.json())["ticket"]


async def connect(http: aiohttp.ClientSession, base: str, token: str) -> aiohttp.ClientWebSocketResponse:
    t = await ticket(http, base, token)
    return await http.ws_connect(f"{base.replace('https', 'wss')}/ws?ticket={t}")


# Deadlines only bound a failing test; under a loaded 2-core CI run 5 s was not enough (a "watch"
# taken in after the first frame). Nothing here asserts how fast anything is.
DEADLINE_S = 20.0


async def until(predicate: Callable[[], object], timeout: float = DEADLINE_S, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def next_json(ws: aiohttp.ClientWebSocketResponse, kind: str, timeout: float = DEADLINE_S) -> dict:
    """The next JSON message of this type (frames and other messages skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        msg = await ws.receive(timeout=max(0.01, deadline - time.monotonic()))
        if msg.type == aiohttp.WSMsgType.TEXT:
            body = msg.json()
            if body.get("type") == kind:
                return body
        elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
            raise ConnectionError(f"closed while waiting for {kind}: {ws.close_code}")


def pose_msg(p: tuple[float, float, float], grip: bool = True, trigger: float = 0.0) -> dict:
    return {"type": "pose", "position": list(p), "orientation": [0, 0, 0, 1], "grip": grip, "trigger": trigger}


def handoff(rid: str = "h-1", **kw: object) -> records.HandoffRequest:
    body = dict(request_id=rid, source="shelf_camera_cam_left", kind="unfamiliar_item", stamp=12.0, lane_id="r1_l01")
    return records.HandoffRequest(**{**body, **kw})  # type: ignore[arg-type]


async def close_code(ws: aiohttp.ClientWebSocketResponse, timeout: float = DEADLINE_S) -> int:
    """Read until the server closes the socket; its close code."""
    deadline = time.monotonic() + timeout
    while True:
        msg = await ws.receive(timeout=max(0.01, deadline - time.monotonic()))
        if msg.type == aiohttp.WSMsgType.CLOSE:
            return int(msg.data)
        if msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
            return int(ws.close_code or 1006)
