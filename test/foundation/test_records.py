"""Domain records: round trip, and every kind of malformed record refused with its reason."""

from __future__ import annotations

import json

import pytest

from restock import records


def task(**kw: object) -> records.RestockTask:
    base = dict(task_id="t1", lane_id="r1_l01", sku="cola_500", quantity=2, stock_location="s_cola_500", created=10.0)
    base.update(kw)
    return records.RestockTask(**base)  # type: ignore[arg-type]


def test_round_trip_every_record_type() -> None:
    samples = [
        task(),
        records.TaskResult(task_id="t1", lane_id="r1_l01", outcome="done", placed=2, started=1.0, finished=9.5),
        records.ShelfObservation(
            stamp=2.0,
            camera_id="cam_left",
            frame_stamp=1.9,
            lanes=[records.LaneObservation(lane_id="r1_l01", state="empty", confidence=0.9)],
        ),
        records.HandoffRequest(request_id="h1", source="shelf_camera_cam_left", kind="unfamiliar_item", stamp=3.0),
        records.HandoffResolution(request_id="h1", operator="ana", action="labelled", label="cola_500", stamp=4.0),
        records.SaleEvent(stamp=5.0, sku="cola_500", quantity=1),
        records.TeleopStatus(stamp=6.0, control="autonomy"),
        records.PlanSnapshot(stamp=7.0, tasks=[task()]),
    ]
    for record in samples:
        text = records.encode(record)
        assert records.decode(text, type(record)) == record
        assert json.loads(text)["record"] == record.KIND


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"record": "sale_event", "v": 1, "stamp": 1, "sku": "x"}', "quantity"),
        ('{"record": "task_result", "v": 1}', "expected record 'restock_task'"),
        ('{"record": "restock_task", "v": 2}', "unsupported schema version 2"),
    ],
)
def test_malformed_restock_task_refused_with_reason(text: str, reason: str) -> None:
    expected = records.SaleEvent if "sale_event" in text else records.RestockTask
    with pytest.raises(records.RecordError, match=reason):
        records.decode(text, expected)


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("quantity", 0, "quantity"),
        ("quantity", -3, "quantity"),
        ("created", -1.0, "created"),
        ("lane_id", "", "lane_id"),
        ("lane_id", "r1 l01; drop table", "lane_id"),
        ("unexpected", 1, "unexpected"),
    ],
)
def test_field_level_errors_name_the_field(field: str, value: object, reason: str) -> None:
    body = json.loads(records.encode(task()))
    body[field] = value
    with pytest.raises(records.RecordError, match=reason):
        records.decode(json.dumps(body), records.RestockTask)


def test_non_finite_numbers_are_refused() -> None:
    body = json.loads(records.encode(task()))
    text = json.dumps(body).replace('"created":10.0', '"created":NaN').replace('"created": 10.0', '"created": NaN')
    with pytest.raises(records.RecordError, match="created"):
        records.decode(text, records.RestockTask)


def test_oversize_record_refused_before_parsing() -> None:
    with pytest.raises(records.RecordError, match="exceeds"):
        records.decode("x" * (records.MAX_RECORD_BYTES + 1), records.RestockTask)
