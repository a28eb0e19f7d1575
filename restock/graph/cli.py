"""`restock up`: bring a profile of the graph up as supervised processes on a confined DDS."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import yaml

from restock.graph.description import node_instances
from restock.graph.supervisor import Supervisor
from restock.params import ConfigError
from restock.paths import DEFAULT_STORE, store_file
from restock.rosenv import ros_environment
from restock.store.description import StoreError, load_store


def parse_param(text: str) -> tuple[str, str, object]:
    """NODE:KEY=VALUE (VALUE read as YAML) -> (node, key, value)."""
    try:
        node, rest = text.split(":", 1)
        key, raw = rest.split("=", 1)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--param {text!r}: expected NODE:KEY=VALUE") from None
    return node, key, yaml.safe_load(raw)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="restock up", description=__doc__)
    ap.add_argument("--profile", choices=("sim", "robot", "teleop"), default="sim")
    ap.add_argument("--store", default=DEFAULT_STORE, help="store description file or name under config/stores")
    ap.add_argument("--only", default="", help="comma-separated node names or kinds to start (default: all)")
    ap.add_argument("--namespace", default="/", help="robot namespace, e.g. /robot1")
    ap.add_argument("--domain-id", type=int, default=None, help="ROS_DOMAIN_ID (default: the environment's)")
    ap.add_argument("--log-dir", type=Path, default=None, help="where node logs go (default var/log/up-<time>)")
    ap.add_argument("--param", action="append", type=parse_param, default=[], metavar="NODE:KEY=VALUE")
    ap.add_argument(
        "--network",
        action="store_true",
        help="do not confine DDS to this machine (a robot whose nodes span machines; see README)",
    )
    ap.add_argument("--quiet", action="store_true", help="keep node output in the log files only")
    return ap


def up_main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    path = store_file(args.store)
    try:
        store = load_store(path)
        extra: dict[str, dict[str, object]] = {}
        for node, key, value in args.param:
            extra.setdefault(node, {})[key] = value
        only = [s for s in args.only.split(",") if s] or None
        instances = node_instances(args.profile, store, path, args.namespace, only, extra)
    except (StoreError, ConfigError) as err:
        print(f"restock up: {err}", file=sys.stderr)
        return 2
    env = ros_environment(args.domain_id, confine=not args.network)
    log_dir = args.log_dir or Path("var/log") / f"up-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    supervisor = Supervisor(instances, env, log_dir, echo=not args.quiet)
    return supervisor.run()
