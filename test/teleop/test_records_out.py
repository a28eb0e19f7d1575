"""The audit log (real SQLite) and YOLO samples from operator labels."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from restock import records
from restock.teleop.imaging import encode_jpeg, pick_frame, rgb8_array
from restock.teleop.records_out import AuditLog, SampleWriter
from restock.vision.classes import CLASS_ID, CLASSES

SKU_KINDS = {"cola_500": "bottle", "tea_can": "can"}


def jpeg(w: int, h: int) -> bytes:
    return encode_jpeg(np.full((h, w, 3), 120, np.uint8))


def req(**kw) -> records.HandoffRequest:
    base = dict(request_id="h-1", source="shelf_camera_cam0", kind="unfamiliar_item", stamp=5.0, camera_id="cam0")
    return records.HandoffRequest(**{**base, **kw})


def res(label: str | None) -> records.HandoffResolution:
    return records.HandoffResolution(request_id="h-1", operator="alice", action="labelled", label=label, stamp=7.5)


def test_full_frame_sample_with_the_request_box(tmp_path):
    w = SampleWriter(tmp_path, SKU_KINDS)
    saved = w.write(req(bbox=[100, 50, 200, 250]), res("tea_can"), frame_jpeg=jpeg(640, 480))
    assert Image.open(saved.image).size == (640, 480)
    cls, cx, cy, bw, bh = saved.label.read_text().split()
    assert int(cls) == CLASS_ID["can"]
    assert (float(cx), float(cy), float(bw), float(bh)) == pytest.approx((150 / 640, 150 / 480, 100 / 640, 200 / 480))
    assert (tmp_path / "classes.txt").read_text().split() == list(CLASSES)
    meta = json.loads(saved.meta.read_text())
    assert meta["label"] == "tea_can" and meta["image_source"] == "frame" and meta["operator"] == "alice"


def test_crop_sample_and_foreign_item(tmp_path):
    crop = base64.b64encode(jpeg(64, 48)).decode()
    saved = SampleWriter(tmp_path, SKU_KINDS).write(req(image_jpeg_b64=crop), res("foreign_item"))
    assert saved.label.read_text().split() == [
        str(CLASS_ID["unfamiliar_item"]),
        "0.500000",
        "0.500000",
        "1.000000",
        "1.000000",
    ]


def test_unknown_label_or_no_image_is_refused(tmp_path):
    w = SampleWriter(tmp_path, SKU_KINDS)
    with pytest.raises(ValueError, match="neither a SKU"):
        w.write(req(image_jpeg_b64=base64.b64encode(jpeg(8, 8)).decode()), res("pepsi_9000"))
    with pytest.raises(ValueError, match="no image"):
        w.write(req(), res("cola_500"))
    png = io.BytesIO()
    Image.new("RGB", (8, 8)).save(png, "PNG")
    with pytest.raises(ValueError, match="not JPEG"):
        w.write(req(image_jpeg_b64=base64.b64encode(png.getvalue()).decode()), res("cola_500"))
    assert not (tmp_path / "images").exists() or not list((tmp_path / "images").iterdir())


def test_audit_log_keeps_rows_across_reopen(tmp_path):
    path = tmp_path / "audit.sqlite"
    log = AuditLog(path)
    log.write("login", "robot1", "alice", "", "127.0.0.1")
    log.write("claim", "robot1", "alice", "h-1")
    log.close()
    rows = AuditLog(path).rows()
    assert [(r["event"], r["operator"], r["robot"]) for r in rows] == [
        ("login", "alice", "robot1"),
        ("claim", "alice", "robot1"),
    ]


def test_rgb8_and_bgr8_views():
    data = bytes([1, 2, 3, 4, 5, 6, 0, 0]) * 2  # 2x2 with 2 bytes of row padding
    px = rgb8_array(data, 2, 2, 8, "rgb8")
    assert px.shape == (2, 2, 3) and px[0, 1].tolist() == [4, 5, 6]
    assert rgb8_array(data, 2, 2, 8, "bgr8")[0, 1].tolist() == [6, 5, 4]
    with pytest.raises(ValueError, match="encoding"):
        rgb8_array(data, 2, 2, 8, "mono16")
    with pytest.raises(ValueError, match="does not match"):
        rgb8_array(data[:10], 2, 2, 8, "rgb8")


def test_pick_frame_by_stamp():
    frames = [(1.0, "a"), (1.033, "b"), (1.066, "c")]
    assert pick_frame(frames, 1.033) == "b"
    assert pick_frame(frames, None) == "c"  # no stamp: the newest
    assert pick_frame(frames, 0.5) is None  # gone from the buffer: the caller falls back to the crop
    assert pick_frame([], 1.0) is None
