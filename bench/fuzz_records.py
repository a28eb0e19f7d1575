"""records.decode against hostile input: how many inputs crash it (anything but RecordError; must be 0).

Per record type, seeded: mutated valid records (values of the wrong type, NaN, huge integers, lone
surrogates, deep nesting, cut or changed text) and raw bytes and text, from restock.testing.hostile,
plus the cases of issue 22's table. Prints the inputs tried, crashes (with the first few), accepted,
refused, the time and the command. Exits 1 on any crash.

    .venv/bin/python bench/fuzz_records.py [--per-kind 10000] [--seed 22]
"""

from __future__ import annotations

import argparse
import random
import shlex
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout, not an installed copy

from restock import records
from restock.testing import hostile


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-kind", type=int, default=10_000, help="inputs per record type")
    parser.add_argument("--seed", type=int, default=22)
    args = parser.parse_args(argv)
    print(f"command: .venv/bin/python bench/fuzz_records.py {shlex.join(sys.argv[1:] if argv is None else argv)}")
    print(f"{'record':<20} {'inputs':>8} {'crashes':>8} {'accepted':>9} {'refused':>8} {'seconds':>8}")
    totals: Counter[str] = Counter()
    crashes: list[str] = []
    started = time.perf_counter()
    for kind in sorted(records.RECORD_TYPES):
        rng = random.Random(f"{args.seed}-{kind}")
        counts: Counter[str] = Counter()
        t0 = time.perf_counter()
        inputs = [*hostile.table_cases(kind).values(), *hostile.fuzz_inputs(rng, kind, args.per_kind)]
        for text in inputs:
            try:
                records.decode(text, records.RECORD_TYPES[kind])
                counts["accepted"] += 1
            except records.RecordError:
                counts["refused"] += 1
            except Exception as err:  # the bug this bench looks for
                counts["crashes"] += 1
                if len(crashes) < 5:
                    crashes.append(f"{kind}: {type(err).__name__}: {err} on {text[:80]!r}")
        counts["inputs"] = len(inputs)
        totals.update(counts)
        print(
            f"{kind:<20} {counts['inputs']:>8} {counts['crashes']:>8} {counts['accepted']:>9} {counts['refused']:>8} "
            f"{time.perf_counter() - t0:>8.1f}"
        )
    elapsed = time.perf_counter() - started
    print(
        f"{'all':<20} {totals['inputs']:>8} {totals['crashes']:>8} {totals['accepted']:>9} {totals['refused']:>8} "
        f"{elapsed:>8.1f}"
    )
    print(
        f"inputs: {totals['inputs']}, crashes (not RecordError): {totals['crashes']}, "
        f"accepted: {totals['accepted']}, refused: {totals['refused']}, time: {elapsed:.1f} s"
    )
    for line in crashes:
        print("crash:", line)
    return 1 if totals["crashes"] else 0


if __name__ == "__main__":
    sys.exit(main())
