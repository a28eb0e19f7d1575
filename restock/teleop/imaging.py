"""Camera images to JPEG for the operator's stream (Pillow's libjpeg-turbo; see bench/teleop_jpeg.py)."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import TypeVar

import numpy as np
from PIL import Image


class ImageFormatError(ValueError):
    pass


def rgb8_array(data: bytes | memoryview, width: int, height: int, step: int, encoding: str) -> np.ndarray:
    """A sensor_msgs/Image's pixels as an HxWx3 uint8 view (rgb8 or bgr8)."""
    if encoding not in ("rgb8", "bgr8"):
        raise ImageFormatError(f"encoding {encoding!r} (the stream takes rgb8 or bgr8)")
    if width <= 0 or height <= 0 or step < width * 3 or len(data) < step * height:
        raise ImageFormatError(f"{width}x{height} step {step} does not match {len(data)} bytes")
    rows = np.frombuffer(data, np.uint8, count=step * height).reshape(height, step)
    pixels = rows[:, : width * 3].reshape(height, width, 3)
    return pixels[:, :, ::-1] if encoding == "bgr8" else pixels


def encode_jpeg(pixels: np.ndarray, quality: int = 80) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels), "RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


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
