"""The lane-front classifier: what stands at each lane's front slot, from a crop of that slot.

The shelf detector works on the whole frame at a reduced size; at that size an unfamiliar item
at a lane front (smaller than the store's containers, in front of the lane's own bottles) is a
few pixels and the detector rarely tells it from a container. The camera already knows where
every lane front is (:func:`restock.vision.lanes.lane_regions`), so a second, very small model
looks at each front slot at full resolution and says which of :data:`LANE_FRONT_CLASSES` it
shows. It is SKU-agnostic like the detector (shape, not colour), so one model serves every
store description.

Crops are taken by index sampling (nearest pixel) on a fixed grid per lane box: the same
function cuts the training crops and the run-time crops, and one numpy gather cuts all of a
frame's lanes at once. The model is an Ultralytics classification net from
``models/lane_front_cls.yaml`` (trained by ``restock train-lane-front``), exported to ONNX and
run here with ONNX Runtime only.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np

from restock.vision.detector import DetectorError, onnx_session

# Ultralytics reads a classification dataset's classes from its folder names, sorted.
LANE_FRONT_CLASSES: tuple[str, ...] = ("container", "empty", "obstruction", "unfamiliar")
CROP_SIZE = 64
# The front-slot box is the size of the lane's own container; a little context on each side
# shows the item's outline against the shelf.
CROP_MARGIN_X, CROP_MARGIN_Y = 0.2, 0.1
DEFAULT_LANE_FRONT_MODEL = Path(__file__).parent / "models" / "lane_front.onnx"


def crop_grid(
    box: tuple[float, float, float, float], width: int, height: int, size: int = CROP_SIZE
) -> tuple[np.ndarray, np.ndarray]:
    """Row and column pixel indices (size,) each that sample the box, grown by the margins, clipped."""
    x1, y1, x2, y2 = box
    mx, my = (x2 - x1) * CROP_MARGIN_X, (y2 - y1) * CROP_MARGIN_Y
    xs = np.linspace(x1 - mx, x2 + mx, size, endpoint=False) + (x2 - x1 + 2 * mx) / (2 * size)
    ys = np.linspace(y1 - my, y2 + my, size, endpoint=False) + (y2 - y1 + 2 * my) / (2 * size)
    return (
        np.clip(ys.astype(np.int64), 0, height - 1),
        np.clip(xs.astype(np.int64), 0, width - 1),
    )


def crop_index(
    boxes: list[tuple[float, float, float, float]], width: int, height: int, size: int = CROP_SIZE
) -> np.ndarray:
    """Flat pixel indices (N, size, size) of every box's crop in a width x height image.

    Computed once per camera (its lane boxes do not move); one ``np.take`` then cuts all of a
    frame's crops, several times faster than fancy indexing by rows and columns.
    """
    if not boxes:
        return np.zeros((0, size, size), np.int64)
    grids = [crop_grid(b, width, height, size) for b in boxes]
    rows = np.stack([g[0] for g in grids])[:, :, None]
    cols = np.stack([g[1] for g in grids])[:, None, :]
    return rows * width + cols


def crop_fronts(
    rgb: np.ndarray,
    boxes: list[tuple[float, float, float, float]],
    size: int = CROP_SIZE,
    index: np.ndarray | None = None,
) -> np.ndarray:
    """Crops (N, size, size, 3) uint8 of each box in the frame (``index``: precomputed crop_index)."""
    h, w = rgb.shape[:2]
    if index is None:
        index = crop_index(boxes, w, h, size)
    return np.take(rgb.reshape(-1, 3), index, axis=0)


class LaneFrontClassifier:
    """The lane-front model under ONNX Runtime: crops in, class probabilities out."""

    def __init__(self, path: Path | str = DEFAULT_LANE_FRONT_MODEL, threads: int = 0) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise DetectorError(f"lane-front model {self.path} does not exist (train one: restock train-lane-front)")
        self.session = onnx_session(self.path, threads)
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.size = int(inp.shape[2]) if isinstance(inp.shape[2], int) else CROP_SIZE
        meta = self.session.get_modelmeta().custom_metadata_map
        names = ast.literal_eval(meta["names"]) if "names" in meta else dict(enumerate(LANE_FRONT_CLASSES))
        self.names = tuple(names[i] for i in sorted(names))
        if self.names != LANE_FRONT_CLASSES:
            raise DetectorError(f"lane-front model {self.path} has classes {self.names}, expected {LANE_FRONT_CLASSES}")
        self.fixed_batch = inp.shape[0] if isinstance(inp.shape[0], int) else None

    def classify(self, crops: np.ndarray) -> np.ndarray:
        """Probabilities (N, len(LANE_FRONT_CLASSES)) for crops (N, size, size, 3) uint8."""
        n = len(crops)
        if n == 0:
            return np.zeros((0, len(self.names)), np.float32)
        x = crops.transpose(0, 3, 1, 2).astype(np.float32) * (1.0 / 255.0)
        if self.fixed_batch is not None:
            out = [self._run(x[i : i + self.fixed_batch]) for i in range(0, n, self.fixed_batch)]
            return np.concatenate(out)[:n]
        return self._run(x)

    def _run(self, x: np.ndarray) -> np.ndarray:
        n = len(x)
        if self.fixed_batch is not None and n < self.fixed_batch:
            x = np.concatenate([x, np.zeros((self.fixed_batch - n, *x.shape[1:]), np.float32)])
        return np.asarray(self.session.run(None, {self.input_name: x})[0], np.float32)[:n]
