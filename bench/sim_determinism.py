"""Same seed, same store day? The store day in lockstep on a quiet machine and beside a CPU hog.

Runs `restock sim` with one seed twice: once with the machine otherwise idle, once beside
--hogs busy loops (separate processes, stopped with the run); optionally a third time without
lockstep (--racing, the simulator racing the controllers) beside the same hogs. Prints each
run's summary rows side by side, whether the lockstep runs agree row by row (sales, moved, tasks
identical; cycle-time median within 1%), the wall time of each, and the lockstep figures the
simulator logged (phases, mean wait per phase, timeouts).

It also runs bench/arm_cycle.py as it is run by default (the same arm, one container per task, no
DDS, no wrist looks: a day's tasks carry several containers, with a look after each) on the store
and prints the in-day cycle median against its median (goal: within 10%), and the
load average beside each run (the lockstep runs must agree whatever the load).

Usage: .venv/bin/python bench/sim_determinism.py [--days 0.1] [--seed 7] [--hogs 2] [--racing]
       [--store corner_store] [--arm-cycle-restocks 30] [-- extra restock sim arguments]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROWS = (
    "load average",
    "sim hours",
    "sales",
    "lost sales",
    "containers moved",
    "tasks",
    "cycle time median s",
    "cycle time p90 s",
    "handoffs raised",
    "handoffs resolved",
    "operator minutes",
    "sim events",
)
EXACT = ("sales", "lost sales", "containers moved", "tasks", "handoffs raised", "handoffs resolved")


def _busy(stop: multiprocessing.synchronize.Event) -> None:  # type: ignore[name-defined]
    x = 0
    while not stop.is_set():
        for _ in range(100_000):
            x += 1


def run_day(args: argparse.Namespace, out: Path, hogs: int, lockstep: bool) -> tuple[dict[str, str], float, str]:
    cmd = [str(ROOT / ".venv/bin/restock"), "sim", "--store", args.store, "--days", str(args.days)]
    cmd += ["--seed", str(args.seed), "--start", args.start, "--out", str(out), *args.extra]
    if not lockstep:
        cmd.append("--no-lockstep")
    stop = multiprocessing.Event()
    loops = [multiprocessing.Process(target=_busy, args=(stop,), daemon=True) for _ in range(hogs)]
    for p in loops:
        p.start()
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, cwd=ROOT)
    finally:
        stop.set()
        for p in loops:
            p.join(timeout=5)
    wall = time.monotonic() - t0
    rows = {"load average": " / ".join(f"{x:.1f}" for x in os.getloadavg())}
    for line in proc.stdout.splitlines():
        for row in ROWS:
            if line.startswith(row + "  "):
                rows[row] = line[len(row) :].strip()
    sim_log = out / "learned" / "logs" / "sim.log"
    lockstep_line = ""
    if sim_log.exists():
        found = re.findall(r"lockstep: \d+ phases.*", sim_log.read_text())
        lockstep_line = found[-1] if found else ""
    if proc.returncode != 0:
        print(f"  ! {shlex.join(cmd)} exited {proc.returncode}: {proc.stderr[-400:]}")
    return rows, wall, lockstep_line


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", default="corner_store")
    ap.add_argument("--days", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--start", default="2026-07-06T07:00:00")
    ap.add_argument("--hogs", type=int, default=2, help="busy-loop processes beside the second run")
    ap.add_argument("--racing", action="store_true", help="also run without lockstep beside the hogs")
    ap.add_argument("--timeout", type=float, default=3600.0)
    ap.add_argument("--arm-cycle-restocks", type=int, default=30, help="bench/arm_cycle.py's tasks (0: skip it)")
    ap.add_argument("extra", nargs="*", help="more restock sim arguments (after --)")
    args = ap.parse_args()
    print(f"$ {shlex.join([sys.executable, *sys.argv])}")
    runs = [("quiet", 0, True), (f"{args.hogs} hogs", args.hogs, True)]
    if args.racing:
        runs.append((f"racing, {args.hogs} hogs", args.hogs, False))
    results = {}
    with tempfile.TemporaryDirectory(prefix="restock-determinism-") as tmp:
        for label, hogs, lockstep in runs:
            print(f"running: {label} ...", flush=True)
            results[label] = run_day(args, Path(tmp) / label.replace(" ", "_").replace(",", ""), hogs, lockstep)
    width = max(len(r) for r in ROWS)
    print(f"\n{'':<{width}}  " + "  ".join(f"{label:<28}" for label in results))
    for row in ROWS:
        print(f"{row:<{width}}  " + "  ".join(f"{results[label][0].get(row, '-'):<28}" for label in results))
    print(f"{'wall s':<{width}}  " + "  ".join(f"{results[label][1]:<28.0f}" for label in results))
    a, b = results[runs[0][0]][0], results[runs[1][0]][0]
    same = all(a.get(r) == b.get(r) for r in EXACT)
    ca, cb = a.get("cycle time median s"), b.get("cycle time median s")
    cycle_ok = ca is not None and cb is not None and abs(float(ca) - float(cb)) <= 0.01 * float(ca)
    print(f"\nlockstep runs agree on {', '.join(EXACT)}: {'yes' if same else 'NO'}")
    print(f"cycle-time median within 1%: {'yes' if cycle_ok else 'NO'} ({ca} vs {cb})")
    for label, (_, _, line) in results.items():
        if line:
            print(f"{label}: {line}")
    bench = arm_cycle_median(args) if args.arm_cycle_restocks else None
    if bench is not None and ca is not None:
        ratio = float(ca) / bench
        print(
            f"in-day cycle median {ca} s vs bench/arm_cycle.py's {bench:.2f} s ({args.arm_cycle_restocks} one-container"
            f" tasks): {ratio:.2f}x, within 10%: {'yes' if abs(ratio - 1) <= 0.1 else 'NO'}"
        )
    return 0 if same and cycle_ok else 1


def arm_cycle_median(args: argparse.Namespace) -> float | None:
    """bench/arm_cycle.py's median container cycle on the same store (its default run)."""
    cmd = [sys.executable, str(ROOT / "bench" / "arm_cycle.py"), "--store", args.store]
    cmd += ["--restocks", str(args.arm_cycle_restocks), "--seed", str(args.seed)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, cwd=ROOT)
    found = re.search(r"cycle time \(sim s\): median ([0-9.]+)", proc.stdout)
    if found is None:
        print(f"  ! {shlex.join(cmd)} exited {proc.returncode}: {proc.stderr[-400:]}")
        return None
    return float(found.group(1))


if __name__ == "__main__":
    raise SystemExit(main())
