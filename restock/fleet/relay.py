"""Commands relayed from an operator to the robot whose handoff they hold, and the robot's replies.

The operator's message is a bridge message (pose, heartbeat, claim, release, e-stop), checked by the
bridge's own parser at the service and judged again by the robot's own teleop rules (lease,
deadman, heartbeat, envelope) when it arrives: the service only checks that the operator holds a
claim on one of that robot's handoffs. A robot linked to this instance gets it directly; one linked
to another instance through a NOTIFY (a few hundred bytes: under PostgreSQL's 8,000). When the
operator's link goes, the robot is told to release (a command never outlives the link). Poses and
heartbeats are audited as counts when the link ends, every other command one row each. Camera
frames (binary, the bridge's frame format) go from a robot's link to the operator links on the same
instance that hold its handoff and watch it: a claim's answer names the robot's instance
(``robot_url``), where the console opens its stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import TYPE_CHECKING

from restock.fleet import protocol as FP
from restock.fleet.db import COMMAND_CHANNEL, REPLY_CHANNEL, notify
from restock.fleet.links import Link, Refused
from restock.teleop.connection import FRAMES_IN_FLIGHT

if TYPE_CHECKING:
    from restock.fleet.service import FleetService

ACK_TIMEOUT_S = 0.5  # a paced page that took none of its frames this long after the last went gets them again


class CommandRelay:
    def __init__(self, service: FleetService) -> None:
        self.service = service

    async def on_notify(self, channel: str, payload: str) -> None:
        data = json.loads(payload)
        if channel == COMMAND_CHANNEL and data["robot"] in self.service.robots:
            await self.to_robot(data["robot"], data["operator"], data["body"])
        elif channel == REPLY_CHANNEL:
            await self.to_operator(data["operator"], data["tenant"], data["body"])

    async def command(
        self, link: Link, msg: FP.Command, text: str | None = None, received: float | None = None
    ) -> bool:
        """An operator's bridge message for a robot: relayed only while they hold one of its handoffs.
        ``text``: the operator's message as it came (a robot linked here gets it as it is, with
        ``received`` and the relay's own time: restock.teleop.trace)."""
        assert link.actor is not None
        robot, kind = msg.robot, msg.body.get("type", "?")
        if robot not in link.controls:
            held = await self.service.store.holding(link.actor, robot)
            if held is None:
                public = "you hold no handoff of that robot"
                await self.service.refuse(
                    Refused("command", f"{link.id}: {kind} for {robot} without a claim", public, 403, robot=robot), link
                )
                return True
            link.controls[robot] = held
        if kind == "watch":
            camera = msg.body.get("camera_id")
            if camera:
                link.watching[robot] = str(camera)
            else:
                link.watching.pop(robot, None)
        key = f"{robot} {kind}"
        link.relayed[key] = link.relayed.get(key, 0) + 1
        if robot in self.service.robots and text is not None:  # linked here: as it came, not encoded again
            await self.to_robot_text(robot, link.actor.operator, text, received)
        else:
            await self.relay(robot, link.actor.operator, msg.body)
        if kind not in ("pose", "heartbeat"):  # a pose stream is audited as a count when it ends
            # Written beside the command, not before it: the robot has it while the row goes in.
            self.service.later(
                self.service.store.audit(
                    "command", tenant=link.tenant, actor=link.actor.operator, robot=robot,
                    detail=f"{kind} (handoff {link.controls[robot]})", peer=link.peer,
                )
            )  # fmt: skip
        return True

    async def to_robot_text(self, robot: str, operator: str, text: str, received: float | None) -> None:
        """The operator's command message (checked JSON) inside the robot's: string joins, no encoding."""
        link = self.service.robots.get(robot)
        if link is not None:
            at = f"[{received!r},{time.time()!r}]" if received is not None else "null"
            message = f'{{"type":"command","operator":{json.dumps(operator)},"at":{at},"message":{text}}}'
            with contextlib.suppress(ConnectionError, RuntimeError):
                await link.ws.send_str(message)

    async def frame(self, robot: Link, data: bytes) -> None:
        """A camera frame from a robot linked here, to the operator links here that hold one of its
        handoffs and watch it. One still sending the last, or (a page that says when it took each,
        frame_shown) with FRAMES_IN_FLIGHT not yet taken, gets the newest frame when it can: no
        stale frame queues, as on the bridge (restock.teleop.connection)."""
        for link in list(self.service.links.values()):
            if link.actor is None or robot.robot not in link.controls or robot.robot not in link.watching:
                continue
            if link.pending_frame is not None:
                link.frames_dropped += 1
            link.pending_frame = data
            self._next_frame(link)

    def frame_shown(self, link: Link) -> None:
        link.frames_paced = True
        link.frames_in_flight = max(0, link.frames_in_flight - 1)
        self._next_frame(link)

    def _next_frame(self, link: Link) -> None:
        if link.pending_frame is None or link.frame_busy:
            return
        if link.frames_in_flight >= FRAMES_IN_FLIGHT:
            if time.monotonic() - link.frame_sent_at < ACK_TIMEOUT_S:
                return
            link.frames_in_flight = 0  # acks lost, or a page that stopped sending them: carry on
        data, link.pending_frame = link.pending_frame, None
        link.frame_busy, link.frame_sent_at = True, time.monotonic()
        link.frames_in_flight += 1 if link.frames_paced else 0
        asyncio.get_running_loop().create_task(self._send_frame(link, data))

    async def _send_frame(self, link: Link, data: bytes) -> None:
        try:
            await link.ws.send_bytes(data)
            link.frames += 1
        except (ConnectionError, RuntimeError):
            pass
        finally:
            link.frame_busy = False
        if not link.ws.closed:
            self._next_frame(link)

    async def relay(self, robot: str, operator: str, body: dict) -> None:
        if robot in self.service.robots:  # linked here: no database round trip
            await self.to_robot(robot, operator, body)
            return
        payload = json.dumps({"robot": robot, "operator": operator, "body": body})
        await self.service.pool.run(lambda conn: notify(conn, COMMAND_CHANNEL, payload))  # type: ignore[union-attr]

    async def to_robot(self, robot: str, operator: str, body: dict) -> None:
        link = self.service.robots.get(robot)
        if link is not None:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await link.ws.send_json({"type": "command", "operator": operator, "body": body})

    async def reply(self, robot: str, tenant: str, operator: str, body: dict) -> None:
        if any(k.actor is not None and k.actor.operator == operator for k in self.service.links.values()):
            await self.to_operator(operator, tenant, body, robot)
            return
        payload = json.dumps({"operator": operator, "tenant": tenant, "body": {**body, "robot": robot}})
        await self.service.pool.run(lambda conn: notify(conn, REPLY_CHANNEL, payload))  # type: ignore[union-attr]

    async def to_operator(self, operator: str, tenant: str, body: dict, robot: str | None = None) -> None:
        message = {"type": "reply", "body": body if robot is None else {**body, "robot": robot}}
        for link in list(self.service.links.values()):
            if link.actor is not None and link.actor.operator == operator and link.tenant == tenant:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await link.ws.send_json(message)

    async def end(self, link: Link) -> None:
        """The operator's link is gone: their robots are told (the lease ends there too: a command never
        outlives the link) and the relayed commands are audited as counts."""
        if link.actor is None:
            return
        for robot in {key.split(" ")[0] for key in link.relayed}:
            await self.relay(robot, link.actor.operator, {"type": "release"})
        if link.relayed:
            counts = ", ".join(f"{k} x{n}" for k, n in sorted(link.relayed.items()))
            await self.service.store.audit(
                "commands", tenant=link.tenant, actor=link.actor.operator, detail=counts, peer=link.peer
            )
