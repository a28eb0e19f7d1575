"""Hostile input for the record decoder: valid samples of every record type and ways to spoil them.

Shared by the fuzz test (test/foundation/test_records_fuzz.py), the fuzz bench
(bench/fuzz_records.py) and the flood graph test, so all three throw the same kinds of input:
the cases an attacker tried (deep nesting, a 5,000-digit integer, strings for numbers, booleans for
numbers, NaN, non-base64 crops, lone surrogates), mutated valid records, and raw bytes.
Plain ``random.Random`` with a seed: the same seed gives the same inputs.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Iterator
from typing import Any

from restock import records

_JPEG_B64 = base64.b64encode(b"\xff\xd8\xff\xe0fake crop\xff\xd9").decode()


def samples() -> dict[str, records.Record]:
    """One valid record of every type, with its optional fields set (so they get spoiled too)."""
    task = records.RestockTask(
        task_id="t1", lane_id="r1_l01", sku="cola_500", quantity=2, stock_location="s_cola_500", created=10.0, due=99.5
    )
    lane = records.LaneObservation(lane_id="r1_l01", state="present", sku_seen="cola_500", fill=0.5, confidence=0.9)
    truth = records.LaneTruth(sku="cola_500", capacity=8, count=2, items=["cola_500", "unfamiliar"])
    event = records.SimEvent(stamp=3.0, kind="sale", lane_id="r1_l01", sku="cola_500", detail="one")
    made: list[records.Record] = [
        lane,
        records.ShelfObservation(stamp=2.0, camera_id="cam_left", frame_stamp=1.9, lanes=[lane, lane]),
        task,
        records.TaskResult(
            task_id="t1",
            lane_id="r1_l01",
            outcome="parked",
            placed=1,
            reason="slip",
            started=1.0,
            finished=9.5,
            handoff_id="h1",
        ),
        records.PlanSnapshot(stamp=7.0, tasks=[task], waiting_for_operator=["r1_l02"]),
        records.HandoffRequest(
            request_id="h1",
            source="shelf_camera_cam_left",
            kind="unfamiliar_item",
            stamp=3.0,
            lane_id="r1_l01",
            task_id="t1",
            camera_id="cam_left",
            detail="a can",
            image_jpeg_b64=_JPEG_B64,
            bbox=[1, 2.5, 30, 40],
            frame_stamp=2.9,
        ),
        records.HandoffResolution(
            request_id="h1", operator="ana", action="labelled", label="cola_500", stamp=4.0, note="ok"
        ),
        records.TeleopStatus(stamp=6.0, operator="ana", request_id="h1", control="operator", engaged=True),
        records.SaleEvent(stamp=5.0, sku="cola_500", quantity=1, lane_id="r1_l01", source="pos", seq=41),
        truth,
        event,
        records.SimGroundTruth(
            stamp=8.0,
            lanes={"r1_l01": truth},
            stock={"s_cola_500": 4},
            sales={"cola_500": 3},
            lost_sales={"cola_500": 0},
            held="cola_500",
            events=[event],
        ),
        records.BackroomAlert(
            alert_id="a1",
            stamp=9.0,
            sku="cola_500",
            state="raised",
            back_room=3,
            empty_at=99.0,
            next_delivery=200.0,
            sales_at_risk=4.5,
            lead_s=90.0,
            message="cola_500: back room empty at about 15:40",
        ),
        records.BackroomRestock(
            stamp=10.0, sku="cola_500", stock_location="s_cola_500", added=20, quantity=23, alert_id="a1"
        ),
        records.LockstepAck(
            node="arm_controller",
            incarnation="41-1",
            stamp=11.0,
            next_due=11.5,
            sent={"arm_controller/joint_trajectory": 3},
            received={"/clock": [7], "pos/sales": [2, 2]},
            matched={"arm_controller/joint_trajectory": 2},
        ),
    ]
    return {r.KIND: r for r in made}


# What the attacker sent (issue 22), as text fragments: each is a whole record or goes into one.
DEEP_ARRAY = "[" * 100_000
DEEP_OBJECT = '{"a":' * 50_000
HUGE_INT = "9" * 5_000
LONE_SURROGATE = '"\\ud800"'
FRAGMENTS = [
    DEEP_ARRAY,
    DEEP_OBJECT,
    HUGE_INT,
    "1e400",
    "-1e400",
    "NaN",
    "Infinity",
    "-Infinity",
    "1" * 40,
    "0." + "0" * 40,
    "1e-400",
    str(2**63),
    str(-(2**63) - 1),
    "true",
    "false",
    "null",
    '"5"',
    '""',
    '"\\u0000"',
    LONE_SURROGATE,
    '"\\udfff\\ud800"',
    '"\ud800"',
    '"\\"',
    "[]",
    "{}",
    "[[[[[[[[[[[[[[[[[[[[",
    "]]]]",
    "}{",
    '"' + "x" * 3000 + '"',
    '"not base64!!"',
    '"AAA"',
    '"\\ud83d\\ude00"',
    "1.0",
    "-0",
    "0x10",
    "01",
    "+1",
    "1_000",
    "٣",
]


def json_value(rng: random.Random, depth: int = 0) -> Any:
    """A random JSON-ish value: any type, including the awkward ones (NaN, big ints, surrogates)."""
    roll = rng.random()
    if depth < 3 and roll < 0.15:
        return [json_value(rng, depth + 1) for _ in range(rng.randrange(5))]
    if depth < 3 and roll < 0.25:
        return {_text(rng, 6): json_value(rng, depth + 1) for _ in range(rng.randrange(4))}
    return rng.choice(
        [
            None,
            True,
            False,
            0,
            1,
            -1,
            5,
            64,
            65,
            1001,
            2**63,
            -(2**63) - 1,
            10**30,
            0.5,
            -0.0,
            1e308,
            float("nan"),
            float("inf"),
            float("-inf"),
            "5",
            "1.5",
            "",
            "cola_500",
            "present",
            "a b",
            "\ud800",
            "x" * 200,
            _text(rng, 12),
            rng.uniform(-1e6, 1e6),
            rng.randrange(-(2**40), 2**40),
        ]
    )


def _text(rng: random.Random, n: int) -> str:
    return "".join(
        chr(rng.choice((rng.randrange(32, 127), rng.randrange(0x80, 0x11000)))) for _ in range(rng.randrange(n))
    )


def paths(obj: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Where a value sits in ``obj``: every key and index path below the root."""
    if isinstance(obj, dict):
        items: Any = obj.items()
    elif isinstance(obj, list):
        items = enumerate(obj)
    else:
        return
    for k, v in items:
        yield (*path, k)
        yield from paths(v, (*path, k))


def parent_of(body: Any, path: tuple[Any, ...]) -> Any:
    for key in path[:-1]:
        body = body[key]
    return body


def spoil_structure(rng: random.Random, body: dict[str, Any]) -> dict[str, Any]:
    """``body`` (a record's JSON object, copied) with one to three values replaced, dropped or added."""
    body = json.loads(json.dumps(body))
    for _ in range(rng.randint(1, 3)):
        path = rng.choice(list(paths(body)))
        parent = parent_of(body, path)
        op = rng.random()
        if op < 0.6:
            parent[path[-1]] = json_value(rng)
        elif op < 0.75 and isinstance(parent, dict):
            del parent[path[-1]]
        elif op < 0.85:
            parent[path[-1]] = [parent[path[-1]]]
        elif isinstance(parent, dict):
            parent[rng.choice(["extra", "v", "record", _text(rng, 5)])] = json_value(rng)
    return body


def spoil_text(rng: random.Random, text: str) -> str:
    """``text`` cut, with a character changed, or with a hostile fragment put in at a random place."""
    at = rng.randrange(len(text) + 1)
    op = rng.random()
    if op < 0.2:
        return text[:at]
    if op < 0.4 and text:
        i = rng.randrange(len(text))
        return text[:i] + chr(rng.randrange(0x80)) + text[i + 1 :]
    if op < 0.5:
        return text[:at] + text[at : at + rng.randrange(20)] * 2 + text[at:]
    return text[:at] + rng.choice(FRAGMENTS) + text[at:]


def dumps(rng: random.Random, body: Any) -> str:
    """JSON as a sloppy or hostile sender might write it: NaN allowed, non-ASCII raw or escaped."""
    return json.dumps(body, allow_nan=True, ensure_ascii=rng.random() < 0.5)


def raw_input(rng: random.Random) -> str | bytes:
    """Short random bytes or text, or a hostile fragment alone."""
    roll = rng.random()
    if roll < 0.4:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(40)))
    if roll < 0.7:
        return _text(rng, 40)
    return rng.choice(FRAGMENTS)


def fuzz_inputs(rng: random.Random, kind: str, n: int) -> Iterator[str | bytes]:
    """``n`` hostile inputs aimed at the record type ``kind``."""
    sample = samples()[kind]
    body = {"record": kind, **sample.model_dump(mode="json")}
    text = records.encode(sample)
    for _ in range(n):
        roll = rng.random()
        if roll < 0.5:
            yield dumps(rng, spoil_structure(rng, body))
        elif roll < 0.85:
            yield spoil_text(rng, text)
        else:
            yield raw_input(rng)


def table_cases(kind: str) -> dict[str, str]:
    """The cases of issue 22's table, aimed at ``kind`` where they need a record around them."""
    sample = samples()[kind]
    body = {"record": kind, **sample.model_dump(mode="json")}
    number = next((k for k, v in body.items() if type(v) in (int, float) and k != "v"), None)
    cases = {
        "deep array": DEEP_ARRAY,
        "deep object": DEEP_OBJECT,
        "5,000-digit integer": HUGE_INT,
        "5,000-digit integer in a record": json.dumps(body)[:-1] + f',"extra":{HUGE_INT}}}',
        "v: true": json.dumps({**body, "v": True}),
        "lone surrogate": LONE_SURROGATE,
        "escaped lone surrogate in a record": json.dumps({**body, "extra": "\ud800"}),
        "raw lone surrogate in a record": json.dumps({**body, "extra": "\ud800"}, ensure_ascii=False),
    }
    if number is not None:
        cases[f"{number}: true"] = json.dumps({**body, number: True})
        cases[f"{number}: string"] = json.dumps({**body, number: str(body[number])})
        cases[f"{number}: NaN"] = json.dumps({**body, number: float("nan")})
    return cases
