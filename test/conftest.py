"""Test-wide set-up: DDS confined to this machine, a ROS_DOMAIN_ID of this run's own, graph fixtures.

Pure-logic tests never touch rclpy; graph tests use ``ros_node`` (a node in this process) and
``ros_graph`` (nodes as separate processes through ``restock up``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from restock.paths import SOURCE_ROOT
from restock.rosenv import claim_domain_id, ros_environment
from restock.testing.graph import RosGraph

_DOMAIN_LOCK = None


def pytest_configure(config: pytest.Config) -> None:
    global _DOMAIN_LOCK
    requested = os.environ.get("RESTOCK_TEST_DOMAIN_ID")
    if requested:
        domain = int(requested)
    else:
        domain, _DOMAIN_LOCK = claim_domain_id()
    os.environ.update(ros_environment(domain))
    # Node processes import this checkout, not an older installed copy.
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(SOURCE_ROOT), os.environ.get("PYTHONPATH", "")) if p)
    os.environ.setdefault("MUJOCO_GL", "egl")


def pytest_report_header(config: pytest.Config) -> str:
    return (
        f"restock: ROS_DOMAIN_ID={os.environ.get('ROS_DOMAIN_ID')} "
        f"ROS_AUTOMATIC_DISCOVERY_RANGE={os.environ.get('ROS_AUTOMATIC_DISCOVERY_RANGE')} "
        f"FASTDDS_DEFAULT_PROFILES_FILE={os.environ.get('FASTDDS_DEFAULT_PROFILES_FILE')}"
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # "No tests collected" is a failure here, never a pass.
    if session.testscollected == 0 and not session.config.option.collectonly:
        session.exitstatus = pytest.ExitCode.NO_TESTS_COLLECTED


@pytest.fixture(scope="session")
def rclpy_context() -> Iterator[None]:
    import rclpy

    rclpy.init()
    yield
    rclpy.try_shutdown()


@pytest.fixture
def ros_node(rclpy_context: None, request: pytest.FixtureRequest) -> Iterator[object]:
    import rclpy.node

    name = "test_" + "".join(c if c.isalnum() else "_" for c in request.node.name)[:60]
    node = rclpy.node.Node(name)
    yield node
    node.destroy_node()


@pytest.fixture
def ros_graph(tmp_path: Path, ros_node: object) -> Iterator[object]:
    """Factory: ``g = ros_graph(only=[...], store=..., params={...})`` starts and waits; stopped at teardown."""
    started: list[RosGraph] = []

    def start(
        only: list[str] | None = None,
        store: str = "corner_store.yaml",
        params: dict[str, dict[str, object]] | None = None,
        profile: str = "sim",
        wait_for: list[str] | None = None,
        timeout: float = 90.0,
    ) -> RosGraph:
        graph = RosGraph(tmp_path / f"graph{len(started)}", only, store, params, profile).start()
        started.append(graph)
        names = wait_for if wait_for is not None else _expected_names(only, store, profile)
        graph.wait_for_nodes(ros_node, names, timeout)
        return graph

    yield start
    for graph in started:
        graph.stop()


def _expected_names(only: list[str] | None, store: str, profile: str) -> list[str]:
    from restock.graph.description import node_instances
    from restock.paths import store_file
    from restock.store.description import load_store

    path = store_file(store)
    return [i.name for i in node_instances(profile, load_store(path), path, only=only)]  # type: ignore[arg-type]
