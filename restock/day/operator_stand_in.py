"""A scripted remote operator for unattended store days: the real bridge protocol, a scripted mind.

It logs in over HTTPS, opens the WebSocket with a one-time ticket, and for each queued handoff
that has waited ``delay_s`` of sim time: claims it, holds control for ``handle_s`` of sim time (the
arm holds meanwhile, as with a person in the loop), resolves it, and releases the robot. What it
"sees" comes from the simulator's ground truth, standing in for a person's eyes on the camera
feed: an unfamiliar item is labelled with the SKU it really is, or "foreign_item" and removed; an
obstruction is cleared; a failed grasp or a blocked lane is retried. The physical part of
"removed" and "cleared" (an operator's hands, or a clerk sent over) is applied by the simulator
when it sees the resolution.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import ssl
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from restock import topics
from restock.day.operator_clock import OperatorClock
from restock.teleop.auth import hash_password

OPERATOR = "scripted_operator"
FOREIGN = "foreign_item"


@dataclass
class OperatorSetup:
    port: int
    operators_file: Path
    password: str
    cert_file: Path

    @classmethod
    def create(cls, run_dir: Path, port: int, state_dir: Path) -> OperatorSetup:
        password = secrets.token_urlsafe(18)
        path = run_dir / "operators.yaml"
        path.write_text(f"operators:\n  {OPERATOR}:\n    password_scrypt: '{hash_password(password)}'\n")
        return cls(port, path, password, state_dir / "tls" / "teleop-selfsigned.crt")


async def messages(ws: aiohttp.ClientWebSocketResponse, seconds: float) -> AsyncIterator[aiohttp.WSMessage]:
    """Every WebSocket message that comes within ``seconds`` in all."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            msg = await ws.receive(timeout=left)
        except asyncio.TimeoutError:
            return
        yield msg


async def texts(ws: aiohttp.ClientWebSocketResponse, seconds: float) -> AsyncIterator[dict]:
    """The JSON text messages that come within ``seconds`` (binary ones, camera frames, skipped);
    ConnectionError when the WebSocket closes."""
    async for msg in messages(ws, seconds):
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
            raise ConnectionError(f"WebSocket closed ({ws.close_code})")
        if msg.type == aiohttp.WSMsgType.TEXT:
            yield json.loads(msg.data)


class _OperatorThread:
    """A scripted operator's own thread and asyncio loop: its session, again after each lost
    connection (the bridge or the fleet service starting, or restarted)."""

    _stop: threading.Event
    log_path: Path | None

    def _stamp(self) -> str: ...

    def _log(self, text: str) -> None:
        if self.log_path is not None:
            with self.log_path.open("a") as f:
                f.write(f"{self._stamp()} {text}\n")

    async def _session(self) -> None: ...

    def _run_thread(self) -> None:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=15)

    async def _serve(self, ws: aiohttp.ClientWebSocketResponse) -> None: ...

    async def _open(self, base: str, cafile: Path, name: str, password: str) -> None:
        """Log in over HTTPS (the bridge's API or the fleet's: the same), open the WebSocket with a
        one-time ticket and serve it until it closes."""
        context = ssl.create_default_context(cafile=str(cafile))
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as http:
            async with http.post(f"{base}/api/login", json={"operator": name, "password": password}) as r:
                if r.status != 200:
                    raise ConnectionError(f"login refused: {r.status} {await r.text()}")
                token = (await r.json())["token"]
            async with http.post(f"{base}/api/ticket", headers={"Authorization": f"Bearer {token}"}) as r:
                ticket = (await r.json())["ticket"]
            wss = base.replace("https://", "wss://", 1)
            async with http.ws_connect(f"{wss}/ws?ticket={ticket}", heartbeat=5.0) as ws:
                self._log("connected")
                await self._serve(ws)

    async def _main(self) -> None:
        while not self._stop.is_set():
            try:
                await self._session()
            except (aiohttp.ClientError, OSError, ConnectionError, asyncio.TimeoutError, ssl.SSLError) as err:
                self._log(f"connection: {type(err).__name__}: {err}")  # log in again
            await asyncio.sleep(1.0)


@dataclass
class ScriptedOperator(_OperatorThread):
    setup: OperatorSetup
    monitor: Any  # restock.day.day.DayMonitor: sim time and the latest ground truth
    delay_s: float = 60.0
    handle_s: float = 30.0
    log_path: Path | None = None
    clock: OperatorClock | None = None  # lockstep: act at exact sim times (restock.day.operator_clock)
    handled: dict[str, str] = field(default_factory=dict)  # request id -> action
    _stop: threading.Event = field(default_factory=threading.Event)
    _resolve_at: float | None = None  # lockstep: the sim time the handoff in hand is resolved

    def now(self) -> float:
        return self.clock.now if self.clock is not None else self.monitor.sim_time

    def wake(self) -> float | None:
        """Lockstep: the sim time of the next action (None: nothing pending)."""
        if self._resolve_at is not None:
            return self._resolve_at
        clock = self.clock
        assert clock is not None
        pending = [stamp + self.delay_s for rid, stamp in list(clock.requests.items()) if rid not in self.handled]
        return min(pending) if pending else None

    def start(self) -> ScriptedOperator:
        if self.clock is not None:
            self.clock.wake = self.wake
        self._run_thread()
        return self

    def _stamp(self) -> str:
        return f"{self.now():.0f}"

    async def _session(self) -> None:
        s = self.setup
        if not s.cert_file.exists():
            raise ConnectionError("the bridge has not written its certificate yet")
        await self._open(f"https://127.0.0.1:{s.port}", s.cert_file, OPERATOR, s.password)

    async def _serve(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        state: dict = {}
        while not self._stop.is_set():
            try:  # under lockstep the simulator waits on us: look often
                msg = await ws.receive(timeout=0.5 if self.clock is None else 0.005)
            except asyncio.TimeoutError:
                msg = None
            if msg is not None:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    body = json.loads(msg.data)
                    if body.get("type") == "state":
                        state = body
                    elif body.get("type") == "error":
                        self._log(f"bridge says: {body.get('error')}")
                elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                    raise ConnectionError(f"WebSocket closed ({ws.close_code})")
            due = self._next_due(state)
            if due is not None:
                await self._handle(ws, due)

    def _next_due(self, state: dict) -> dict | None:
        now = self.now()
        if self.clock is not None:  # the requests the graph delivered, not the bridge's view of them
            due = [(stamp, rid) for rid, stamp in list(self.clock.requests.items()) if rid not in self.handled]
            due = [d for d in sorted(due) if now - d[0] >= self.delay_s - 1e-9]
            if not due:
                return None
            queued = {e["request_id"]: e for e in state.get("queue", [])}
            return queued.get(due[0][1], {"request_id": due[0][1], "stamp": due[0][0]})
        for entry in state.get("queue", []):
            rid = entry["request_id"]
            if rid in self.handled or entry.get("claimed_by") not in (None, OPERATOR):
                continue
            if now - float(entry.get("stamp", now)) >= self.delay_s:
                return entry
        return None

    def _decide(self, entry: dict) -> tuple[str, str | None]:
        kind, lane = entry.get("kind"), entry.get("lane_id")
        if kind == "unfamiliar_item":
            truth = self.monitor.stats._last_truth
            items = truth.lanes[lane].items if truth is not None and lane in getattr(truth, "lanes", {}) else []
            if "unfamiliar" in items or not items:
                return "removed", FOREIGN
            return "labelled", items[0] if items[0] != "obstruction" else FOREIGN
        if kind == "obstruction":
            return "cleared", None
        return "retried", None

    async def _hold_for_sim(self, ws: aiohttp.ClientWebSocketResponse, seconds: float) -> str | None:
        """Keep the lease alive (heartbeats) for this many sim seconds; the bridge's error if any."""
        until = self.now() + seconds
        if self.clock is not None:
            self._resolve_at = until
            self.clock.done()  # the claim is seen: sim time may go on to the resolve
        beat = 0
        while self.now() < until - 1e-9 and not self._stop.is_set():
            await ws.send_str(json.dumps({"type": "heartbeat", "seq": beat}))
            beat += 1
            error = await self._read_for(ws, 0.25)
            if error is not None:
                return error
        return None

    async def _read_for(
        self, ws: aiohttp.ClientWebSocketResponse, seconds: float, want: str | None = None
    ) -> str | None:
        """Read messages for a while: an error's text, "ack" when ``want`` is acknowledged, else None."""
        async for body in texts(ws, seconds):
            if body.get("type") == "error":
                return str(body.get("error"))
            if want is not None and body.get("type") == "ack" and body.get("of") == want:
                return "ack"
        return None

    async def _handle(self, ws: aiohttp.ClientWebSocketResponse, entry: dict) -> None:
        rid = entry["request_id"]
        started = time.monotonic()
        claimed_after = self._status_count()
        await ws.send_str(json.dumps({"type": "claim", "request_id": rid}))
        await self._seen(lambda c: c.participant.sent.get(topics.TELEOP_STATUS, 0) > claimed_after)
        error = await self._hold_for_sim(ws, self.handle_s)
        if error is None:
            action, label = self._decide(entry)
            resolve: dict = {"type": "resolve", "request_id": rid, "action": action}
            if label is not None:
                resolve["label"] = label
            await ws.send_str(json.dumps(resolve))
            reply = await self._read_for(ws, 10.0, want="resolve")
            await self._seen(lambda c: rid in c.resolved)
            outcome = f"{action} {label or ''}".strip() if reply == "ack" else f"not resolved: {reply or 'no answer'}"
        else:
            outcome = f"not resolved: {error}"
        released_after = self._status_count()
        await ws.send_str(json.dumps({"type": "release"}))
        await self._seen(lambda c: c.participant.sent.get(topics.TELEOP_STATUS, 0) > released_after)
        # A request the bridge refuses (resolved elsewhere, gone) is not retried forever.
        self.handled[rid] = outcome
        self._resolve_at = None
        if self.clock is not None and not self._overdue():
            self.clock.done()  # else the next one is handled at this very sync point, still held
        self._log(
            f"{rid} {entry.get('kind')} lane {entry.get('lane_id')}: {outcome} ({time.monotonic() - started:.1f} wall s)"
        )

    def _overdue(self) -> bool:
        wake = self.wake()
        return wake is not None and wake <= self.now() + 1e-9

    def _status_count(self) -> int:
        return self.clock.participant.sent.get(topics.TELEOP_STATUS, 0) if self.clock is not None else 0

    async def _seen(self, condition: Callable[[OperatorClock], bool], wall_s: float = 5.0) -> None:
        """Lockstep: wait until the graph shows what the bridge did for us (else go on after wall_s)."""
        if self.clock is None:
            return
        deadline = time.monotonic() + wall_s
        while not condition(self.clock) and time.monotonic() < deadline:
            await asyncio.sleep(0.001)


def start_scripted_operator(
    setup: OperatorSetup, monitor: Any, delay_s: float, log_path: Path, clock: OperatorClock | None = None
) -> ScriptedOperator:
    return ScriptedOperator(setup, monitor, delay_s=delay_s, log_path=log_path, clock=clock).start()


def decide_by_kind(kind: str | None) -> tuple[str, str | None]:
    """What a fleet operator answers without the simulator's ground truth (it serves several stores,
    each its own graph): an unfamiliar item is taken out as foreign, an obstruction cleared, anything
    else retried."""
    if kind == "unfamiliar_item":
        return "removed", FOREIGN
    if kind == "obstruction":
        return "cleared", None
    return "retried", None


@dataclass
class FleetOperator(_OperatorThread):
    """A scripted operator of the fleet's shared pool: logs in to the fleet service (HTTPS), opens its
    console WebSocket, claims the costliest open handoff of its tenant whenever it is free, takes that
    robot's lease through the relay (the robot's bridge judges it), keeps it with heartbeats for a
    human-like service time (``service_s()``: sim seconds of that robot's clock, as ``sim_clock(robot)``
    reads it; without one, wall seconds times ``pace``), hands the robot back and resolves it in the
    fleet's queue."""

    base: str  # https://127.0.0.1:PORT of a fleet instance
    name: str
    password: str
    cafile: Path
    service_s: Callable[[], float]
    log_path: Path | None = None
    sim_clock: Callable[[str], float | None] | None = None  # a robot's latest sim time (its status), if known
    pace: float = 1.0  # sim seconds a wall second, where no sim clock is read
    # Each handoff: id, robot, request id, kind, outcome, claimed/resolved (wall), service (sim s), claimed (sim).
    handled: list[dict] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _kinds: dict[int, str] = field(default_factory=dict)  # handoff id -> kind, from the queue views pushed
    _claimed_sim: float | None = None  # the robot's sim time when the handoff in hand was claimed

    def start(self) -> FleetOperator:
        self._run_thread()
        return self

    def _stamp(self) -> str:
        return f"{time.strftime('%H:%M:%S')} {self.name}"

    async def _session(self) -> None:
        await self._open(self.base, self.cafile, self.name, self.password)

    async def _next(self, ws: aiohttp.ClientWebSocketResponse, kinds: tuple[str, ...], wall_s: float) -> dict | None:
        """The next message of one of these types within wall_s (None: none came)."""
        async for body in texts(ws, wall_s):
            if body.get("type") == "queue":
                self._kinds.update({h["id"]: h["kind"] for h in body.get("handoffs", [])})
            if body.get("type") in kinds:
                return body
        return None

    async def _serve(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        while not self._stop.is_set():
            await ws.send_json({"type": "claim"})  # the costliest open handoff of the tenant
            got = await self._next(ws, ("claimed", "error"), 10.0)
            if got is not None and got["type"] == "claimed":
                await self._handle(ws, got)
            else:  # nothing open: wait for the queue to change (pushed), or look again in a while
                await self._next(ws, ("queue",), 2.0)

    def _elapsed(self, robot: str) -> Callable[[], float]:
        """Sim seconds since now on this robot's clock (its status every second or so: a person's
        time is the store's time, whatever pace its simulation keeps), else wall seconds x pace."""
        wall0 = time.monotonic()
        sim0 = self.sim_clock(robot) if self.sim_clock is not None else None
        self._claimed_sim = sim0
        if sim0 is None:
            return lambda: (time.monotonic() - wall0) * self.pace

        def elapsed() -> float:
            now = self.sim_clock(robot)  # type: ignore[misc]
            return 0.0 if now is None else now - sim0

        return elapsed

    async def _handle(self, ws: aiohttp.ClientWebSocketResponse, claimed: dict) -> None:
        robot, rid, started = claimed["robot"], claimed["request_id"], time.time()

        async def command(body: dict) -> None:
            await ws.send_json({"type": "command", "robot": robot, "body": body})

        await command({"type": "claim", "request_id": rid})  # the robot's own lease, judged by its bridge
        need, beat = self.service_s(), 0
        elapsed = self._elapsed(robot)
        while elapsed() < need and not self._stop.is_set():
            await command({"type": "heartbeat", "seq": beat})
            beat += 1
            await self._next(ws, (), 0.2)  # reads what came meanwhile
        kind = self._kinds.get(claimed["id"])  # the claim's answer names the request, the queue view its kind
        action, label = decide_by_kind(kind)
        resolve: dict = {"type": "resolve", "id": claimed["id"], "action": action}
        if label is not None:
            resolve["label"] = label
        await command({"type": "release"})  # the robot back first: the relay ends with the fleet's claim
        await ws.send_json(resolve)
        answer = await self._next(ws, ("resolved", "error"), 20.0)
        outcome = action if answer is not None and answer["type"] == "resolved" else f"not resolved: {answer}"
        self.handled.append({"id": claimed["id"], "robot": robot, "request_id": rid, "kind": kind, "outcome": outcome,
                             "claimed": started, "resolved": time.time(), "service_sim_s": elapsed(),
                             "claimed_sim": self._claimed_sim})  # fmt: skip
        self._log(f"#{claimed['id']} {robot} {rid} {kind}: {outcome} ({time.time() - started:.1f} s)")
