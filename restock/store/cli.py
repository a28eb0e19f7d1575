"""`restock check-store FILE...`: validate store description files and print what is wrong."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from restock.paths import store_file
from restock.store.description import StoreError, load_store


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="restock check-store", description=__doc__)
    parser.add_argument("files", nargs="+", help="store description files (a path, or a name under config/stores/)")
    args = parser.parse_args(argv)
    failed = 0
    for name in args.files:
        try:
            store = load_store(Path(name) if "/" in name else store_file(name))
        except StoreError as err:
            print(f"error: {err}", file=sys.stderr)
            failed += 1
            continue
        print(
            f"{name}: ok ({store.name}: {len(store.lanes)} lanes in {len(store.case.rows)} rows, "
            f"{len(store.skus)} SKUs, {len(store.stock.locations)} stock locations, {len(store.cameras)} cameras)"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
