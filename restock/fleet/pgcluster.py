"""A throwaway PostgreSQL cluster in a folder: initdb, pg_ctl start on a unix socket, stop, remove.

For the tests, the benchmarks and a development fleet service; production points the service at a
real database. The cluster listens on a unix socket in its own folder only (no TCP at all), so
nothing of it is reachable from outside this machine. initdb refuses to run as root: as root the
cluster belongs to the ``postgres`` user and its folder lives under /tmp (pytest's folders under
/tmp/pytest-of-root are closed to other users). Each folder names the process that made it; a
cluster whose maker died without stopping it (killed by a timeout) is stopped and removed by the
next start, so none outlives its run for long.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

PG_BIN_CANDIDATES = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin")


class ClusterError(RuntimeError):
    pass


def pg_bin() -> Path:
    """The folder of initdb and pg_ctl (Debian's postgresql package puts them off PATH)."""
    for folder in (os.environ.get("RESTOCK_PG_BIN"), *PG_BIN_CANDIDATES):
        if folder and (Path(folder) / "initdb").exists():
            return Path(folder)
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise ClusterError("no initdb: install Debian's postgresql package (scripts/setup.sh installs it)")


FOLDER_PREFIX = "restock-pg-"
OWNER_FILE = "owner.pid"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def sweep_orphans(parent: Path = Path("/tmp")) -> list[Path]:
    """Stop and remove throwaway clusters whose maker is gone; returns their folders."""
    swept = []
    for folder in parent.glob(f"{FOLDER_PREFIX}*"):
        try:
            owner = int((folder / OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue  # not ours, or still being made
        if _alive(owner):
            continue
        cluster = PgCluster()
        cluster.folder, cluster.started = folder, (folder / "db" / "postmaster.pid").exists()
        if os.geteuid() == 0:
            cluster._as = ["runuser", "-u", "postgres", "--"]
        cluster.stop()
        swept.append(folder)
    return swept


def _free_port() -> int:
    # The port only names the socket file (.s.PGSQL.<port>); no TCP listener is opened.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgCluster:
    """``with PgCluster() as pg: psycopg.connect(pg.conninfo)``; stopped and removed at exit."""

    def __init__(self, user: str = "restock", dbname: str = "restock") -> None:
        self.user, self.dbname = user, dbname
        self.port = _free_port()
        self.folder: Path | None = None
        self._as: list[str] = []
        self.started = False

    @property
    def conninfo(self) -> str:
        assert self.folder is not None, "cluster not started"
        return f"host={self.folder} port={self.port} user={self.user} dbname={self.dbname}"

    def _run(self, *args: str, timeout: float = 60.0) -> str:
        result = subprocess.run([*self._as, *args], capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise ClusterError(f"{Path(args[0]).name} failed: {(result.stderr or result.stdout).strip()[-600:]}")
        return result.stdout

    def start(self) -> PgCluster:
        bin_ = pg_bin()
        sweep_orphans()
        self.folder = Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX, dir="/tmp"))
        (self.folder / OWNER_FILE).write_text(str(os.getpid()))
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        data = self.folder / "db"
        self._run(str(bin_ / "initdb"), "-D", str(data), "-A", "trust", "-U", self.user, "-E", "UTF8", "--no-sync")
        # fsync off: a throwaway cluster need not survive a power cut, and commits stop waiting for the disk.
        options = f"-p {self.port} -k {self.folder} -c listen_addresses='' -c fsync=off -c max_connections=200"
        self._run(str(bin_ / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(self.folder / "log"), "-w", "start")
        self.started = True
        self._run(str(bin_ / "createdb"), "-h", str(self.folder), "-p", str(self.port), "-U", self.user, self.dbname)
        return self

    def stop(self) -> None:
        if self.folder is None:
            return
        if self.started:
            with contextlib.suppress(ClusterError, subprocess.TimeoutExpired):
                self._run(str(pg_bin() / "pg_ctl"), "-D", str(self.folder / "db"), "-m", "fast", "-w", "stop")
            self.started = False
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None

    def log_tail(self, n: int = 20) -> str:
        if self.folder is None:
            return ""
        with contextlib.suppress(OSError):
            return "\n".join((self.folder / "log").read_text(errors="replace").splitlines()[-n:])
        return ""

    def __enter__(self) -> PgCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
