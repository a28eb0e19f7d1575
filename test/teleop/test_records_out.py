"""The audit log (real SQLite) and YOLO samples from operator labels."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from restock import records
from restock.convert import encode_jpeg
from restock.teleop.imaging import pick_frame
from restock.teleop.records_out import AuditBudget, AuditLog, SampleWriter
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


def test_pick_frame_by_stamp():
    frames = [(1.0, "a"), (1.033, "b"), (1.066, "c")]
    assert pick_frame(frames, 1.033) == "b"
    assert pick_frame(frames, None) == "c"  # no stamp: the newest
    assert pick_frame(frames, 0.5) is None  # gone from the buffer: the caller falls back to the crop
    assert pick_frame([], 1.0) is None


def test_audit_budget_per_kind_and_address_then_one_summary_a_window():
    budget = AuditBudget(per_key=3, window_s=60.0, rate=1000.0, burst=1000.0)
    assert budget.roll(0.0) is None
    written = [budget.allow("login", "10.0.0.9", 1.0) for _ in range(10)]
    assert written == [True] * 3 + [False] * 7
    assert budget.allow("login", "10.0.0.8", 1.0) and budget.allow("http", "10.0.0.9", 1.0)  # other keys
    assert budget.roll(30.0) is None  # the window is not over
    assert budget.roll(61.0) == "not written (over the audit budget): login x7"
    assert budget.allow("login", "10.0.0.9", 62.0)  # a new window
    assert budget.roll(125.0) is None  # nothing held back


def test_audit_budget_rate_over_all_keys():
    budget = AuditBudget(per_key=100, rate=10.0, burst=5.0)
    assert sum(budget.allow("http", f"10.0.0.{i}", 0.0) for i in range(50)) == 5
    assert sum(budget.allow("http", f"10.0.1.{i}", 1.0) for i in range(50)) == 5  # 10/s refills the burst of 5


def test_audit_log_keeps_the_newest_refusals_and_every_other_event(tmp_path):
    log = AuditLog(tmp_path / "audit.sqlite", max_refusal_rows=100)
    log.write("login", "r1", "alice")
    for i in range(AuditLog.PRUNE_EVERY):
        log.write("refused_http", "r1", None, f"n{i}", "10.0.0.9")
    refusals = log.rows("refused_http")
    assert len(refusals) == 100 and refusals[-1]["detail"] == f"n{AuditLog.PRUNE_EVERY - 1}"
    assert len(log.rows("login")) == 1
    log.write("refused_login", "r1", "\ud800", "bad \udc00 text", None)  # lone surrogates are escaped
    assert log.rows("refused_login")[0]["detail"] == "bad \\udc00 text"
    log.close()
