"""Message fields to plain values and back: stamps, camera images, JPEG, gripper commands.

Pure (numpy and Pillow, no rclpy): the nodes hand in their ROS messages' fields, or the message
objects themselves where only attributes are read (a ``builtin_interfaces`` Time or Duration
has ``sec`` and ``nanosec``).
"""

from __future__ import annotations

import base64
import io
import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from PIL import Image


class Stamp(Protocol):
    sec: int
    nanosec: int


def stamp_s(stamp: Stamp) -> float:
    """A header stamp (or a Duration) in seconds."""
    return stamp.sec + stamp.nanosec * 1e-9


def sec_nanosec(seconds: float) -> tuple[int, int]:
    """Seconds as the (sec, nanosec) pair of a Time or Duration, nanosec always below 1e9.

    The whole seconds are split off first: ``seconds * 1e9`` would round away a nanosecond or so at
    epoch-sized times, so ``sec + nanosec * 1e-9`` would no longer give ``seconds`` back."""
    t = float(seconds)
    sec = math.floor(t)
    nanosec = round((t - sec) * 1e9)
    if nanosec >= 1_000_000_000:  # rounds up into the next second, never nanosec = 1e9
        return int(sec) + 1, nanosec - 1_000_000_000
    return int(sec), nanosec


class ImageFormatError(ValueError):
    pass


def rgb8_array(data: bytes | bytearray | memoryview, width: int, height: int, step: int, encoding: str) -> np.ndarray:
    """A sensor_msgs/Image's pixels as a contiguous HxWx3 uint8 RGB array (rgb8 or bgr8 in).

    Anything else, or a buffer shorter than step * height, raises ImageFormatError naming what was wrong.
    """
    if encoding not in ("rgb8", "bgr8"):
        raise ImageFormatError(f"image encoding {encoding!r} is not supported (send rgb8 or bgr8)")
    if width <= 0 or height <= 0 or step < width * 3:
        raise ImageFormatError(f"image of {width}x{height} with step {step} is not a valid {encoding} image")
    buf = np.frombuffer(data, np.uint8)
    if buf.size < step * height:
        raise ImageFormatError(
            f"image data is truncated: {buf.size} bytes, expected {step * height} ({width}x{height})"
        )
    pixels = buf[: step * height].reshape(height, step)[:, : width * 3].reshape(height, width, 3)
    return np.ascontiguousarray(pixels[:, :, ::-1] if encoding == "bgr8" else pixels)


@dataclass(frozen=True)
class CdrImage:
    """A sensor_msgs/Image read straight from its serialized (CDR) bytes; ``data`` is a view, not a copy."""

    sec: int
    nanosec: int
    frame_id: str
    height: int
    width: int
    encoding: str
    step: int
    data: memoryview

    @property
    def stamp_s(self) -> float:
        return self.sec + self.nanosec * 1e-9


# Encapsulation ids (the first two bytes, big-endian) of the plain CDR forms a DDS writer may use:
# XCDR1 and XCDR2, big- or little-endian. Image holds nothing wider than 4 bytes, so both align alike.
_CDR_LITTLE = {0x0001: True, 0x0007: True, 0x0000: False, 0x0006: False}


def image_from_cdr(raw: bytes | bytearray | memoryview) -> CdrImage:
    """Parse a serialized sensor_msgs/Image (what a raw subscription hands over) without copying its pixels.

    rclpy would build a Python message and copy the 900 kB of a 640x480 frame into an array; this
    reads the few header fields and leaves ``data`` a view of the buffer. ImageFormatError if the
    bytes are not a whole Image.
    """
    buf = memoryview(raw).cast("B")
    if len(buf) < 4 or (buf[0] << 8 | buf[1]) not in _CDR_LITTLE:
        raise ImageFormatError("not a CDR-serialized message (unknown encapsulation header)")
    order = "<" if _CDR_LITTLE[buf[0] << 8 | buf[1]] else ">"
    body = buf[4:]  # CDR aligns relative to the end of the encapsulation header
    pos = 0

    def u32() -> int:
        nonlocal pos
        pos += -pos % 4
        if pos + 4 > len(body):
            raise ImageFormatError("serialized image is truncated in its header")
        (value,) = struct.unpack_from(order + "I", body, pos)
        pos += 4
        return value

    def text() -> str:
        nonlocal pos
        n = u32()  # length including the terminating NUL
        if n == 0 or pos + n > len(body):
            raise ImageFormatError("serialized image has a malformed string field")
        value = bytes(body[pos : pos + n - 1]).decode("utf-8", "replace")
        pos += n
        return value

    sec = u32()
    sec -= (sec & 0x80000000) << 1  # int32
    nanosec = u32()
    frame_id = text()
    height, width = u32(), u32()
    encoding = text()
    pos += 1  # is_bigendian (pixel byte order; one byte per channel here, so it does not matter)
    step = u32()
    size = u32()
    if pos + size > len(body):
        raise ImageFormatError(f"serialized image is truncated: {len(body) - pos} data bytes, header says {size}")
    return CdrImage(sec, nanosec, frame_id, height, width, encoding, step, body[pos : pos + size])


def encode_jpeg(pixels: np.ndarray, quality: int = 80) -> bytes:
    """An HxWx3 uint8 RGB array as JPEG bytes (Pillow's libjpeg-turbo; see bench/teleop_jpeg.py)."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels), "RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def jpeg_b64(
    rgb: np.ndarray, box: tuple[float, float, float, float] | None, margin: float = 0.3, quality: int = 85
) -> str:
    """A base64 JPEG of the box (grown by ``margin`` of its size on each side), or the whole frame."""
    h, w = rgb.shape[:2]
    crop = rgb
    if box is not None:
        x1, y1, x2, y2 = box
        mx, my = (x2 - x1) * margin, (y2 - y1) * margin
        xa, ya = int(max(0, x1 - mx)), int(max(0, y1 - my))
        xb, yb = int(min(w, x2 + mx + 1)), int(min(h, y2 + my + 1))
        if xb > xa and yb > ya:
            crop = rgb[ya:yb, xa:xb]
    return base64.b64encode(encode_jpeg(crop, quality)).decode("ascii")


def yaw_of_quaternion(x: float, y: float, z: float, w: float) -> float:
    """The rotation about z (rad) of an orientation quaternion (the store frame is z-up)."""
    return math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


def gripper_opening(data: Sequence[float]) -> float | None:
    """The opening (m) a gripper_controller/commands message asks for (data[0]); None if it is not one."""
    if len(data) < 1 or not math.isfinite(data[0]) or data[0] < 0:
        return None
    return float(data[0])


def gripper_holds(opening: float | None, commanded: float, empty_below: float = 0.005) -> bool:
    """The fingers stopped on something: asked to close past where they measure, and not shut."""
    return opening is not None and opening > empty_below and commanded < opening
