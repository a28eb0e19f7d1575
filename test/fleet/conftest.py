"""Fleet fixtures: one throwaway PostgreSQL cluster for the session (initdb + pg_ctl, unix socket
only, stopped and removed at the end), a fresh database with the fleet schema for each test."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator

import psycopg
import pytest

from restock.fleet.db import create_schema
from restock.fleet.pgcluster import PgCluster

_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    cluster = PgCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def fleet_db(pg_cluster: PgCluster) -> Iterator[str]:
    """The conninfo of a new, empty database with the fleet's tables."""
    name = f"fleet_test_{next(_numbers)}"
    with psycopg.connect(pg_cluster.conninfo, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    conninfo = pg_cluster.conninfo.replace(f"dbname={pg_cluster.dbname}", f"dbname={name}")
    asyncio.run(create_schema(conninfo))
    yield conninfo
    with psycopg.connect(pg_cluster.conninfo, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")
