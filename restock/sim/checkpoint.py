"""The simulator's checkpoints in SQLite: a simulator killed mid-day resumes the same store. No rclpy.

One row, replaced atomically at every ground-truth tick: the world's checkpoint
(restock.sim.world.World.checkpoint), the till's last receipt number and its latest sales (a
restarted simulator sends them again; the planner counts each receipt once). A missing file is a
fresh start; an unreadable one stops the simulator with the file and the reason.

The order is the point: :func:`ground_truth_tick` rings up the tick's sales and saves before it
hands back anything to send, so whatever others hear, a restarted simulator remembers;
:func:`resume` goes on a ground-truth period after the checkpoint, so /clock never goes back.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from restock.records import SimGroundTruth
from restock.sim.till import Till

if TYPE_CHECKING:
    from restock.sim.world import World


class CheckpointError(Exception):
    """A checkpoint file that cannot be read or written; the message names the file."""


class SimCheckpoints:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")  # a killed process loses nothing committed
            self._db.execute("CREATE TABLE IF NOT EXISTS checkpoint (id INTEGER PRIMARY KEY CHECK (id = 1), body TEXT)")
        except (OSError, sqlite3.Error) as err:
            raise CheckpointError(f"{self.path}: {err}") from None

    def load(self) -> dict[str, Any] | None:
        try:
            row = self._db.execute("SELECT body FROM checkpoint WHERE id = 1").fetchone()
        except sqlite3.Error as err:
            raise CheckpointError(f"{self.path}: {err}") from None
        if row is None:
            return None
        try:
            body = json.loads(row[0])
        except ValueError as err:
            raise CheckpointError(f"{self.path}: checkpoint is not JSON: {err}") from None
        if not isinstance(body, dict) or not {"world", "receipts", "recent_sales"} <= set(body):
            raise CheckpointError(f"{self.path}: checkpoint lacks world, receipts or recent_sales")
        return body

    def save(self, world: dict[str, Any], receipts: int, recent_sales: Iterable[str]) -> None:
        body = json.dumps(
            {"world": world, "receipts": int(receipts), "recent_sales": list(recent_sales)}, separators=(",", ":")
        )
        try:
            self._db.execute("INSERT OR REPLACE INTO checkpoint (id, body) VALUES (1, ?)", (body,))
        except sqlite3.Error as err:
            raise CheckpointError(f"{self.path}: {err}") from None

    def close(self) -> None:
        self._db.close()


def resume(checkpoints: SimCheckpoints, world: World, till: Till, period_s: float) -> bool:
    """Go on from the file's checkpoint, if it has one (False: a fresh start). The world resumes
    ``period_s`` (one ground-truth period) after it: the crash came at most that long after the
    save, so /clock never goes backwards; the till takes up its receipt numbers and latest sales."""
    state = checkpoints.load()
    if state is None:
        return False
    saved = state["world"]
    try:
        world.restore(saved, resume_at=float(saved["time"]) + period_s)
        receipts = int(state["receipts"])
    except (ValueError, KeyError, TypeError) as err:
        raise CheckpointError(f"{checkpoints.path}: unusable checkpoint: {err}") from None
    till.receipts = receipts
    till.recent.extend(str(x) for x in state["recent_sales"])
    return True


def ground_truth_tick(world: World, till: Till, checkpoints: SimCheckpoints | None) -> tuple[SimGroundTruth, list[str]]:
    """One ground-truth tick: the truth and the till's new sales (encoded SaleEvents), saved first.

    The caller sends only what this returns, so nothing goes out that a restarted simulator
    would not remember (and send again: its till replays the latest sales)."""
    truth = world.ground_truth()
    sales = till.ring_up(truth.events)
    if checkpoints is not None:
        checkpoints.save(world.checkpoint(), till.receipts, till.recent)
    return truth, sales
