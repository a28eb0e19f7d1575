"""Fast DDS shared-memory segments left in /dev/shm by processes that died without cleaning up.

A segment (or its port, lock or semaphore file) is stale when no live process has it open or
mapped; removing it is what ``fastdds shm clean`` does, which the PyPI wheels do not ship.
"""

from __future__ import annotations

import os
from pathlib import Path

SHM = Path("/dev/shm")
FASTDDS_PREFIXES = ("fastdds_", "sem.fastdds_")


def fastdds_files(shm: Path = SHM) -> set[Path]:
    if not shm.is_dir():
        return set()
    return {p for p in shm.iterdir() if p.name.startswith(FASTDDS_PREFIXES)}


def _mapped(pid_dir: Path, prefix: str) -> set[Path]:
    """The files under ``prefix`` one process has mapped (raises OSError when it is gone)."""
    out = set()
    for line in (pid_dir / "maps").read_text().splitlines():
        idx = line.find(prefix)
        if idx >= 0:
            out.add(Path(line[idx:].split(" (deleted)")[0].strip()))
    return out


def files_in_use(shm: Path = SHM) -> set[Path]:
    """Every /dev/shm path some live process has mapped or open."""
    used: set[Path] = set()
    prefix = str(shm) + "/"
    for pid_dir in Path("/proc").iterdir():
        if not pid_dir.name.isdigit():
            continue
        try:
            used |= _mapped(pid_dir, prefix)
            for fd in (pid_dir / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith(prefix):
                    used.add(Path(target))
        except OSError:
            continue  # the process ended while we looked, or is not ours to read
    return used


def fastdds_files_of(pid: int, shm: Path = SHM) -> set[Path]:
    """The Fast DDS files one process has mapped now (empty if it is gone)."""
    try:
        return {p for p in _mapped(Path(f"/proc/{pid}"), str(shm) + "/") if p.name.startswith(FASTDDS_PREFIXES)}
    except OSError:
        return set()


def stale_fastdds_files(shm: Path = SHM) -> set[Path]:
    return fastdds_files(shm) - files_in_use(shm)


def clean_stale_fastdds_files(shm: Path = SHM) -> list[Path]:
    removed = []
    for path in sorted(stale_fastdds_files(shm)):
        try:
            path.unlink()
            removed.append(path)
        except FileNotFoundError:
            pass
    return removed
