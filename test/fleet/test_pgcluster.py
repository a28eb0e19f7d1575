"""The throwaway cluster: a real PostgreSQL server, on a unix socket only, gone after stop()."""

from __future__ import annotations

import psycopg

from restock.fleet.pgcluster import PgCluster


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
