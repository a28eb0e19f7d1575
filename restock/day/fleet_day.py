"""`restock sim --fleet N`: N store days at once on one fleet, served by one pool of scripted operators.

A throwaway PostgreSQL cluster (restock.fleet.pgcluster), one fleet service (HTTPS/WSS on
127.0.0.1), one tenant with N stores and a robot each, and N store days, each a `restock sim` of its
own (its own graph on its own ROS domain, its own run folder) whose teleop bridge links out to the
fleet with its robot's credential. M scripted operators (restock.day.operator_stand_in.FleetOperator)
work the fleet's one queue through its console API with heavy-tailed (lognormal) service times. The
store days run at a fixed real-time factor so that the operators' wall-clock times mean the same sim
time in every store. At the end: each store's day table, then per store and for the fleet what the
fleet's database saw (handoffs routed, claims per handoff, resolved, delivered back to the robot,
waits), and per operator what they did.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psycopg

from restock.day.operator_stand_in import FleetOperator
from restock.paths import store_file

TENANT = "fleet_day"
# The stores of a fleet day, in order, all shipped (config/stores): an installed package has them too.
FLEET_STORES = ("corner_store", "station_kiosk", "walk_in_cooler", "deli_fridge")
# A day's table lines printed per store (the rest are in each store's own report).
STORE_LINES = ("sim hours", "sales", "lost sales", "containers moved", "handoffs raised", "handoffs resolved",
               "tasks without operator")  # fmt: skip


@dataclass
class FleetStoreDay:
    label: str
    store_path: Path
    robot: str
    credential_file: Path
    out_dir: Path
    proc: subprocess.Popen | None = None


def fleet_store_paths(n: int) -> list[Path]:
    if not 1 <= n <= len(FLEET_STORES):
        raise ValueError(f"--fleet takes 1..{len(FLEET_STORES)} stores")
    out = []
    for name in FLEET_STORES[:n]:
        path = store_file(name)
        if not path.is_file():
            raise ValueError(f"no store file {path}")
        out.append(path)
    return out


async def _set_up_fleet(conninfo: str, days: list[FleetStoreDay], operators: dict[str, str]) -> None:
    from restock.fleet.accounts import Accounts
    from restock.fleet.db import Pool, create_schema

    await create_schema(conninfo)
    pool = Pool(conninfo, 1)
    accounts = Accounts(pool, "fleet-day")
    try:
        await accounts.add_tenant(TENANT)
        for day in days:
            await accounts.add_store(day.label, TENANT)
            day.credential_file.write_text(await accounts.add_robot(day.robot, day.label) + "\n")
            day.credential_file.chmod(0o600)
        for name, password in operators.items():
            await accounts.add_operator(name, TENANT, password)
    finally:
        await pool.close()


def _child_args(args: argparse.Namespace, day: FleetStoreDay, i: int, fleet_url: str, cafile: Path) -> list[str]:
    """The store day's own `restock sim`, its bridge linked out to the fleet (no local operator)."""
    return [
        sys.executable, "-m", "restock.cli", "sim", "--store", str(day.store_path), "--days", str(args.days),
        "--seed", str(args.seed + i), "--start", args.start_time, "--rtf", str(args.real_time_factor),
        "--camera-period", str(args.camera_period_s), "--events-per-hour", str(args.events_per_hour),
        "--initial-fill", str(args.initial_fill), "--no-operator", "--out", str(day.out_dir),
        "--fleet-url", fleet_url, "--fleet-credential-file", str(day.credential_file), "--fleet-ca-file", str(cafile),
    ]  # fmt: skip


def fleet_figures(conninfo: str, robots: list[str], tenant: str = TENANT) -> dict[str, dict[str, object]]:
    """Per robot and for the fleet, from the fleet's database: handoffs routed, how many claims each
    took (a release and a new claim is two), resolved, delivered to the robot, the waits (raised to
    first claimed, wall seconds)."""
    sql = (
        "SELECT h.robot_id, h.id, h.state, h.delivered_at IS NOT NULL,"
        " extract(epoch from (SELECT min(c.claimed_at) FROM claims c WHERE c.handoff_id = h.id) - h.raised_at)::float8,"
        " (SELECT count(*) FROM claims c WHERE c.handoff_id = h.id)"
        " FROM handoffs h WHERE h.tenant_id = %s"
    )
    with psycopg.connect(conninfo, autocommit=True) as conn:
        rows = conn.execute(sql, (tenant,)).fetchall()
    out: dict[str, dict[str, object]] = {}
    for name, mine in [*((r, [x for x in rows if x[0] == r]) for r in robots), ("fleet", rows)]:
        waits = np.array([x[4] for x in mine if x[4] is not None], dtype=float)
        out[name] = {
            "handoffs routed": len(mine),
            "claimed once": sum(1 for x in mine if x[5] == 1),
            "claimed more than once": sum(1 for x in mine if x[5] > 1),
            "never claimed": sum(1 for x in mine if x[5] == 0),
            "resolved": sum(1 for x in mine if x[2] == "resolved"),
            "delivered to the robot": sum(1 for x in mine if x[3]),
            "wait median s": round(float(np.median(waits)), 1) if len(waits) else None,
            "wait p95 s": round(float(np.percentile(waits, 95)), 1) if len(waits) else None,
            "wait max s": round(float(waits.max()), 1) if len(waits) else None,
        }
    return out


class SimClocks:
    """Each robot's latest sim time as its bridge reports it in its status (every second in a fleet
    day), read from the fleet's database; one connection per thread (each operator has its own)."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self._local = threading.local()

    def __call__(self, robot: str) -> float | None:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = psycopg.connect(self.conninfo, autocommit=True)
        row = conn.execute("SELECT (status->>'sim_time')::float8 FROM robots WHERE id=%s", (robot,)).fetchone()
        return None if row is None else row[0]


def sim_waits(conninfo: str, handled: list[dict], tenant: str = TENANT) -> dict[str, list[float]]:
    """Raised -> claimed on the store's own clock (sim s), per robot: the request's stamp against the
    robot's sim time its operator read at the claim (its status, about a wall second old)."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        stamps = dict(conn.execute("SELECT id, (request->>'stamp')::float8 FROM handoffs WHERE tenant_id=%s",
                                   (tenant,)).fetchall())  # fmt: skip
    waits: dict[str, list[float]] = {}
    for h in handled:
        if h.get("claimed_sim") is not None and h["id"] in stamps:
            waits.setdefault(h["robot"], []).append(max(0.0, h["claimed_sim"] - stamps[h["id"]]))
    return waits


def _stop_days(days: list[FleetStoreDay], wait_s: float = 180.0) -> None:
    """Store days still running (an interrupted fleet day) stop on SIGTERM: each brings its graph down
    (slow on a loaded machine: all are told first, then waited for); one that will not, is killed."""
    running = [d.proc for d in days if d.proc is not None and d.proc.poll() is None]
    for proc in running:
        proc.terminate()
    deadline = time.monotonic() + wait_s
    for proc in running:
        try:
            proc.wait(max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _lognormal(mean_s: float, cv: float, rng: np.random.Generator) -> float:
    sigma = math.sqrt(math.log(1.0 + cv * cv))
    return float(rng.lognormal(math.log(mean_s) - sigma * sigma / 2.0, sigma))


def run_fleet(args: argparse.Namespace) -> int:
    from restock.day.day import build_parser, print_table
    from restock.fleet.pgcluster import PgCluster
    from restock.fleet.service import FleetConfig, FleetService
    from restock.teleop.tls import self_signed, server_context

    try:
        paths = fleet_store_paths(args.fleet)
    except ValueError as err:
        print(f"restock sim: {err}", file=sys.stderr)
        return 2
    # A fleet day's own defaults where the store day's were left: store hours, a fixed pace (the operators
    # act in wall time), and events often enough for a short day to need a person now and then.
    plain = build_parser().parse_args([])
    if args.start_time == plain.start_time:
        args.start_time = "2026-07-06T08:00:00"
    if args.real_time_factor == plain.real_time_factor:
        args.real_time_factor = 5.0
    if args.events_per_hour == plain.events_per_hour:
        args.events_per_hour = 30.0
    if args.initial_fill == plain.initial_fill:
        args.initial_fill = 0.7  # the robots have work of their own while handoffs wait
    if args.days == plain.days:
        args.days = 0.02  # ~29 sim-minutes: three graphs on a small machine run at a few times real time
    if args.camera_period_s == plain.camera_period_s:
        args.camera_period_s = 60.0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a SIGTERM still stops the store days and the rest
    out: Path = args.out_dir
    (out / "fleet").mkdir(parents=True, exist_ok=True)
    days = [
        FleetStoreDay(
            f"s{i + 1}_{p.stem}", p, f"robot{i + 1}", out / "fleet" / f"robot{i + 1}.credential", out / p.stem
        )
        for i, p in enumerate(paths)
    ]
    operators = {f"operator{k + 1}": secrets.token_urlsafe(18) for k in range(args.fleet_operators)}
    rtf = args.real_time_factor
    wall = time.monotonic()
    with PgCluster() as cluster:
        asyncio.run(_set_up_fleet(cluster.conninfo, days, operators))
        cert, key = self_signed(out / "fleet" / "tls")
        service = FleetService(FleetConfig(port=0, ssl_context=server_context(cert, key), instance="fleet-day"),
                               cluster.conninfo)  # fmt: skip
        port = service.start()
        url = f"wss://127.0.0.1:{port}/robot/ws"
        print(f"restock sim --fleet: fleet service https://127.0.0.1:{port}/ on {cluster.conninfo}; "
              f"{len(days)} stores, {len(operators)} operators, x{rtf:g} real time", file=sys.stderr)  # fmt: skip
        rng = np.random.default_rng(args.seed)
        # A person's time on a handoff in sim seconds (lognormal: heavy-tailed) of the store's own clock.
        clocks = SimClocks(cluster.conninfo)
        pool = [
            FleetOperator(f"https://127.0.0.1:{port}", name, pw, cert,
                          lambda: _lognormal(args.fleet_service_s, args.fleet_service_cv, rng),
                          out / "fleet" / "operators.log", sim_clock=clocks, pace=rtf).start()
            for name, pw in operators.items()
        ]  # fmt: skip
        status = 0
        try:
            for i, day in enumerate(days):
                log = (out / "fleet" / f"{day.label}.log").open("w")
                day.proc = subprocess.Popen(_child_args(args, day, i, url, cert), stdout=log, stderr=subprocess.STDOUT,
                                            env=os.environ.copy())  # fmt: skip
            for day in days:
                assert day.proc is not None
                status = status or day.proc.wait()
            # What the operators hold now is still resolved and delivered if its robot is up: the days are over.
        finally:
            _stop_days(days)
            for op in pool:
                op.stop()
            figures = fleet_figures(cluster.conninfo, [d.robot for d in days])
            waits = sim_waits(cluster.conninfo, [h for op in pool for h in op.handled])
            for robot, column in [*((d.robot, figures[d.robot]) for d in days), ("fleet", figures["fleet"])]:
                mine = np.array([w for ws in waits.values() for w in ws] if robot == "fleet" else waits.get(robot, []))
                column["wait sim median s"] = round(float(np.median(mine)), 1) if len(mine) else None
                column["wait sim p95 s"] = round(float(np.percentile(mine, 95)), 1) if len(mine) else None
            service.stop()
    print(f"\nrestock sim --fleet {len(days)}: {args.days:g} day(s) from {args.start_time}, seed {args.seed}, "
          f"x{rtf:g} real time, wall {time.monotonic() - wall:.0f} s")  # fmt: skip
    tables: dict[str, dict[str, object]] = {}
    for day in days:
        try:
            column = next(iter(json.loads((day.out_dir / "report" / "summary.json").read_text()).values()))
        except (OSError, ValueError, StopIteration):
            column = {"sim hours": "no report"}
        tables[day.label] = {k: column.get(k) for k in STORE_LINES} | figures[day.robot]
    tables["fleet"] = figures["fleet"]
    print_table(tables)
    for op in pool:
        busy = sum(h["resolved"] - h["claimed"] for h in op.handled)
        sim = sum(h["service_sim_s"] for h in op.handled)
        print(f"{op.name}: {len(op.handled)} handoffs, busy {busy:.0f} wall s, {sim / 60:.1f} sim min held")
    waits = figures["fleet"]
    print(
        f"waits: wall seconds, and sim seconds of the store's clock; store days: {', '.join(str(d.out_dir) for d in days)}"
    )
    (out / "fleet" / "summary.json").write_text(json.dumps({"tables": tables, "operators": {
        op.name: op.handled for op in pool}, "fleet": waits}, indent=2, default=str))  # fmt: skip
    return status
