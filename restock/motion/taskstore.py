"""Where the arm keeps its tasks across restarts: SQLite (stdlib), one row per task.

States: ``queued`` (accepted, not started), ``active`` (being worked; ``placed`` containers are
already in the lane), ``parked`` (waiting for an operator, with the handoff id), ``finished``
(its result is kept, so a task sent again is answered, not repeated). After a restart, active
tasks go back to the queue with their placed count: nothing is lost and nothing is done twice.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from restock import records

SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    task_id TEXT PRIMARY KEY,
    task TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'active', 'parked', 'finished')),
    placed INTEGER NOT NULL DEFAULT 0,
    handoff_id TEXT,
    result TEXT,
    updated REAL NOT NULL
);
"""


@dataclass
class StoredTask:
    task: records.RestockTask
    state: str
    placed: int
    handoff_id: str | None
    result: records.TaskResult | None


class TaskStore:
    def __init__(self, path: str | Path = ":memory:") -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path), isolation_level=None)  # autocommit: every change is durable
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def save(
        self,
        task: records.RestockTask,
        state: str,
        placed: int,
        now: float,
        handoff_id: str | None = None,
        result: records.TaskResult | None = None,
    ) -> None:
        self.db.execute(
            "INSERT INTO tasks (task_id, task, state, placed, handoff_id, result, updated) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(task_id) DO UPDATE SET task=excluded.task, state=excluded.state, placed=excluded.placed, "
            "handoff_id=excluded.handoff_id, result=excluded.result, updated=excluded.updated",
            (
                task.task_id,
                records.encode(task),
                state,
                placed,
                handoff_id,
                records.encode(result) if result is not None else None,
                now,
            ),
        )

    def get(self, task_id: str) -> StoredTask | None:
        row = self.db.execute(
            "SELECT task, state, placed, handoff_id, result FROM tasks WHERE task_id = ?", (task_id,)
        ).fetchone()
        return self._row(row) if row else None

    def unfinished(self) -> list[StoredTask]:
        """Queued, active and parked tasks, oldest first (what a restart picks up)."""
        rows = self.db.execute(
            "SELECT task, state, placed, handoff_id, result FROM tasks WHERE state != 'finished' ORDER BY updated"
        ).fetchall()
        return [self._row(r) for r in rows]

    @staticmethod
    def _row(row: tuple) -> StoredTask:
        task, state, placed, handoff_id, result = row
        return StoredTask(
            task=records.decode(task, records.RestockTask),
            state=state,
            placed=int(placed),
            handoff_id=handoff_id,
            result=records.decode(result, records.TaskResult) if result else None,
        )
