"""The fleet's messages: strict, bounded, and a robot's handoff is a valid records.HandoffRequest."""

from __future__ import annotations

import json

import pytest

from restock import records
from restock.fleet.protocol import Claim, RobotHandoff, parse_operator, parse_robot
from restock.teleop.protocol import ProtocolError


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ('{"type": "claim", "id": "7"}', "id"),  # strict: a string is no number
        ('{"type": "claim", "id": 0}', "id"),
        ('{"type": "claim", "extra": 1}', "extra"),
        ('{"type": "resolve", "id": 1, "action": "exploded"}', "action"),
        ('{"type": "resolve", "id": 1, "action": "cleared", "note": "' + "x" * 501 + '"}', "note"),
        ('{"type": "pose"}', "type"),
        ("[" * 40 + "]" * 40, "nested"),
        ('"claim"', "JSON object"),
    ],
)
def test_operator_messages_refused_with_a_reason(text: str, why: str) -> None:
    with pytest.raises(ProtocolError, match=why):
        parse_operator(text)


def test_operator_message_and_http_body() -> None:
    assert parse_operator('{"type": "claim"}') == Claim(type="claim")
    assert parse_operator({"type": "claim", "id": 3}).id == 3


def test_robot_handoff_carries_a_checked_request() -> None:
    req = records.HandoffRequest(request_id="h1", source="arm_controller", kind="failed_grasp", stamp=12.0)
    body = {"type": "handoff", "request": json.loads(records.encode(req)), "blocked_sales_per_h": 2, "waiting_s": 5.5}
    msg, request = parse_robot(json.dumps(body))
    assert isinstance(msg, RobotHandoff) and request == req and msg.blocked_sales_per_h == 2.0
    body["request"]["kind"] = "anything"
    with pytest.raises(ProtocolError, match="invalid handoff request"):
        parse_robot(json.dumps(body))
    body["request"]["kind"] = "other"
    body["waiting_s"] = -1
    with pytest.raises(ProtocolError, match="waiting_s"):
        parse_robot(json.dumps(body))
    with pytest.raises(ProtocolError, match="status over"):
        parse_robot(json.dumps({"type": "status", "status": {"x": "y" * 20_000}}))
