"""What the bridge keeps: the audit log (SQLite) and labelled samples for the next detector training.

Samples use the layout every YOLO dataset of the project shares (restock.vision.classes):
``images/<id>.jpg``, ``labels/<id>.txt`` (``class_id cx cy w h``, normalised), ``classes.txt``
(one class name a line, in index order), and ``meta/<id>.json`` with what the class list does
not say (the SKU id the operator chose, the request, the operator, the camera).
"""

from __future__ import annotations

import io
import json
import logging
import math
import queue
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from restock import records
from restock.teleop.protocol import RateLimit
from restock.vision.classes import CLASSES, class_for_label, yolo_label_line

log = logging.getLogger("restock.teleop")


class AuditLog:
    """Who did what, when, on which robot: one SQLite table.

    Rows are written by a thread of their own, in order: a commit waits for the disk (~16 ms at
    the 99th percentile here), which the server's event loop must not. :meth:`rows` and
    :meth:`close` wait for what is queued. Refusals are kept to the newest ``max_refusal_rows``
    (older ones are deleted as new ones come), so a flood of refused requests cannot fill the
    disk; every other event is kept. Past ``max_pending`` rows waiting, rows are counted in
    ``unwritten`` instead.
    """

    PRUNE_EVERY = 1000  # refusals written between two prunes

    def __init__(self, path: Path | str, max_refusal_rows: int = 100_000, max_pending: int = 10_000) -> None:
        self.path = str(path)
        self.max_refusal_rows = max_refusal_rows
        self.unwritten = 0
        self._refusals_since_prune = 0
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS audit (id INTEGER PRIMARY KEY, t REAL NOT NULL, operator TEXT,"
            " robot TEXT NOT NULL, event TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '', peer TEXT)"
        )
        self._pending: queue.Queue[tuple | None] = queue.Queue(max_pending)
        self._writer: threading.Thread | None = threading.Thread(target=self._write_rows, name="audit", daemon=True)
        self._writer.start()

    def write(self, event: str, robot: str, operator: str | None = None, detail: str = "", peer: str | None = None):
        row = (time.time(), printable(operator), robot, event, printable(detail[:2000]), printable(peer))
        try:
            self._pending.put_nowait(row)
        except queue.Full:
            self.unwritten += 1

    def _write_rows(self) -> None:
        while (row := self._pending.get()) is not None:
            try:
                with self._lock:
                    self._insert(row)
            except sqlite3.Error as err:  # a full disk: the row is lost, the bridge carries on
                self.unwritten += 1
                log.error("audit log %s: %s", self.path, err)
            finally:
                self._pending.task_done()
        self._pending.task_done()

    def _insert(self, row: tuple) -> None:
        self._db.execute("INSERT INTO audit (t, operator, robot, event, detail, peer) VALUES (?, ?, ?, ?, ?, ?)", row)
        if row[3].startswith("refused"):
            self._refusals_since_prune += 1
            if self._refusals_since_prune >= self.PRUNE_EVERY:
                self._refusals_since_prune = 0
                self._db.execute(
                    "DELETE FROM audit WHERE event LIKE 'refused%' AND id <= (SELECT id FROM audit"
                    " WHERE event LIKE 'refused%' ORDER BY id DESC LIMIT 1 OFFSET ?)",
                    (self.max_refusal_rows,),
                )

    def flush(self) -> None:
        """Wait until every row written so far is in the database."""
        if self._writer is not None:
            self._pending.join()

    def rows(self, event: str | None = None) -> list[dict]:
        self.flush()
        with self._lock:
            cur = self._db.execute(
                "SELECT t, operator, robot, event, detail, peer FROM audit"
                + (" WHERE event = ?" if event else "")
                + " ORDER BY id",
                (event,) if event else (),
            )
            names = [c[0] for c in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            self._pending.put(None)
            writer.join()
            with self._lock:
                self._db.close()


def printable(text: str | None) -> str | None:
    """Text for one log line and SQLite: control characters (a %0A in a path) and lone surrogates
    (JSON lets a client send one; SQLite cannot encode it) become their escapes."""
    if text is None or text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


@dataclass
class AuditBudget:
    """Which refusals are written to the audit log: at most ``per_key`` in ``window_s`` of one kind
    from one address, and ``rate`` a second over all (``burst`` at once). The rest are counted by
    kind, and :meth:`roll` gives one summary row for them per window."""

    per_key: int = 20
    window_s: float = 60.0
    rate: float = 20.0
    burst: float = 200.0
    max_keys: int = 10_000
    _window_start: float = -math.inf
    _per_key: dict[tuple[str, str], int] = field(default_factory=dict)
    _suppressed: dict[str, int] = field(default_factory=dict)
    _bucket: RateLimit = field(init=False)

    def __post_init__(self) -> None:
        self._bucket = RateLimit(self.rate, self.burst)

    def allow(self, kind: str, peer: str | None, now: float) -> bool:
        key = (kind, peer or "")
        n = self._per_key.get(key, 0)
        ok = n < self.per_key and (n > 0 or len(self._per_key) < self.max_keys) and self._bucket.allow(now)
        if ok:
            self._per_key[key] = n + 1
        else:
            self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
        return ok

    def roll(self, now: float) -> str | None:
        """At a window's end: the counts start again; the summary of what was not written, if any."""
        if now - self._window_start < self.window_s:
            return None
        self._window_start = now
        self._per_key.clear()
        if not self._suppressed:
            return None
        text = ", ".join(f"{kind} x{n}" for kind, n in sorted(self._suppressed.items()))
        self._suppressed.clear()
        return f"not written (over the audit budget): {text}"


@dataclass(frozen=True)
class SavedSample:
    image: Path
    label: Path
    meta: Path


class SampleWriter:
    """Writes an operator's label as a YOLO sample for the next training round."""

    def __init__(self, root: Path | str, sku_kinds: dict[str, str]) -> None:
        self.root = Path(root)
        self.sku_kinds = sku_kinds

    def write(
        self,
        request: records.HandoffRequest,
        resolution: records.HandoffResolution,
        frame_jpeg: bytes | None = None,
    ) -> SavedSample:
        """Save the image and its label; raises ValueError when there is nothing to save or the label is unknown."""
        if resolution.label is None:
            raise ValueError("a sample needs a label")
        class_id = class_for_label(resolution.label, self.sku_kinds)
        # The camera's full frame with the request's box teaches the detector in context; without
        # a frame, the crop itself is the box.
        if frame_jpeg is not None and request.bbox is not None:
            jpeg, box, source = frame_jpeg, tuple(request.bbox), "frame"
        elif request.image_jpeg_b64 is not None:
            import base64

            jpeg, box, source = base64.b64decode(request.image_jpeg_b64, validate=True), None, "crop"
        else:
            raise ValueError(f"handoff {request.request_id} has no image to label")
        with Image.open(io.BytesIO(jpeg)) as img:
            img.load()
            width, height = img.size
            if img.format != "JPEG":
                raise ValueError(f"handoff {request.request_id}: the image is {img.format}, not JPEG")
        if box is None:
            box = (0.0, 0.0, float(width), float(height))
        line = yolo_label_line(class_id, box, width, height)  # type: ignore[arg-type]
        stem = f"{resolution.request_id}_{int(resolution.stamp * 1000)}".replace(":", "_")
        for sub in ("images", "labels", "meta"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        classes = self.root / "classes.txt"
        if not classes.exists():
            classes.write_text("\n".join(CLASSES) + "\n")
        saved = SavedSample(
            self.root / "images" / f"{stem}.jpg",
            self.root / "labels" / f"{stem}.txt",
            self.root / "meta" / f"{stem}.json",
        )
        _atomic_write(saved.image, jpeg)
        _atomic_write(saved.label, (line + "\n").encode())
        meta = {
            "request_id": request.request_id,
            "kind": request.kind,
            "label": resolution.label,
            "class_id": class_id,
            "class_name": CLASSES[class_id],
            "operator": resolution.operator,
            "camera_id": request.camera_id,
            "lane_id": request.lane_id,
            "image_source": source,
            "bbox_xyxy": list(box),
            "stamp": resolution.stamp,
        }
        _atomic_write(saved.meta, json.dumps(meta, indent=1).encode())
        return saved


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
