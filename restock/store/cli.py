"""`restock check-store FILE... [--draw OUT.png]`: validate store descriptions and print what is wrong.

A store passes when it is well formed and the robot can serve it (restock.store.serviceable: the
arm reaches every lane and stock location, a camera judges every lane's front, the back room
covers the demand between refills): the same checks every node runs at start.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from restock.paths import store_file
from restock.store.description import Store, StoreError, load_store
from restock.store.serviceable import Problem, UnserviceableStore


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="restock check-store", description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", help="store description files (a path, or a name under config/stores/)")
    parser.add_argument(
        "--draw",
        metavar="OUT.png",
        help="also draw the store (front, rack and top views; failing lanes outlined in red); one store file only",
    )
    args = parser.parse_args(argv)
    if args.draw and len(args.files) != 1:
        parser.error("--draw takes one store file")
    failed = 0
    for name in args.files:
        found: list[Problem] = []
        try:
            store: Store = load_store(Path(name) if "/" in name else store_file(name))
        except UnserviceableStore as err:
            store, found = err.store, err.problems
            print(f"error: {err.source}: the robot cannot serve this store:", file=sys.stderr)
            for problem in found:
                print(f"  {problem}", file=sys.stderr)
            failed += 1
        except StoreError as err:
            print(f"error: {err}", file=sys.stderr)
            failed += 1
            continue
        else:
            print(
                f"{name}: ok ({store.name}: {len(store.lanes)} lanes in {len(store.case.rows)} rows, "
                f"{len(store.skus)} SKUs, {len(store.stock.locations)} stock locations, {len(store.cameras)} cameras)"
            )
        if args.draw:
            from restock.store.draw import draw_store  # matplotlib only when asked

            print(f"{name}: drawn to {draw_store(store, found, args.draw)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
