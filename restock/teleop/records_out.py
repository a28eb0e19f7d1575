"""What the bridge keeps: the audit log (SQLite) and labelled samples for the next detector training.

Samples use the layout every YOLO dataset of the project shares (restock.vision.classes):
``images/<id>.jpg``, ``labels/<id>.txt`` (``class_id cx cy w h``, normalised), ``classes.txt``
(one class name a line, in index order), and ``meta/<id>.json`` with what the class list does
not say (the SKU id the operator chose, the request, the operator, the camera).
"""

from __future__ import annotations

import io
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from restock import records
from restock.vision.classes import CLASSES, class_for_label, yolo_label_line


class AuditLog:
    """Who did what, when, on which robot: one SQLite table, written as it happens."""

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS audit (id INTEGER PRIMARY KEY, t REAL NOT NULL, operator TEXT,"
            " robot TEXT NOT NULL, event TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '', peer TEXT)"
        )

    def write(self, event: str, robot: str, operator: str | None = None, detail: str = "", peer: str | None = None):
        with self._lock:
            self._db.execute(
                "INSERT INTO audit (t, operator, robot, event, detail, peer) VALUES (?, ?, ?, ?, ?, ?)",
                (time.time(), operator, robot, event, detail[:2000], peer),
            )

    def rows(self, event: str | None = None) -> list[dict]:
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
        with self._lock:
            self._db.close()


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
