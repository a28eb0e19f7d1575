"""The operator's stream: which kept frame a handoff points at, and how fast frames reach the browser.

Image and JPEG conversion live in restock.convert.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypeVar

import numpy as np

T = TypeVar("T")


def pick_frame(frames: Sequence[tuple[float, T]], wanted: float | None, tolerance: float = 1e-3) -> T | None:
    """The frame (stamp, frame) with the wanted stamp; with no stamp wanted, the newest; None if it is gone."""
    if not frames:
        return None
    if wanted is None:
        return frames[-1][1]
    stamp, frame = min(frames, key=lambda f: abs(f[0] - wanted))
    return frame if abs(stamp - wanted) <= tolerance else None


def latency_summary(rows: Sequence[tuple[float, float, float]]) -> dict:
    """Frames drawn (capture, shown, received; epoch s): how many, at what rate, and capture->shown latency."""
    if not rows:
        return {"frames": 0}
    a = np.array(rows)
    lat = (a[:, 1] - a[:, 0]) * 1000
    span = a[-1, 0] - a[0, 0]
    return {
        "frames": len(a),
        "fps": (len(a) - 1) / span if span > 0 else math.nan,
        "median_ms": float(np.median(lat)),
        "p90_ms": float(np.percentile(lat, 90)),
    }
