"""Teleop fixtures: an operators file, a dev certificate, an in-process operator server with real TLS."""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from teleop_client import Bridge, CollectingPort, write_operators

from restock.paths import store_file
from restock.store.description import load_store
from restock.teleop.auth import OperatorBook
from restock.teleop.records_out import AuditLog, SampleWriter
from restock.teleop.server import ServerConfig, TeleopServer
from restock.teleop.tls import self_signed, server_context


@pytest.fixture(scope="session")
def operators_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_operators(tmp_path_factory.mktemp("operators") / "operators.yaml")


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def make_bridge(tmp_path: Path, operators_file: Path, tls_files: tuple[Path, Path]) -> Iterator[Callable[..., Bridge]]:
    started: list[TeleopServer] = []

    def make(store: str = "corner_store.yaml", **overrides: object) -> Bridge:
        offset = [0.0]
        cert, key = tls_files
        config = ServerConfig(port=0, ssl_context=server_context(cert, key), **overrides)  # type: ignore[arg-type]
        st = load_store(store_file(store))
        port = CollectingPort()
        samples = tmp_path / "samples"
        server = TeleopServer(
            config,
            st,
            OperatorBook.load(operators_file),
            port,
            AuditLog(tmp_path / "audit.sqlite"),
            SampleWriter(samples, {k: v.kind for k, v in st.skus.items()}),
            clock=lambda: time.monotonic() + offset[0],
        )
        bound = server.start()
        started.append(server)
        client_ctx = ssl.create_default_context(cafile=str(cert))
        return Bridge(server, port, f"https://127.0.0.1:{bound}", client_ctx, offset, samples)

    yield make
    for server in started:
        server.stop()
        server.audit.close()
