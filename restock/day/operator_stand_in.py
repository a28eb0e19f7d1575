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
from collections.abc import Callable
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


@dataclass
class ScriptedOperator:
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
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _log(self, text: str) -> None:
        if self.log_path is not None:
            with self.log_path.open("a") as f:
                f.write(f"{self.now():.0f} {text}\n")

    async def _main(self) -> None:
        while not self._stop.is_set():
            try:
                await self._session()
            except (aiohttp.ClientError, OSError, ConnectionError, asyncio.TimeoutError, ssl.SSLError) as err:
                # The bridge is starting, or was restarted: log in again.
                self._log(f"connection: {type(err).__name__}: {err}")
            await asyncio.sleep(1.0)

    async def _session(self) -> None:
        s = self.setup
        if not s.cert_file.exists():
            raise ConnectionError("the bridge has not written its certificate yet")
        context = ssl.create_default_context(cafile=str(s.cert_file))
        base = f"https://127.0.0.1:{s.port}"
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as http:
            async with http.post(f"{base}/api/login", json={"operator": OPERATOR, "password": s.password}) as r:
                if r.status != 200:
                    raise ConnectionError(f"login refused: {r.status} {await r.text()}")
                token = (await r.json())["token"]
            headers = {"Authorization": f"Bearer {token}"}
            async with http.post(f"{base}/api/ticket", headers=headers) as r:
                ticket = (await r.json())["ticket"]
            async with http.ws_connect(f"wss://127.0.0.1:{s.port}/ws?ticket={ticket}", heartbeat=5.0) as ws:
                self._log("connected")
                await self._serve(ws)

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
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                msg = await ws.receive(timeout=left)
            except asyncio.TimeoutError:
                return None
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                raise ConnectionError(f"WebSocket closed ({ws.close_code})")
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue  # camera frames
            body = json.loads(msg.data)
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
