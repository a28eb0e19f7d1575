"""The operator's stream: which kept frame a handoff points at, and how fast frames reach the browser.

Image and JPEG conversion live in restock.convert.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def pick_frame(frames: Sequence[tuple[float, T]], wanted: float | None, tolerance: float = 1e-3) -> T | None:
    """The frame (stamp, frame) with the wanted stamp; with no stamp wanted, the newest; None if it is gone."""
    if not frames:
        return None
    if wanted is None:
        return frames[-1][1]
    stamp, frame = min(frames, key=lambda f: abs(f[0] - wanted))
    return frame if abs(stamp - wanted) <= tolerance else None
