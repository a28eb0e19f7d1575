"""The throwaway cluster: a real PostgreSQL server, on a unix socket only, gone after stop()."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg

from restock.fleet.pgcluster import PgCluster, sweep_orphans


def test_session_cluster_answers_on_a_unix_socket_only(pg_cluster: PgCluster) -> None:
    with psycopg.connect(pg_cluster.conninfo) as conn:
        assert conn.execute("SELECT current_setting('listen_addresses')").fetchone() == ("",)
        assert conn.execute("SELECT current_setting('server_version_num')::int").fetchone()[0] >= 150000
        assert conn.info.host.startswith("/tmp/restock-pg-")


def test_stop_removes_the_folder() -> None:
    cluster = PgCluster().start()
    folder = cluster.folder
    assert folder is not None and (folder / "db" / "PG_VERSION").exists()
    cluster.stop()
    assert not folder.exists()


def test_a_cluster_whose_maker_was_killed_is_swept() -> None:
    code = (
        "from restock.fleet.pgcluster import PgCluster; c = PgCluster().start(); print(c.folder, flush=True); input()"
    )
    maker = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        folder = Path(maker.stdout.readline().strip())  # type: ignore[union-attr]
        assert (folder / "db" / "postmaster.pid").exists()
    finally:
        maker.kill()  # SIGKILL: no clean-up ran
        maker.wait()
    assert folder.exists()
    assert folder in sweep_orphans()
    assert not folder.exists()
    running = subprocess.run(["pgrep", "-f", f"-D {folder}/db"], capture_output=True, text=True)
    assert running.stdout == ""
