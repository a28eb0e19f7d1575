"""The planner's SQLite database: learned demand, the event journal, lane and back-room estimates, the task queue.

WAL mode (readers never block the writer, a crash loses at most the last transaction), a
schema version in ``PRAGMA user_version`` and forward migrations in :data:`MIGRATIONS`. A
database written by a newer planner is refused rather than guessed at. Every failure (a file
that is not a database, a database locked by another process, a full disk) raises
:class:`PlannerDbError` naming the file, so the node can report it and keep its last good plan.

Task ids come from a counter that is committed *before* a task is published, so a crash
between the two skips a number and never issues the same id twice, across restarts too.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path

from restock import records
from restock.demand.burst import BurstFit
from restock.demand.model import DemandModel

# Each entry brings the schema from version i to i + 1.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE demand_history (
        sku TEXT NOT NULL, day INTEGER NOT NULL, hour INTEGER NOT NULL,
        containers REAL NOT NULL, exposure_h REAL NOT NULL,
        PRIMARY KEY (sku, day, hour));
    CREATE TABLE demand_yearly (sku TEXT PRIMARY KEY, a REAL NOT NULL, b REAL NOT NULL);
    CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, stamp REAL NOT NULL, kind TEXT NOT NULL, body TEXT NOT NULL);
    CREATE INDEX events_stamp ON events (stamp);
    CREATE TABLE lanes (lane_id TEXT PRIMARY KEY, mean REAL NOT NULL, var REAL NOT NULL, stamp REAL NOT NULL);
    CREATE TABLE tasks (
        task_id TEXT PRIMARY KEY, seq INTEGER NOT NULL UNIQUE, lane_id TEXT NOT NULL,
        body TEXT NOT NULL, status TEXT NOT NULL, issued REAL NOT NULL, updated REAL NOT NULL);
    CREATE INDEX tasks_status ON tasks (status);
    CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    INSERT INTO counters VALUES ('task_seq', 0);
    """,
    """
    CREATE TABLE handoffs (lane_id TEXT PRIMARY KEY, request_id TEXT NOT NULL, stamp REAL NOT NULL);
    """,
    """
    CREATE TABLE backroom (sku TEXT PRIMARY KEY, quantity INTEGER NOT NULL, stamp REAL NOT NULL);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
OPEN_STATUSES = ("issued",)


class PlannerDbError(RuntimeError):
    """The database cannot be used; the message names the file and what went wrong."""


@dataclass(frozen=True)
class StoredTask:
    task: records.RestockTask
    status: str
    issued: float
    updated: float


class PlannerDb:
    def __init__(self, path: str | Path, timeout_s: float = 1.0) -> None:
        self.path = Path(path)
        try:
            if str(path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(str(path), timeout=timeout_s, isolation_level=None)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except (sqlite3.Error, OSError) as err:
            raise self._error("cannot open", err) from None

    @classmethod
    def read_only(cls, path: str | Path, timeout_s: float = 1.0) -> PlannerDb:
        """An existing database opened for reading only, as it stands (no migration): another
        process looking at a running planner's (the store day's report reads its forecast)."""
        db = cls.__new__(cls)
        db.path = Path(path)
        try:
            db.conn = sqlite3.connect(f"file:{db.path}?mode=ro", uri=True, timeout=timeout_s, isolation_level=None)
        except sqlite3.Error as err:
            raise db._error("cannot read", err) from None
        try:
            version = db.schema_version()
            if version != SCHEMA_VERSION:
                raise sqlite3.DatabaseError(f"schema version {version}, this planner's is {SCHEMA_VERSION}")
        except sqlite3.Error as err:
            db.close()
            raise db._error("cannot read", err) from None
        return db

    def _error(self, what: str, err: Exception) -> PlannerDbError:
        text = str(err)
        if "locked" in text or "busy" in text:
            text += " (another process holds the database)"
        elif "not a database" in text or "malformed" in text:
            text += " (the file is corrupt; it was left untouched, move it aside to start afresh)"
        return PlannerDbError(f"{self.path}: {what}: {text}")

    def _migrate(self) -> None:
        version = int(self.conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise PlannerDbError(
                f"{self.path}: schema version {version} is newer than this planner's ({SCHEMA_VERSION}); "
                "upgrade the planner or use another database"
            )
        for target in range(version, SCHEMA_VERSION):
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in _statements(MIGRATIONS[target]):
                    self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version = {target + 1}")
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise

    @contextmanager
    def transaction(self, what: str) -> Iterator[sqlite3.Connection]:
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as err:
            raise self._error(what, err) from None
        try:
            yield self.conn
            self.conn.execute("COMMIT")
        except sqlite3.Error as err:
            self._rollback()
            raise self._error(what, err) from None
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        with suppress(sqlite3.Error):
            self.conn.execute("ROLLBACK")

    def close(self) -> None:
        self.conn.close()

    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    # --- task ids and the queue ------------------------------------------------------------

    def reserve_task_seq(self) -> int:
        """The next task number, committed before use (never handed out twice)."""
        with self.transaction("reserve a task id") as c:
            c.execute("UPDATE counters SET value = value + 1 WHERE name = 'task_seq'")
            return int(c.execute("SELECT value FROM counters WHERE name = 'task_seq'").fetchone()[0])

    def record_issued(self, seq: int, task: records.RestockTask, now: float) -> None:
        with self.transaction("record an issued task") as c:
            c.execute(
                "INSERT INTO tasks VALUES (?, ?, ?, ?, 'issued', ?, ?)",
                (task.task_id, seq, task.lane_id, records.encode(task), now, now),
            )

    def close_task(self, task_id: str, status: str, now: float) -> bool:
        """Mark a task finished (done, partial, failed, parked, rejected, expired); False if unknown."""
        with self.transaction("close a task") as c:
            cur = c.execute("UPDATE tasks SET status = ?, updated = ? WHERE task_id = ?", (status, now, task_id))
            return cur.rowcount > 0

    def open_tasks(self) -> list[StoredTask]:
        rows = self.conn.execute(
            "SELECT body, status, issued, updated FROM tasks WHERE status = 'issued' ORDER BY seq"
        ).fetchall()
        return [StoredTask(records.decode(b, records.RestockTask), s, i, u) for b, s, i, u in rows]

    def task_status(self, task_id: str) -> str | None:
        row = self.conn.execute("SELECT status FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
        return None if row is None else str(row[0])

    def task_ids(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT task_id FROM tasks ORDER BY seq")]

    # --- metadata -----------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction("write metadata") as c:
            c.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # --- handoffs ------------------------------------------------------------------------

    def set_handoff(self, lane_id: str, request_id: str, stamp: float) -> None:
        with self.transaction("record a handoff") as c:
            c.execute("INSERT OR REPLACE INTO handoffs VALUES (?, ?, ?)", (lane_id, request_id, stamp))

    def clear_handoff(self, request_id: str) -> None:
        with self.transaction("clear a handoff") as c:
            c.execute("DELETE FROM handoffs WHERE request_id = ?", (request_id,))

    def handoffs(self) -> dict[str, str]:
        return dict(self.conn.execute("SELECT lane_id, request_id FROM handoffs"))

    # --- journal, lanes, demand ------------------------------------------------------------

    def journal(self, items: Iterable[tuple[float, str, str]]) -> None:
        """Append (stamp, kind, JSON body) events."""
        with self.transaction("append to the event journal") as c:
            c.executemany("INSERT INTO events (stamp, kind, body) VALUES (?, ?, ?)", list(items))

    def events(self, kind: str | None = None, since: float | None = None) -> list[tuple[float, str, str]]:
        if since is not None:
            return list(
                self.conn.execute(
                    "SELECT stamp, kind, body FROM events WHERE kind = ? AND stamp >= ? ORDER BY id", (kind, since)
                )
            )
        if kind is None:
            return list(self.conn.execute("SELECT stamp, kind, body FROM events ORDER BY id"))
        return list(self.conn.execute("SELECT stamp, kind, body FROM events WHERE kind = ? ORDER BY id", (kind,)))

    def load_lanes(self) -> dict[str, tuple[float, float, float]]:
        return {r[0]: (r[1], r[2], r[3]) for r in self.conn.execute("SELECT lane_id, mean, var, stamp FROM lanes")}

    def save_backroom(self, rows: Iterable[tuple[str, int, float]]) -> None:
        """(sku, containers, stamp): the back-room counts the planner believes."""
        with self.transaction("save back-room counts") as c:
            c.executemany("INSERT OR REPLACE INTO backroom VALUES (?, ?, ?)", list(rows))

    def load_backroom(self) -> dict[str, tuple[int, float]]:
        return {r[0]: (int(r[1]), float(r[2])) for r in self.conn.execute("SELECT sku, quantity, stamp FROM backroom")}

    def save_state(
        self,
        journal: Iterable[tuple[float, str, str]],
        lanes: Iterable[tuple[str, float, float, float]],
        model: DemandModel,
        stamp: float,
        backroom: Iterable[tuple[str, int, float]] = (),
    ) -> None:
        """Journal entries, lane estimates and the model in one transaction: a crash leaves the
        journal and the model that counted its sales in step (a replayed sale is then either in
        both or in neither)."""
        with self.transaction("save the planner state") as c:
            c.executemany("INSERT INTO events (stamp, kind, body) VALUES (?, ?, ?)", list(journal))
            c.executemany("INSERT OR REPLACE INTO lanes VALUES (?, ?, ?, ?)", list(lanes))
            c.executemany("INSERT OR REPLACE INTO backroom VALUES (?, ?, ?)", list(backroom))
            self._write_model(c, model, stamp)

    def save_model(self, model: DemandModel, stamp: float) -> None:
        """Replace the stored demand history and yearly terms with the model's."""
        with self.transaction("save the demand model") as c:
            self._write_model(c, model, stamp)

    @staticmethod
    def _write_model(c: sqlite3.Connection, model: DemandModel, stamp: float) -> None:
        c.execute("DELETE FROM demand_history")
        c.executemany("INSERT INTO demand_history VALUES (?, ?, ?, ?, ?)", list(model.history_rows()))
        c.execute("DELETE FROM demand_yearly")
        c.executemany(
            "INSERT INTO demand_yearly VALUES (?, ?, ?)",
            [(s, float(model.yearly[i, 0]), float(model.yearly[i, 1])) for i, s in enumerate(model.skus)],
        )
        c.execute("INSERT OR REPLACE INTO meta VALUES ('model_saved', ?)", (json.dumps(stamp),))
        c.execute(
            "INSERT OR REPLACE INTO meta VALUES ('model_last_t', ?)",
            (json.dumps(model.last_t if model.last_t > 0 else 0.0),),
        )
        # The burst nowcast learned from an imported log (a restart does not import it again).
        c.execute("INSERT OR REPLACE INTO meta VALUES ('model_burst', ?)", (json.dumps(asdict(model.burst.fit)),))

    def load_model(self, model: DemandModel) -> bool:
        """Fill ``model`` from the stored history (SKUs the store no longer has are skipped)."""
        rows = self.conn.execute("SELECT sku, day, hour, containers, exposure_h FROM demand_history").fetchall()
        known = set(model.skus)
        for sku, day, hour, containers, exposure in rows:
            if sku in known:
                model.set_history_cell(sku, int(day), int(hour), float(containers), float(exposure))
        for sku, a, b in self.conn.execute("SELECT sku, a, b FROM demand_yearly"):
            if sku in known:
                model.yearly[model.sku_index(sku)] = (a, b)
        last = self.conn.execute("SELECT value FROM meta WHERE key = 'model_last_t'").fetchone()
        if last is not None:
            model.last_t = float(json.loads(last[0]))
        burst = self.conn.execute("SELECT value FROM meta WHERE key = 'model_burst'").fetchone()
        if burst is not None:
            model.burst.fit = BurstFit(**json.loads(burst[0]))
        model.fit(refit_yearly=False)
        return bool(rows)


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
