"""A store's own SKU looks: what its planogram SKUs look like at a lane front, and what operators said.

The shelf models are store-agnostic: the lane-front classifier says "an unfamiliar item" for
anything at a lane front unlike the containers it was trained on (our two stores, recoloured and
reshaped). A new store's SKU of another look (a plain cream bottle with a green cap, a short
latte can) then reads as unfamiliar on many frames, and nothing the store knows could say
otherwise: the description's colours only picked between SKUs of a kind. Here the store's own
knowledge decides instead: before a lane front is called unfamiliar, its pixels are compared with
the look of the lane's planogram SKU, a palette of colours from

- the store description (body and label colour), and
- every view an operator confirmed ("this is vitamin_water" on an unfamiliar-item handoff):
  the colours of that very front, as this store's cameras and lights show them.

The front is the SKU when most of the lower middle of its front slot (where the front
container's body is, and where a foreign item standing in front of the lane's own column would
be) has the SKU's colours: chromaticity close, brightness within a range (lighting scales it).
A foreign item has colours of its own there, so it is still flagged.

:class:`AppearanceDb` keeps every raised front's palette (pending) and an operator's label on it
(SQLite, shared by the store's camera nodes): a restarted node, and every other camera of the
store, learns the same look. Pure: no rclpy.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from restock.store.description import Store
from restock.vision.lane_front import CROP_MARGIN_X, CROP_MARGIN_Y

# The part of the front slot compared (fractions of the slot box, y down): the lower middle, where
# the front container's body shows and a smaller foreign item in front of the column would stand.
REGION_Y = (0.45, 0.9)
REGION_X = (0.3, 0.7)
CHROMA_TOLERANCE = 0.04  # distance in (r, g, b) / (r + g + b) for a pixel to have a palette colour
BRIGHTNESS_RANGE = (0.35, 1.3)  # a pixel's brightness over the palette colour's (the store's light)
DARK = 0.15  # below this brightness chromaticity is noise: dark matches dark by brightness alone
DARK_TOLERANCE = 0.06
MATCH_FRACTION = 0.6  # of the region's pixels with the SKU's colours: the front shows that SKU
# The description's colours overrule a lane-front classifier this sure of an item no more: on the
# walk-in cooler's held-out fronts 82 of 87 false flags of its SKUs were below it, and 194 of 216
# true foreign items above it (a foreign item coloured like the lane's SKU stays flagged there).
DESCRIPTION_OVERRULES = 0.98
# While an operator is asked about a front of a SKU, another front of that SKU waits for the answer
# (an answer that it is the SKU settles both) for at most this long (sim s), then is asked about.
ASK_FOR_S = 600.0
# A confirmed view's palette: its most frequent colours (quantised chromaticity), up to this many,
# until they cover this much of the region (the rest is shadow and edges).
VIEW_COLOURS = 8
VIEW_COVER = 0.9
VIEW_BIN = 0.04


def colour_features(rgb: np.ndarray) -> np.ndarray:
    """(N, 4) chromaticity r, g, b (summing to 1) and brightness, for (N, 3) colours in [0, 1]."""
    rgb = np.asarray(rgb, np.float64).reshape(-1, 3)
    total = np.maximum(rgb.sum(axis=1, keepdims=True), 1e-6)
    return np.concatenate([rgb / total, total / 3.0], axis=1)


def front_pixels(crop: np.ndarray) -> np.ndarray:
    """Colour features of the compared region of a lane-front crop (crop_fronts' geometry: the slot
    box grown by the crop margins), (N, 4)."""
    h, w = crop.shape[:2]
    # The slot box inside the crop, then the region inside the slot box.
    sx1, sw = w * CROP_MARGIN_X / (1 + 2 * CROP_MARGIN_X), w / (1 + 2 * CROP_MARGIN_X)
    sy1, sh = h * CROP_MARGIN_Y / (1 + 2 * CROP_MARGIN_Y), h / (1 + 2 * CROP_MARGIN_Y)
    y1, y2 = int(sy1 + REGION_Y[0] * sh), int(np.ceil(sy1 + REGION_Y[1] * sh))
    x1, x2 = int(sx1 + REGION_X[0] * sw), int(np.ceil(sx1 + REGION_X[1] * sw))
    return colour_features(crop[y1:y2, x1:x2].astype(np.float64) / 255.0)


def match_fraction(pixels: np.ndarray, palette: np.ndarray) -> float:
    """The fraction of ``pixels`` (N, 4) that have one of the ``palette`` colours (K, 4)."""
    if len(pixels) == 0 or len(palette) == 0:
        return 0.0
    chroma = np.linalg.norm(pixels[:, None, :3] - palette[None, :, :3], axis=2)
    ratio = pixels[:, None, 3] / np.maximum(palette[None, :, 3], 1e-3)
    lit = (chroma < CHROMA_TOLERANCE) & (ratio > BRIGHTNESS_RANGE[0]) & (ratio < BRIGHTNESS_RANGE[1])
    dark = (pixels[:, None, 3] < DARK) & (palette[None, :, 3] < DARK)
    dark &= np.abs(pixels[:, None, 3] - palette[None, :, 3]) < DARK_TOLERANCE
    return float((lit | dark).any(axis=1).mean())


def view_palette(pixels: np.ndarray) -> np.ndarray:
    """A confirmed view's colours (K, 4): the means of its most frequent quantised colours."""
    if len(pixels) == 0:
        return np.zeros((0, 4))
    keys = np.round(pixels[:, :3] / VIEW_BIN).astype(np.int64)
    _, inverse, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    colours, covered = [], 0
    for b in np.argsort(-counts, kind="stable")[:VIEW_COLOURS]:
        colours.append(pixels[inverse == b].mean(axis=0))
        covered += int(counts[b])
        if covered >= VIEW_COVER * len(pixels):
            break
    return np.array(colours)


@dataclass
class SkuLooks:
    """Each SKU's palette at a lane front: its description's colours plus its confirmed views.

    ``db`` keeps the raised fronts and the operators' answers (a file shared by the store's camera
    nodes: every camera learns a label whichever raised it, a restarted node loads them; without
    one, this object's own memory).
    """

    store: Store
    db: AppearanceDb | None = None
    views: dict[str, list[np.ndarray]] = field(default_factory=dict)  # SKU -> confirmed palettes

    def __post_init__(self) -> None:
        if self.db is None:
            self.db = AppearanceDb(":memory:", self.store.name)
        self._described = {
            sid: colour_features(np.array([sku.color, sku.label_color])) for sid, sku in self.store.skus.items()
        }
        self._palettes: dict[tuple[str, bool], np.ndarray] = {}
        for label, palette in self.db.labelled():
            self.add_view(label, palette)

    def palette(self, sku: str, described: bool = True) -> np.ndarray:
        """The SKU's colours: its confirmed views', and its description's unless ``described`` is False."""
        key = (sku, described)
        if key not in self._palettes:
            parts = [self._described.get(sku, np.zeros((0, 4)))] if described else []
            parts += self.views.get(sku, [])
            self._palettes[key] = np.concatenate(parts) if parts else np.zeros((0, 4))
        return self._palettes[key]

    def add_view(self, sku: str, palette: np.ndarray) -> bool:
        """An operator said a front with these colours is ``sku``: it is part of the SKU's look now."""
        if sku not in self.store.skus or len(palette) == 0:
            return False  # "foreign_item", or a SKU this store does not sell
        self.views.setdefault(sku, []).append(np.asarray(palette, np.float64).reshape(-1, 4))
        self._palettes.pop((sku, True), None)
        self._palettes.pop((sku, False), None)
        return True

    def shows(self, sku: str, crop: np.ndarray, certainty: float = 0.0) -> bool:
        """Does this lane-front crop show ``sku``? ``certainty``: how sure the models are of an item
        (the lane-front classifier's probability); the description's colours (a few numbers someone
        typed) overrule the models only below DESCRIPTION_OVERRULES, views operators confirmed always."""
        palette = self.palette(sku, described=certainty < DESCRIPTION_OVERRULES)
        return match_fraction(front_pixels(crop), palette) >= MATCH_FRACTION

    def raised(self, request_id: str, camera_id: str, lane_id: str, stamp: float, crop: np.ndarray) -> None:
        """A front was handed to an operator as an unfamiliar item: keep its colours for the answer."""
        sku = self.store.lane_by_id[lane_id].lane.sku
        self.db.add_raised(request_id, camera_id, lane_id, sku, stamp, view_palette(front_pixels(crop)))

    def asking(self, lane_id: str, now_s: float) -> bool:
        """Is an operator being asked about a front of this lane's SKU (by any camera, unanswered,
        raised less than ASK_FOR_S ago)? Then a second front of the SKU waits for that answer."""
        return self.db.asking(self.store.lane_by_id[lane_id].lane.sku, now_s - ASK_FOR_S)

    def resolved(self, request_id: str, action: str, label: str | None) -> bool:
        """An operator's answer to a raised front (any camera's): True when a SKU's look grew by it."""
        palette = self.db.answer(request_id, label if action == "labelled" else None)
        return palette is not None and label is not None and action == "labelled" and self.add_view(label, palette)

    @property
    def confirmed(self) -> dict[str, int]:
        return {sku: len(v) for sku, v in self.views.items()}


class AppearanceDb:
    """The store's raised fronts and operators' answers on them (SQLite; shared by its cameras).

    A row per unfamiliar-item request: the lane's SKU and the front's palette at once, whether it
    was answered and the operator's label when that comes. Any camera node of the store can record
    the answer (they all hear it), so every camera learns a label whichever camera raised it.
    """

    def __init__(self, path: Path | str, store_name: str) -> None:
        self.store_name = store_name
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(str(path), timeout=10.0, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS raised_fronts (request_id TEXT PRIMARY KEY, store TEXT NOT NULL, "
            "camera_id TEXT, lane_id TEXT, sku TEXT, stamp REAL, palette TEXT NOT NULL, "
            "answered INTEGER NOT NULL DEFAULT 0, label TEXT)"
        )
        self.conn.commit()

    def add_raised(
        self, request_id: str, camera_id: str, lane_id: str, sku: str, stamp: float, palette: np.ndarray
    ) -> None:
        with self.conn:
            self.conn.execute(
                "INSERT OR IGNORE INTO raised_fronts VALUES (?, ?, ?, ?, ?, ?, ?, 0, NULL)",
                (
                    request_id,
                    self.store_name,
                    camera_id,
                    lane_id,
                    sku,
                    stamp,
                    json.dumps(np.round(palette, 5).tolist()),
                ),
            )

    def asking(self, sku: str, since: float) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM raised_fronts WHERE store = ? AND sku = ? AND answered = 0 AND stamp > ? LIMIT 1",
            (self.store_name, sku, since),
        ).fetchone()
        return row is not None

    def answer(self, request_id: str, label: str | None) -> np.ndarray | None:
        """Record an answer (and its label) on a raised front; its palette, or None for a request not kept here."""
        with self.conn:
            self.conn.execute(
                "UPDATE raised_fronts SET answered = 1, label = COALESCE(?, label) WHERE request_id = ? AND store = ?",
                (label, request_id, self.store_name),
            )
        row = self.conn.execute(
            "SELECT palette FROM raised_fronts WHERE request_id = ? AND store = ?", (request_id, self.store_name)
        ).fetchone()
        return None if row is None else np.array(json.loads(row[0]), np.float64).reshape(-1, 4)

    def labelled(self) -> list[tuple[str, np.ndarray]]:
        """Every (label, palette) operators gave on this store's fronts, oldest first."""
        rows = self.conn.execute(
            "SELECT label, palette FROM raised_fronts WHERE store = ? AND label IS NOT NULL ORDER BY stamp, rowid",
            (self.store_name,),
        ).fetchall()
        return [(label, np.array(json.loads(p), np.float64).reshape(-1, 4)) for label, p in rows]

    def close(self) -> None:
        self.conn.close()
