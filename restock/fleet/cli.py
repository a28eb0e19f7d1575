"""`restock fleet`: serve the fleet service, and the administrator's verbs on its database.

    restock fleet serve --db CONNINFO [--port 8444] [--instance NAME] [--tls-cert F --tls-key F]
    restock fleet init-db --db CONNINFO
    restock fleet add-tenant|add-store|add-robot|revoke-robot|add-operator|disable-operator ... --db CONNINFO
    restock fleet queue TENANT --db CONNINFO

``--db`` defaults to $RESTOCK_FLEET_DB. ``serve --throwaway-db`` starts a temporary PostgreSQL
cluster (removed at exit) for trying the service out. The service binds to 127.0.0.1 unless told
otherwise, and refuses plain HTTP anywhere but loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import logging
import os
import signal
import sys
from pathlib import Path

import psycopg

from restock.fleet.accounts import Accounts
from restock.fleet.db import Pool, create_schema
from restock.fleet.pgcluster import PgCluster
from restock.fleet.service import FleetConfig, FleetService
from restock.fleet.store import FleetStore
from restock.teleop.tls import self_signed, server_context


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="restock fleet", description="the fleet service and its database")
    sub = p.add_subparsers(dest="verb", required=True)

    def verb(name: str, text: str, *args: str) -> argparse.ArgumentParser:
        v = sub.add_parser(name, help=text)
        v.add_argument("--db", default=os.environ.get("RESTOCK_FLEET_DB"), help="libpq conninfo (or $RESTOCK_FLEET_DB)")
        for a in args:
            v.add_argument(a)
        return v

    s = verb("serve", "serve HTTPS/WSS")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8444)
    s.add_argument("--instance", default=f"fleet-{os.getpid()}")
    s.add_argument("--tls-cert", type=Path)
    s.add_argument("--tls-key", type=Path)
    s.add_argument("--tls-dir", type=Path, default=Path("var/fleet/tls"), help="self-signed certificate folder")
    s.add_argument("--throwaway-db", action="store_true", help="a temporary PostgreSQL cluster, removed at exit")
    verb("init-db", "create the fleet's tables")
    verb("add-tenant", "add a tenant (a chain)", "tenant")
    verb("add-store", "add a store of a tenant", "store", "tenant")
    verb("add-robot", "add a robot to a store; prints its credential once", "robot", "store")
    verb("revoke-robot", "revoke a robot's credential (its link is cut at once)", "robot")
    verb("queue", "print a tenant's queue in serving order, its operators and robots (a supervisor's look)", "tenant")
    verb("disable-operator", "stop an operator's logins and end their sessions at once", "name")
    verb("add-operator", "add an operator of a tenant (password from the terminal or stdin)", "name", "tenant")
    return p


async def _admin(args: argparse.Namespace) -> int:
    await create_schema(args.db)
    pool = Pool(args.db, 1)
    accounts = Accounts(pool, "admin")
    try:
        if args.verb == "add-tenant":
            await accounts.add_tenant(args.tenant)
        elif args.verb == "add-store":
            await accounts.add_store(args.store, args.tenant)
        elif args.verb == "add-robot":
            print(await accounts.add_robot(args.robot, args.store))
        elif args.verb == "revoke-robot":
            if not await accounts.revoke_robot(args.robot):
                print(f"restock fleet: no live robot {args.robot}", file=sys.stderr)
                return 1
        elif args.verb == "queue":
            print_view(await FleetStore(pool, "admin").queue_view(args.tenant))
        elif args.verb == "disable-operator":
            if not await accounts.disable_operator(args.name):
                print(f"restock fleet: no enabled operator {args.name}", file=sys.stderr)
                return 1
        elif args.verb == "add-operator":
            password = getpass.getpass("password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
            if len(password) < 8:
                print("restock fleet: use at least 8 characters", file=sys.stderr)
                return 2
            await accounts.add_operator(args.name, args.tenant, password)
    finally:
        await pool.close()
    return 0


def print_view(view: dict) -> None:
    print(f"tenant {view['tenant']}: {view['waits']['open']} open, longest wait {view['waits']['longest_s']:.0f} s,"
          f" median {view['waits']['median_s']:.0f} s")  # fmt: skip
    for i, h in enumerate(view["handoffs"], 1):
        who = f" by {h['claimed_by']}" if h["claimed_by"] else ""
        print(f"  {i:>3}. #{h['id']} {h['store']}/{h['robot']} {h['kind']} lane={h['lane_id']} "
              f"{h['blocked_sales_per_h']:.1f} sales/h, waiting {h['waiting_s']:.0f} s, {h['state']}{who}")  # fmt: skip
    for o in view["operators"]:
        print(f"  operator {o['name']}: {'online' if o['online'] else 'offline'}, holding {o['holding']},"
              f" resolved {o['resolved_last_hour']} and busy {o['busy_s_last_hour']:.0f} s in the last hour")  # fmt: skip
    for r in view["robots"]:
        seen = "never" if r["seen_s_ago"] is None else f"{r['seen_s_ago']:.0f} s ago"
        print(f"  robot {r['id']} ({r['store']}): {'linked' if r['linked'] else 'not linked'}, last heard {seen}")


async def _serve(args: argparse.Namespace, conninfo: str) -> int:
    await create_schema(conninfo)
    if args.tls_cert and args.tls_key:
        cert, key = args.tls_cert, args.tls_key
    else:
        cert, key = self_signed(args.tls_dir, ("localhost", "127.0.0.1", args.host))
    config = FleetConfig(host=args.host, port=args.port, ssl_context=server_context(cert, key), instance=args.instance)
    service = FleetService(config, conninfo)
    task = asyncio.create_task(service.serve())
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: service.request_stop() if service.bound_port else task.cancel())
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except psycopg.OperationalError as err:  # no database there, or it refused us: one line, not a traceback
        print(f"restock fleet: cannot use the database: {str(err).strip().splitlines()[0][:300]}", file=sys.stderr)
        return 1


def _main(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.verb == "serve" and args.throwaway_db:
        with PgCluster() as cluster:
            print(f"restock fleet: throwaway database {cluster.conninfo}", flush=True)
            return asyncio.run(_serve(args, cluster.conninfo))
    if not args.db:
        print("restock fleet: give --db CONNINFO or set RESTOCK_FLEET_DB", file=sys.stderr)
        return 2
    if args.verb == "serve":
        return asyncio.run(_serve(args, args.db))
    if args.verb == "init-db":
        asyncio.run(create_schema(args.db))
        return 0
    return asyncio.run(_admin(args))
