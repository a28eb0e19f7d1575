"""How long each hostile store file and sales log takes to be refused (goal: each well under 1 s).

The files are the ones an attacker tried (issue 22): a 28 KB YAML alias bomb standing for
3,000 x 3,000 lanes, 5,000-deep nesting written four ways, a Latin-1 byte, a duplicate key, a
file over the size budget; sales logs with an epoch of 1e300, quantities of 1_000 and in
Arabic-Indic digits, and a bad byte on line 99,000 of a 100,000-line log. For each: the time
the reader takes in this process (best of --repeats), the first line of its message, and the
wall time of the real command (`restock check-store` / `restock eval-planner --sales-log`,
interpreter start included) with its exit status. The shipped store and a good 100,000-line
log are timed too, as what an accepted file costs, and each command on a missing file, as what
starting it costs.

    .venv/bin/python bench/hostile_files.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout, not an installed copy

from restock.demand.saleslog import SalesLogError, read_sales_log
from restock.paths import SOURCE_ROOT, store_file
from restock.store.description import StoreError, load_store
from restock.testing.hostile_files import (
    DEEP_KINDS,
    alias_bomb,
    deep_nesting,
    sales_log_bad_byte,
    sales_log_lines,
    store_duplicate_key,
    store_not_utf8,
    write,
)
from restock.yamlfile import MAX_BYTES

STORE = load_store(store_file("corner_store.yaml"))


def store_files(folder: Path) -> dict[str, Path]:
    files = {
        "alias bomb 3,000 x 3,000": write(folder / "bomb.yaml", alias_bomb()),
        **{f"5,000 deep ({k})": write(folder / f"deep_{k}.yaml", deep_nesting(k)) for k in DEEP_KINDS},
        "Latin-1 byte": write(folder / "latin1.yaml", store_not_utf8()),
        "duplicate key": write(folder / "dup.yaml", store_duplicate_key()),
        "over the size budget": write(folder / "big.yaml", "a: [" + "1," * (MAX_BYTES // 2) + "1]\n"),
        "shipped corner store (ok)": store_file("corner_store.yaml"),
        "no such file (command start-up)": folder / "missing.yaml",
    }
    return files


def sales_logs(folder: Path) -> dict[str, Path]:
    good = sales_log_lines(100_000)
    bad_byte, _ = sales_log_bad_byte(100_000, bad_line=99_000)
    return {
        "epoch 1e300": write(folder / "e300.csv", "".join(good[:3]) + "1e300,cola_500,1,\n"),
        "quantity 1_000": write(folder / "underscore.csv", "".join(good[:3]) + "1784534500,cola_500,1_000,\n"),
        "quantity in Arabic-Indic digits": write(
            folder / "arabic.csv", "".join(good[:3]) + "1784534500,cola_500,\u0665,\n"
        ),
        "bad byte on line 99,000 of 100,000": write(folder / "badbyte.csv", bad_byte),
        "100,000 good lines (ok)": write(folder / "good.csv", "".join(good)),
        "no such log (command start-up)": folder / "missing.csv",
    }


def best_of(repeats: int, read: Callable[[], object]) -> tuple[float, str]:
    times, outcome = [], ""
    for _ in range(repeats):
        started = time.perf_counter()
        try:
            read()
            outcome = "accepted"
        except (StoreError, SalesLogError) as err:
            outcome = f"{type(err).__name__}: {str(err).splitlines()[0]}"
        times.append(time.perf_counter() - started)
    return min(times), outcome


def command(args: list[str]) -> tuple[float, int]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "restock.cli", *args], cwd=SOURCE_ROOT, capture_output=True, timeout=120, check=False
    )
    return time.perf_counter() - started, done.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"command: .venv/bin/python bench/hostile_files.py --repeats {args.repeats}")
    print(f"{'file':<36} {'bytes':>10} {'read s':>8} {'command s':>10} {'exit':>5}  message")
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rows: list[tuple[str, Path, Callable[[], object], list[str]]] = []
        for name, path in store_files(folder).items():
            rows.append((name, path, lambda p=path: load_store(p), ["check-store", str(path)]))
        for name, path in sales_logs(folder).items():
            rows.append(
                (
                    name,
                    path,
                    lambda p=path: read_sales_log(p, STORE),
                    ["eval-planner", "--sales-log", str(path), "--days", "1", "--no-plots"],
                )
            )
        for name, path, read, cli in rows:
            seconds, outcome = best_of(args.repeats, read)
            wall, status = command(cli) if outcome != "accepted" else (float("nan"), 0)
            if outcome != "accepted" and path.exists():
                worst = max(worst, seconds)
            message = outcome.replace(str(folder) + "/", "")
            print(
                f"{name:<36} {path.stat().st_size if path.exists() else 0:>10,} {seconds:>8.4f} {wall:>10.2f} {status:>5}  {message[:150]}"
            )
    print(f"slowest refusal in process: {worst:.4f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
