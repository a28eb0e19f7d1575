"""End to end through the fleet service into the bridge's own teleop rules (restock.teleop.rules,
the core the teleop bridge node runs), as the robot's side would wire them: an operator on one
instance claims the robot's handoff, takes the bridge's lease, holds the deadman and moves; the
rules publish end-effector targets on the robot's port. When the operator's link goes, the service
tells the robot, the lease ends and no target follows: a command does not outlive the link."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import aiohttp
from fleet_helpers import FleetPair, Operator, linked_robot, next_of, wait_for

from restock.paths import store_file
from restock.store.description import load_store
from restock.teleop import protocol as P
from restock.teleop.records_out import AuditLog
from restock.teleop.rules import Conn, TeleopRules

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "teleop"))
from teleop_client import CollectingPort  # the bridge tests' port: the robot's topics as lists


def test_operator_through_the_fleet_drives_the_bridge_rules_and_the_link_ending_releases(
    fleet_pair: FleetPair, tmp_path: Path
) -> None:
    port = CollectingPort()
    audit = AuditLog(tmp_path / "bridge_audit.sqlite")
    rules = TeleopRules("ra1", load_store(store_file("corner_store.yaml")), {"alice": ()}, port, audit,
                        heartbeat_timeout_s=5.0)  # fmt: skip

    async def run() -> None:
        replies: list[tuple[str, dict]] = []

        def on_command(operator: str, body: dict) -> None:  # the robot's side: the bridge's parser and rules
            fx = rules.handle(Conn(f"fleet:{operator}", operator, "fleet"), P.parse_client_message(json.dumps(body)),
                              time.monotonic())  # fmt: skip
            for reply in [*fx.replies, *({"type": "error", "error": r.public} for r in fx.refusals if r.public)]:
                replies.append((operator, reply))
                asyncio.get_running_loop().create_task(robot.send_reply(operator, reply))

        robot, task, _ = await linked_robot(fleet_pair, 0, "ra1", "h1", on_command=on_command)
        async with aiohttp.ClientSession() as http:
            alice = Operator(fleet_pair, http, 1)
            await alice.login("alice")
            ws = await alice.ws()
            await ws.send_json({"type": "claim"})
            await next_of(ws, "claimed")

            async def command(body: dict) -> None:
                await ws.send_json({"type": "command", "robot": "ra1", "body": body})

            await command({"type": "claim"})  # the bridge's lease
            await wait_for(lambda: rules.holder_name() == "alice")
            for seq in range(1, 6):
                await command({"type": "heartbeat", "seq": seq})
                await command({"type": "pose", "seq": seq, "position": [0.0, 1.2 + 0.01 * seq, -0.3],
                               "orientation": [0, 0, 0, 1], "grip": True})  # fmt: skip
            await wait_for(lambda: len(port.targets) >= 4)
            assert rules.control.engaged
            await ws.close()  # alice's link to the fleet goes
            await wait_for(lambda: rules.holder_name() is None)  # the service told the robot: lease released
            moved = len(port.targets)
            assert not rules.control.engaged
            assert port.statuses[-1].control == "autonomy"
        await robot.stop()
        task.cancel()
        assert len(port.targets) == moved

    try:
        asyncio.run(run())
    finally:
        audit.close()
