"""The camera node reads frames from their serialized bytes (a raw subscription): the parser against
rclpy's own serializer, for both encodings the node takes, and malformed bytes refused by name."""

from __future__ import annotations

import numpy as np
import pytest
from rclpy.serialization import serialize_message
from sensor_msgs.msg import Image

from restock.convert import ImageFormatError, image_from_cdr, rgb8_array


def _message(pixels: np.ndarray, encoding: str, step: int, frame_id: str, sec: int, nanosec: int) -> Image:
    msg = Image()
    msg.header.stamp.sec, msg.header.stamp.nanosec = sec, nanosec
    msg.header.frame_id = frame_id
    msg.height, msg.width = pixels.shape[:2]
    msg.encoding, msg.step = encoding, step
    rows = np.zeros((pixels.shape[0], step), np.uint8)
    rows[:, : pixels.shape[1] * 3] = pixels.reshape(pixels.shape[0], -1)
    msg.data = rows.tobytes()
    return msg


@pytest.mark.parametrize(
    ("encoding", "frame_id", "step_pad", "sec"),
    [("rgb8", "cam_left_optical", 0, 1_764_000_000), ("bgr8", "c", 5, -3), ("rgb8", "", 2, 0)],
)
def test_a_serialized_image_reads_as_rclpy_wrote_it(encoding: str, frame_id: str, step_pad: int, sec: int) -> None:
    rgb = np.random.default_rng(7).integers(0, 256, (37, 53, 3), np.uint8)
    src = rgb[:, :, ::-1] if encoding == "bgr8" else rgb
    raw = serialize_message(_message(src, encoding, 53 * 3 + step_pad, frame_id, sec, 999_999_999))
    img = image_from_cdr(raw)
    assert (img.sec, img.nanosec, img.frame_id, img.encoding) == (sec, 999_999_999, frame_id, encoding)
    assert (img.height, img.width, img.step) == (37, 53, 53 * 3 + step_pad)
    assert img.stamp_s == pytest.approx(sec + 0.999999999)
    assert np.array_equal(rgb8_array(img.data, img.width, img.height, img.step, img.encoding), rgb)


def test_malformed_bytes_are_refused_by_name() -> None:
    raw = serialize_message(_message(np.zeros((4, 4, 3), np.uint8), "rgb8", 12, "cam", 1, 2))
    with pytest.raises(ImageFormatError, match="truncated"):
        image_from_cdr(raw[:-1])
    with pytest.raises(ImageFormatError, match="truncated"):
        image_from_cdr(raw[:30])
    with pytest.raises(ImageFormatError, match="encapsulation"):
        image_from_cdr(b"\x12\x34" + raw[2:])
    with pytest.raises(ImageFormatError, match="encapsulation"):
        image_from_cdr(b"")


def test_a_deserialized_message_reads_as_its_bytes() -> None:
    """In lockstep the camera node takes Image messages (their stamp is its clock), else raw bytes:
    both paths give the node the same frame."""
    from rclpy.serialization import deserialize_message

    from restock.nodes.shelf_camera import _fields

    rgb = np.random.default_rng(8).integers(0, 256, (12, 20, 3), np.uint8)
    raw = serialize_message(_message(rgb[:, :, ::-1], "bgr8", 64, "cam", 42, 7))
    a, b = image_from_cdr(raw), _fields(deserialize_message(raw, Image))
    assert (a.sec, a.nanosec, a.frame_id, a.height, a.width, a.encoding, a.step) == (
        b.sec, b.nanosec, b.frame_id, b.height, b.width, b.encoding, b.step,
    )  # fmt: skip
    for img in (a, b):
        assert np.array_equal(rgb8_array(img.data, img.width, img.height, img.step, img.encoding), rgb)
