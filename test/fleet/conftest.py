"""Fleet fixtures: one throwaway PostgreSQL cluster for the session (initdb + pg_ctl, unix socket
only, stopped and removed at the end), a fresh database with the fleet schema for each test."""

from __future__ import annotations

import asyncio
import itertools
import ssl
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fleet_helpers import FleetPair, populate_credentials

from restock.fleet.db import create_schema
from restock.fleet.pgcluster import PgCluster
from restock.fleet.service import FleetConfig, FleetService
from restock.teleop.tls import self_signed, server_context

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


@pytest.fixture(scope="session")
def fleet_tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("fleet-tls"))


@pytest.fixture
def fleet_pair(fleet_db: str, fleet_tls: tuple[Path, Path]) -> Iterator[FleetPair]:
    """Two fleet service instances (HTTPS/WSS, 127.0.0.1) on one database, with chain_a and chain_b set up.
    recheck_s is an hour: anything that happens at once happened through LISTEN/NOTIFY."""
    credentials = asyncio.run(populate_credentials(fleet_db))
    cert, key = fleet_tls
    services = []
    try:
        for name in ("a", "b"):
            config = FleetConfig(port=0, ssl_context=server_context(cert, key), instance=name, recheck_s=3600.0)
            service = FleetService(config, fleet_db)
            service.start()
            services.append(service)
        client = ssl.create_default_context(cafile=str(cert))
        yield FleetPair(fleet_db, services, [f"127.0.0.1:{s.bound_port}" for s in services], client, credentials)
    finally:
        for service in services:
            service.stop()
