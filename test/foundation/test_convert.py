"""Message fields to plain values: stamps, camera images, JPEG, gripper commands (restock.convert)."""

from __future__ import annotations

import base64
import io
import math
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from restock.convert import (
    ImageFormatError,
    encode_jpeg,
    gripper_holds,
    gripper_opening,
    jpeg_b64,
    rgb8_array,
    sec_nanosec,
    stamp_s,
    yaw_of_quaternion,
)


def test_stamps_round_trip_and_never_carry_a_full_second_in_nanosec() -> None:
    assert stamp_s(SimpleNamespace(sec=12, nanosec=500_000_000)) == 12.5
    assert sec_nanosec(12.5) == (12, 500_000_000)
    assert sec_nanosec(0.9999999999) == (1, 0)  # rounds up into the next second, not to nanosec=1e9
    for t in (0.0, 1.25, 3.000000001, 1234.987654321):
        sec, nanosec = sec_nanosec(t)
        assert 0 <= nanosec < 1_000_000_000
        assert stamp_s(SimpleNamespace(sec=sec, nanosec=nanosec)) == pytest.approx(t, abs=1e-9)


def test_rgb8_array_reads_rgb_bgr_and_padded_rows() -> None:
    rgb = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    assert np.array_equal(rgb8_array(rgb.tobytes(), 5, 4, 15, "rgb8"), rgb)
    bgr = rgb8_array(rgb[:, :, ::-1].tobytes(), 5, 4, 15, "bgr8")
    assert np.array_equal(bgr, rgb) and bgr.flags.c_contiguous
    padded = np.zeros((4, 16), np.uint8)  # one byte of padding at the end of each row
    padded[:, :15] = rgb.reshape(4, 15)
    assert np.array_equal(rgb8_array(padded.tobytes(), 5, 4, 16, "rgb8"), rgb)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((5, 4, 15, "mono8"), "encoding 'mono8'"),
        ((5, 4, 10, "rgb8"), "not a valid"),
        ((0, 4, 15, "rgb8"), "not a valid"),
        ((5, 5, 15, "rgb8"), "truncated"),
    ],
)
def test_rgb8_array_refuses_what_is_not_an_rgb_image(args: tuple, match: str) -> None:
    data = bytes(4 * 15)
    with pytest.raises(ImageFormatError, match=match):
        rgb8_array(data, *args)


def test_jpeg_whole_frame_and_grown_crop() -> None:
    rgb = np.zeros((100, 80, 3), np.uint8)
    whole = Image.open(io.BytesIO(encode_jpeg(rgb)))
    assert whole.format == "JPEG" and whole.size == (80, 100)
    crop = Image.open(io.BytesIO(base64.b64decode(jpeg_b64(rgb, (10, 10, 30, 30)))))
    assert crop.size == (33, 33)  # 20 px grown by 6 px on each side, plus the last pixel
    edge = Image.open(io.BytesIO(base64.b64decode(jpeg_b64(rgb, (70, 90, 80, 100)))))
    assert edge.size == (13, 13)  # cut at the frame's edge
    assert Image.open(io.BytesIO(base64.b64decode(jpeg_b64(rgb, None)))).size == (80, 100)


def test_gripper_command_and_grip() -> None:
    assert gripper_opening([0.04]) == 0.04
    assert gripper_opening([0.0, 9.0]) == 0.0
    for bad in ([], [-0.01], [float("nan")], [float("inf")]):
        assert gripper_opening(bad) is None
    assert gripper_holds(0.03, commanded=0.01)  # told to close past where the fingers stopped
    assert not gripper_holds(0.03, commanded=0.05)  # open wider than measured: nothing held
    assert not gripper_holds(0.002, commanded=0.0)  # shut: nothing between the fingers
    assert not gripper_holds(None, commanded=0.0)


@pytest.mark.parametrize("yaw", [0.0, 0.3, -1.2, math.pi / 2, 3.0])
def test_yaw_of_a_rotation_about_z(yaw: float) -> None:
    assert yaw_of_quaternion(0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2)) == pytest.approx(yaw)
