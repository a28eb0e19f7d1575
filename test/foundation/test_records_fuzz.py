"""records.decode under hostile input: it accepts or raises RecordError, never anything else.

Per record type: hypothesis (derandomized) spoils the record's JSON structure and sends raw text
and bytes, and a seeded plain-random bulk adds 10,000 mutated records, hostile fragments and
random bytes. The cases of issue 22's table are checked by name with the reason they get.
"""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from restock import records
from restock.testing import hostile

KINDS = sorted(records.RECORD_TYPES)
BULK_PER_KIND = 10_000
FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=100,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Any character, lone surrogates included (hypothesis leaves them out by default).
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=30)
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | ANY_TEXT
    | st.sampled_from(["5", "1.5", "cola_500", "present", "AAAA", "not base64!!"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ANY_TEXT, inner, max_size=4),
    max_leaves=10,
)


def decode_or_refuse(text: str | bytes, kind: str) -> records.Record | None:
    """The decoded record, or None for a RecordError; any other exception fails the test."""
    try:
        return records.decode(text, records.RECORD_TYPES[kind])
    except records.RecordError:
        return None


@pytest.mark.parametrize("kind", KINDS)
@FUZZ
@given(data=st.data())
def test_spoiled_structure_is_accepted_or_refused(kind: str, data: st.DataObject) -> None:
    body = {"record": kind, **hostile.samples()[kind].model_dump(mode="json")}
    for _ in range(data.draw(st.integers(1, 3), "edits")):
        path = data.draw(st.sampled_from(list(hostile.paths(body))), "path")
        hostile.parent_of(body, path)[path[-1]] = data.draw(JSON_VALUES, "value")
    text = json.dumps(body, allow_nan=True, ensure_ascii=data.draw(st.booleans(), "ascii"))
    record = decode_or_refuse(text, kind)
    if record is not None:  # what is accepted is a record that encodes and decodes to itself
        assert records.decode(records.encode(record), type(record)) == record


@pytest.mark.parametrize("kind", KINDS)
@FUZZ
@given(raw=st.binary(max_size=64) | ANY_TEXT | st.builds(json.dumps, JSON_VALUES))
def test_raw_text_and_bytes_are_refused(kind: str, raw: str | bytes) -> None:
    assert decode_or_refuse(raw, kind) is None  # none of these carries {"record": kind, ...}


@pytest.mark.parametrize("kind", KINDS)
def test_ten_thousand_mutated_records_per_type(kind: str) -> None:
    rng = random.Random(f"fuzz-{kind}")
    accepted = refused = 0
    for text in hostile.fuzz_inputs(rng, kind, BULK_PER_KIND):
        if decode_or_refuse(text, kind) is None:
            refused += 1
        else:
            accepted += 1
    assert accepted + refused == BULK_PER_KIND
    assert refused > BULK_PER_KIND // 2  # the inputs are mostly spoiled: the decoder does refuse


@pytest.mark.parametrize("kind", KINDS)
def test_issue_table_cases_are_refused(kind: str) -> None:
    for name, text in hostile.table_cases(kind).items():
        with pytest.raises(records.RecordError):
            records.decode(text, records.RECORD_TYPES[kind])
        assert decode_or_refuse(text.encode("utf-8", "surrogatepass"), kind) is None, name


def sale(**fields: object) -> str:
    body = {"record": "sale_event", "v": 1, "stamp": 5.0, "sku": "cola_500", "quantity": 1}
    body.update(fields)
    return json.dumps(body)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[" * 100_000, "nested deeper than 16"),
        ('{"a":' * 100_000, "nested deeper than 16"),
        ("[" * 17 + "]" * 17, "nested deeper than 16"),
        ("[" * 9 + "{}" + "]" * 9 + "[]" * 200_000, "Extra data"),
        ("9" * 5_000, "5000 digits"),
        (sale(quantity=1)[:-1] + ',"seq":' + "1" * 5_000 + "}", "5000 digits"),
        (sale(seq=2**63), "outside int64"),
        (sale(quantity="5"), "quantity: Input should be a valid integer"),
        (sale(quantity=1.0), "quantity: Input should be a valid integer"),
        (sale(quantity=True), "quantity: Input should be a valid integer"),
        (sale(stamp=True), "stamp: Input should be a valid number"),
        (sale(stamp="5.0"), "stamp: Input should be a valid number"),
        (sale(stamp=float("inf")), "stamp: Input should be a finite number"),
        (sale(stamp=1e300).replace("1e+300", "1e400"), "stamp: Input should be a finite number"),
        (sale(v=True), "unsupported schema version True"),
        (sale(v=1.0), "unsupported schema version 1.0"),
        (sale(sku="\ud800"), "escaped lone surrogate"),
        (json.dumps({"record": "sale_event", "sku": "\ud800"}, ensure_ascii=False), "lone surrogate"),
        ('"\ud800"', "lone surrogate"),
        (b'{"record": "sale_event", "sku": "\xff"}', "not UTF-8"),
        ('{"record": "sale_event", "record": "sale_event", "v": 1}', "duplicate key 'record'"),
        (sale()[:-1] + ',"quantity":500}', "duplicate key 'quantity'"),
    ],
)
def test_issue_table_reasons(text: str | bytes, reason: str) -> None:
    with pytest.raises(records.RecordError, match=reason.replace("(", r"\(")):
        records.decode(text, records.SaleEvent)


def handoff(**fields: object) -> str:
    body = {"record": "handoff_request", **hostile.samples()["handoff_request"].model_dump(mode="json")}
    body.update(fields)
    return json.dumps(body, allow_nan=True)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"bbox": [1, float("nan"), 3, 4]}, "bbox.1: Input should be a finite number"),
        ({"bbox": [1, 2, float("inf"), 4]}, "bbox.2: Input should be a finite number"),
        ({"bbox": [1, 2, "3", 4]}, "bbox.2: Input should be a valid number"),
        ({"image_jpeg_b64": "not base64 at all!"}, "image_jpeg_b64: Value error, not base64"),
        ({"image_jpeg_b64": "AAAAA"}, "image_jpeg_b64: Value error, not base64"),
        ({"image_jpeg_b64": "A" * (records.MAX_IMAGE_B64 + 4)}, "image_jpeg_b64: String should have at most"),
    ],
)
def test_handoff_request_bbox_and_crop(fields: dict[str, object], reason: str) -> None:
    with pytest.raises(records.RecordError, match=reason):
        records.decode(handoff(**fields), records.HandoffRequest)


def test_nan_bbox_refused_on_construction_too() -> None:
    with pytest.raises(ValueError, match="finite"):
        records.HandoffRequest(request_id="h", source="s", kind="other", stamp=1.0, bbox=[1, 2, float("nan"), 4])


def test_legit_json_still_decodes() -> None:
    # Ints for float fields, escaped surrogate pairs (an emoji), sixteen levels deep in a string.
    text = sale(stamp=5, lane_id=None)
    assert records.decode(text, records.SaleEvent).stamp == 5.0
    note = records.decode(handoff(detail="\U0001f600 " + "[" * 40, bbox=[1, 2, 3, 4]), records.HandoffRequest)
    assert note.detail.startswith("\U0001f600") and note.bbox == [1.0, 2.0, 3.0, 4.0]
    for record in hostile.samples().values():
        assert records.decode(records.encode(record).encode(), type(record)) == record
