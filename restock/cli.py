"""The `restock` command: one entry point, each subcommand in the module of its room.

Each subcommand is ``module:function`` taking the remaining argv and returning an exit status,
so a room adds its command here without touching the others.
"""

from __future__ import annotations

import importlib
import sys

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "up": ("restock.graph.cli:up_main", "bring a profile of the graph up as supervised processes"),
    "sim": ("restock.day.day:main", "run the simulated store, headless (the main job)"),
    "check-store": ("restock.store.cli:main", "validate store description files"),
    "gazebo-world": ("restock.sim.gazebo:main", "write the Gazebo SDF world and bridge config for a store"),
    "make-dataset": ("restock.sim.dataset_render:main", "render a YOLO dataset from the simulator"),
    "train-detector": (
        "restock.vision.train:main",
        "train (or --from shipped: fine-tune) the shelf detector with Ultralytics and export ONNX",
    ),
    "eval-detector": (
        "restock.vision.evaluate:main",
        "mAP50, false empties per image, per-lane empty P/R/F1 (foreign datasets: --class-map)",
    ),
    "train-lane-front": (
        "restock.vision.train_lane_front:main",
        "train the lane-front classifier (unfamiliar items, gaps) on crops of sim datasets",
    ),
    "recover-mcap": ("restock.recording.recover:main", "make a recording cut off by a crash readable again"),
    "eval-planner": ("restock.planning.evaluate:main", "compare restock policies on a store model, with plots"),
    "fleet-prior": (
        "restock.demand.prior:main",
        "a new store's demand prior from other stores' logs or generated demand",
    ),
    "fleet": ("restock.fleet.cli:main", "the fleet service (HTTPS/WSS on PostgreSQL) and its admin verbs"),
    "fleet-plan": ("restock.fleet.sizing:main", "operators needed for a target wait: M/G/c simulation beside Erlang C"),
    "teleop-passwd": (
        "restock.teleop.auth:passwd_main",
        "print an operators-file entry (scrypt hash) for a teleop operator",
    ),
}


def _usage() -> str:
    width = max(len(n) for n in SUBCOMMANDS)
    lines = ["usage: restock COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name.ljust(width)}  {text}" for name, (_, text) in SUBCOMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in SUBCOMMANDS:
        print(f"restock: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    target = SUBCOMMANDS[name][0]
    module_name, func_name = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name == module_name:
            print(f"restock {name}: not available in this build ({module_name} is missing)", file=sys.stderr)
            return 2
        raise
    return int(getattr(module, func_name)(rest) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
