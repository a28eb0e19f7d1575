"""The planner's SQLite database: schema and migrations, clear errors, task ids that are never reused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from restock import records
from restock.planning.database import SCHEMA_VERSION, PlannerDb, PlannerDbError


def task(task_id: str, lane: str = "r1_l01") -> records.RestockTask:
    return records.RestockTask(
        task_id=task_id, lane_id=lane, sku="cola_500", quantity=3, stock_location="s_cola_500", created=10.0
    )


def test_fresh_database_is_wal_at_the_current_schema(tmp_path: Path) -> None:
    db = PlannerDb(tmp_path / "p.db")
    assert db.schema_version() == SCHEMA_VERSION
    assert db.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_migrates_an_older_schema_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    conn = sqlite3.connect(path)
    from restock.planning.database import MIGRATIONS

    conn.executescript(MIGRATIONS[0])
    conn.execute("UPDATE counters SET value = 41 WHERE name = 'task_seq'")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    db = PlannerDb(path)
    assert db.schema_version() == SCHEMA_VERSION
    assert db.reserve_task_seq() == 42
    db.set_handoff("r1_l01", "h1", 5.0)  # a table of version 2
    assert db.handoffs() == {"r1_l01": "h1"}


def test_newer_schema_corrupt_file_and_lock_are_clear_errors(tmp_path: Path) -> None:
    newer = tmp_path / "newer.db"
    conn = sqlite3.connect(newer)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(PlannerDbError, match=r"newer\.db: schema version .* is newer"):
        PlannerDb(newer)

    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"this is not sqlite " * 200)
    with pytest.raises(PlannerDbError, match=r"corrupt\.db: .*not a database"):
        PlannerDb(corrupt)
    assert corrupt.read_bytes() == b"this is not sqlite " * 200  # left untouched

    path = tmp_path / "locked.db"
    db = PlannerDb(path, timeout_s=0.1)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    with pytest.raises(PlannerDbError, match="locked"):
        db.reserve_task_seq()
    other.execute("ROLLBACK")
    assert db.reserve_task_seq() == 1  # works again once the lock is gone


def test_task_ids_are_never_reused_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    db = PlannerDb(path)
    seqs = [db.reserve_task_seq() for _ in range(3)]
    db.record_issued(seqs[0], task("task-1"), 11.0)
    db.conn.close()  # no clean shutdown
    db = PlannerDb(path)
    assert db.reserve_task_seq() == seqs[-1] + 1
    assert [t.task.task_id for t in db.open_tasks()] == ["task-1"]
    assert db.close_task("task-1", "done", 12.0)
    assert db.open_tasks() == []
