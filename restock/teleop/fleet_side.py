"""The bridge's side of the fleet: its handoffs go up the robot's one outbound link, the fleet's
operators come down through the bridge's own rules.

The link (restock.fleet.uplink.FleetUplink) runs on the operator server's loop, where the rules live
(what it hands over is still scheduled there, as from any thread), so a command relayed by the fleet is judged
exactly as one from an operator connected here: the same lease (one operator in control), deadman
and heartbeat watchdog, envelope and e-stop. Each fleet operator is a connection of the rules
(``fleet:NAME``). When the link goes, every lease taken through it ends at once and the arm holds:
a command never outlives the link. Resolutions made in the fleet's queue are acted on as a resolve
made here (training sample, handoff/resolutions, audit), once each; one resolved here by an operator
at the bridge leaves the fleet's queue. No rclpy here.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from restock import records
from restock.teleop import protocol as P
from restock.teleop.rules import Conn, PendingResolve

if TYPE_CHECKING:
    from restock.fleet.uplink import FleetUplink
    from restock.teleop.server import TeleopServer

log = logging.getLogger("restock.teleop")
FLEET_PEER = "fleet"
SALES_WINDOW_S = 3600.0


def read_credential(path: Path) -> str:
    """A robot's fleet credential (``robot:secret``, as `restock fleet add-robot` prints it) from its file."""
    text = path.read_text().strip()
    if text.count(":") != 1 or not all(text.split(":")):
        raise ValueError(f"{path}: expected one line ROBOT:SECRET (from `restock fleet add-robot`)")
    return text


@dataclass
class SalesRate:
    """Sales per hour of each SKU over the last hour (sim time): what a blocked lane costs while it
    waits, so the fleet's queue serves the dearest handoff first."""

    lanes_of_sku: dict[str, int]
    window_s: float = SALES_WINDOW_S
    _sales: deque[tuple[float, str, int]] = field(default_factory=deque)

    def add(self, sale: records.SaleEvent) -> None:
        self._sales.append((sale.stamp, sale.sku, sale.quantity))
        while self._sales and self._sales[0][0] < sale.stamp - self.window_s:
            self._sales.popleft()

    def blocked_per_h(self, sku: str | None) -> float:
        """A lane of this SKU out of service: its share of the SKU's recent sales, per hour."""
        if sku is None or not self._sales:
            return 0.0
        sold = sum(q for _, s, q in self._sales if s == sku)
        return sold * 3600.0 / self.window_s / max(1, self.lanes_of_sku.get(sku, 1))


@dataclass
class _Remote:
    """A fleet operator as the server's replies see it: what is sent goes back up the link."""

    operator: str
    send: Callable[[str, dict], None]
    last_state: str = ""

    @property
    def conn(self) -> Conn:
        return Conn(f"fleet:{self.operator}", self.operator, FLEET_PEER)

    def send_json(self, body: dict) -> None:
        self.send(self.operator, body)


class FleetSide:
    def __init__(self, server: TeleopServer, make_uplink: Callable[..., FleetUplink]) -> None:
        """``make_uplink(on_resolution=, on_command=, on_link=)`` builds the (not yet started) link."""
        self.server = server
        self.rules = server.rules
        self.uplink = make_uplink(on_resolution=self._on_resolution, on_command=self._on_command, on_link=self._on_link)
        self.remotes: dict[str, _Remote] = {}
        self.counts = {"handoffs_sent": 0, "commands": 0, "resolutions": 0, "withdrawn": 0, "links": 0,
                       "links_lost": 0}  # fmt: skip
        self._from_fleet: str | None = None  # the request id of the fleet resolution being acted on
        self.rules.on_resolved.append(self._resolved)
        self.done: dict[str, int] = {}  # the day's task outcomes, for the status sent up

    def start(self) -> None:
        """After the server runs (its loop is where the rules are touched)."""
        self.server.streams.remote_sink = self.uplink.submit_frame
        self.server.on_broadcast.append(self._push_states)
        self.uplink.start(loop=self.server.loop)  # the server's loop: commands meet the rules there

    def stop(self) -> None:
        self.uplink.stop()

    @property
    def connected(self) -> bool:
        return self.uplink.connected

    # --- the robot's side (any thread) ---------------------------------------------------------

    def submit_handoff(self, request: records.HandoffRequest, blocked_sales_per_h: float) -> None:
        self.counts["handoffs_sent"] += 1
        self.uplink.submit_handoff(request, blocked_sales_per_h)

    def on_result(self, result: records.TaskResult) -> None:
        self.done[result.outcome] = self.done.get(result.outcome, 0) + 1
        self.done["placed"] = self.done.get("placed", 0) + result.placed

    def submit_status(self, extra: dict | None = None) -> None:
        """The robot's state for the fleet's view: who holds it, its queue, the day's figures."""
        rules = self.rules
        self.uplink.submit_status(
            {
                "robot": rules.robot_id,
                "store": rules.store.name,
                "control": "operator" if rules.holder_name() else "autonomy",
                "operator": rules.holder_name(),
                "estop": rules.estop_engaged,
                "queue": len(rules.queue),
                "tasks": dict(self.done),
                **self.counts,
                **(extra or {}),
            }
        )

    # --- from the link's thread: onto the server's loop ---------------------------------------------

    def _later(self, fn: Callable[..., object], *args: object) -> None:
        loop = self.server.loop
        if loop is None or loop.is_closed():
            return
        try:
            here = asyncio.get_running_loop() is loop
        except RuntimeError:
            here = False
        if here:  # the link runs on the server's loop: now, not behind whatever the loop has queued
            fn(*args)
        else:
            loop.call_soon_threadsafe(fn, *args)

    def _on_command(self, operator: str, body: dict) -> None:
        self._later(self._command, operator, body, self.uplink.link.command_stamps if self.uplink.link else None)

    def _on_resolution(self, resolution: records.HandoffResolution) -> None:
        self._later(lambda: asyncio.ensure_future(self._resolution(resolution)))

    def _on_link(self, up: bool) -> None:
        self._later(self._link, up)

    # --- on the server's loop ------------------------------------------------------------------

    def _remote(self, operator: str) -> _Remote:
        if operator not in self.remotes:
            self.remotes[operator] = _Remote(operator, self.uplink.submit_reply)
        return self.remotes[operator]

    def _command(self, operator: str, body: dict, stamps: tuple | None = None) -> None:
        """A relayed bridge message (``stamps``: the service's and the link's times, for the trace)."""
        loop_at = time.time()
        remote = self._remote(operator)
        self.counts["commands"] += 1
        try:
            msg = P.parse_client_object(body)  # read once by the link: not encoded again to check it
        except P.ProtocolError as err:
            remote.send_json({"type": "error", "error": str(err)[:300]})
            return
        if isinstance(msg, P.Watch):
            if msg.camera_id is None:
                self.server.streams.remote.pop(operator, None)
            elif msg.camera_id in self.rules.camera_ids:
                self.server.streams.remote[operator] = msg.camera_id
            else:
                remote.send_json({"type": "error", "error": f"no camera {msg.camera_id}"})
            self.server.streams.update_watched()
        elif isinstance(msg, (P.Heartbeat, P.Pose, P.Claim, P.Release, P.Estop)):
            if isinstance(msg, P.Heartbeat) and not self.rules.leases.controls(self.rules.robot_id, remote.conn.id):
                remote.last_state = ""  # a hello (a console opening the robot): its state goes at the next push
            self.server._apply(remote, self.rules.handle(remote.conn, msg, self.server.clock()))
            if isinstance(msg, P.Pose):
                service_in, service_out, link_in = stamps or (None, None, None)
                self.server.trace.pose(remote.conn.id, msg.sent, service_in=service_in, service_out=service_out,
                                       link_in=link_in, loop=loop_at, published=time.time())  # fmt: skip
            elif isinstance(msg, P.Release):
                self.server.trace.log(remote.conn.id)
        # frame_shown: the fleet service paces its own viewers; anything else is not relayed to robots

    async def _resolution(self, resolution: records.HandoffResolution) -> None:
        plan = self.rules.plan_remote_resolve(resolution)
        if isinstance(plan, str):
            log.info("fleet resolution of %s not acted on: %s", resolution.request_id, plan)
            return
        self.counts["resolutions"] += 1
        sample = await self._sample(plan)
        remote = self._remote(resolution.operator)
        self._from_fleet = resolution.request_id
        try:
            self.server._apply(remote, self.rules.finish_resolve(remote.conn, plan, sample))
        finally:
            self._from_fleet = None
        if self.rules.leases.controls(self.rules.robot_id, remote.conn.id):
            # Their claim in the fleet ended with the resolve, and with it the relay of their commands:
            # the lease they took through it ends now too, not at the lease timeout.
            self.server._apply(None, self.rules.release(remote.conn, "resolved in the fleet"))

    def _resolved(self, resolution: records.HandoffResolution) -> None:
        """A handoff resolved here by an operator at the bridge leaves the fleet's queue (a claim on it
        there ends); one resolved through the fleet is the fleet's already."""
        if resolution.request_id != self._from_fleet:
            self.counts["withdrawn"] += 1
            self.uplink.submit_withdrawal(resolution)

    async def _sample(self, plan: PendingResolve) -> str | None:
        if not plan.wants_sample:
            return None
        try:
            loop = asyncio.get_running_loop()
            saved = await loop.run_in_executor(
                None, self.server.samples.write, plan.entry.request, plan.resolution, plan.entry.frame_jpeg
            )
        except (OSError, ValueError) as err:
            log.warning("no training sample for %s: %s", plan.resolution.request_id, err)
            return None
        return saved.image.name if saved else None

    def _link(self, up: bool) -> None:
        if up:
            self.counts["links"] += 1
            self.submit_status()
            return
        # The link is gone: whoever held the arm through it lets go now (the heartbeat watchdog would
        # hold the arm within its timeout anyway; the lease goes with the link).
        self.counts["links_lost"] += 1
        for remote in list(self.remotes.values()):
            self.server._apply(None, self.rules.disconnect(remote.conn))
            self.server.trace.log(remote.conn.id)
        self.remotes.clear()
        self.server.streams.remote.clear()
        self.server.streams.update_watched()

    def _push_states(self) -> None:
        """Each fleet operator that talked to this robot gets the bridge's state when it changes
        (compact: a relayed message stays under the fleet's 7,000 bytes)."""
        for remote in list(self.remotes.values()):
            state = self.rules.state(remote.operator, time.time())
            body = {k: state[k] for k in ("type", "robot_id", "you", "lease", "estop", "cameras")}
            body["queue"] = len(state["queue"])
            text = json.dumps(body, sort_keys=True)
            if text != remote.last_state:
                remote.last_state = text
                remote.send_json(body)
