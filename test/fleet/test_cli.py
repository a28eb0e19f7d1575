"""`restock fleet` as a process: admin verbs set a fleet up, `serve` takes a robot's link and stops
cleanly on SIGTERM; a revoked robot is refused by the running service."""

from __future__ import annotations

import asyncio
import os
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

from fleet_helpers import handoff, wait_for

from restock.fleet.link import RobotLink
from restock.fleet.pgcluster import _free_port


def fleet(db: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "restock.cli", "fleet", *args, "--db", db], input=stdin,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_fleet_command_sets_up_serves_and_stops(fleet_db: str, tmp_path: Path) -> None:
    for args in (("add-tenant", "chain_a"), ("add-store", "sa1", "chain_a")):
        assert fleet(fleet_db, *args).returncode == 0
    added = fleet(fleet_db, "add-robot", "ra1", "sa1")
    assert added.returncode == 0, added.stderr
    credential = added.stdout.strip()
    assert credential.startswith("ra1:") and len(credential) > 40
    assert fleet(fleet_db, "add-operator", "alice", "chain_a", stdin="short\n").returncode == 2
    assert fleet(fleet_db, "add-operator", "alice", "chain_a", stdin="long-enough-pw\n").returncode == 0
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "restock.cli", "fleet", "serve", "--db", fleet_db, "--port", str(port),
         "--instance", "cli", "--tls-dir", str(tmp_path / "tls")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ.copy(),
    )  # fmt: skip
    try:
        ctx = None
        for _ in range(300):  # the certificate appears before the service listens
            if (tmp_path / "tls" / "teleop-selfsigned.crt").exists():
                ctx = ssl.create_default_context(cafile=str(tmp_path / "tls" / "teleop-selfsigned.crt"))
                break
            time.sleep(0.1)
        assert ctx is not None

        async def run() -> None:
            link = RobotLink(f"wss://127.0.0.1:{port}/robot/ws", credential, ctx, retry_s=0.2, max_retry_s=0.5)
            task = asyncio.create_task(link.run())
            link.send_handoff(handoff("h1"))
            await wait_for(lambda: link.connects >= 1 and not link.outbox, timeout=60)
            revoked = await asyncio.to_thread(fleet, fleet_db, "revoke-robot", "ra1")
            assert revoked.returncode == 0
            await wait_for(lambda: link.refusals >= 1, timeout=60)
            await link.stop()
            task.cancel()

        asyncio.run(run())
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, out
        assert "Traceback" not in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert fleet(fleet_db, "revoke-robot", "ra1").returncode == 1  # already revoked
    queue = fleet(fleet_db, "queue", "chain_a")
    assert queue.returncode == 0, queue.stderr
    lines = queue.stdout.splitlines()
    assert (
        lines[0].startswith("tenant chain_a: 1 open")
        and "sa1/ra1 unfamiliar_item lane=r0_l01" in lines[1]
        and "open" in lines[1]
    )
    assert "operator alice: offline, holding 0" in queue.stdout
    nowhere = fleet(f"host={tmp_path} port=5999 connect_timeout=2", "init-db")
    assert nowhere.returncode == 1 and "cannot use the database" in nowhere.stderr and "Traceback" not in nowhere.stderr
