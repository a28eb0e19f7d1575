"""Client messages (bad input refused with a reason), the rate limit, and the deadman/heartbeat mapping."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from restock.paths import store_file
from restock.store.description import load_store
from restock.teleop.control import TeleopControl, Workspace
from restock.teleop.protocol import (
    Pose,
    ProtocolError,
    RateLimit,
    Resolve,
    parse_client_message,
)


def pose(p, grip=True, q=(0.0, 0.0, 0.0, 1.0), trigger=0.0) -> Pose:
    return parse_client_message(
        json.dumps({"type": "pose", "position": list(p), "orientation": list(q), "grip": grip, "trigger": trigger})
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"type": "teleport"}', "invalid message"),
        ('{"type": "pose", "position": [NaN, 0, 0], "orientation": [0, 0, 0, 1], "grip": true}', "finite"),
        ('{"type": "pose", "position": [1e9, 0, 0], "orientation": [0, 0, 0, 1], "grip": true}', "less than or equal"),
        ('{"type": "pose", "position": [0, 0], "orientation": [0, 0, 0, 1], "grip": true}', "at least 3"),
        ('{"type": "pose", "position": [0, 0, 0], "orientation": [0.5, 0, 0, 0.5], "grip": true}', "unit quaternion"),
        ('{"type": "pose", "position": [0, 0, 0], "orientation": [0, 0, 0, 1], "grip": "yes"}', "grip"),
        ('{"type": "heartbeat", "admin": true}', "Extra inputs"),
        ('{"type": "resolve", "request_id": "../../etc", "action": "labelled"}', "request_id"),
        ('{"type": "pose", "position": [0, 0, 0], "orientation": [0, 0, 0, 1], "grip": true, "trigger": 7}', "trigger"),
    ],
)
def test_bad_messages_are_refused_with_a_reason(text, reason):
    with pytest.raises(ProtocolError, match=reason):
        parse_client_message(text)


def test_oversize_message_refused_before_parsing():
    with pytest.raises(ProtocolError, match="exceeds"):
        parse_client_message('{"type": "heartbeat", "pad": "' + "x" * 20_000 + '"}')


def test_good_messages_parse():
    assert isinstance(
        parse_client_message('{"type": "resolve", "request_id": "h-1", "action": "labelled", "label": "cola_500"}'),
        Resolve,
    )
    assert pose([0.1, 1.2, -0.3]).grip


def test_rate_limit_allows_the_rate_and_drops_a_flood():
    rl = RateLimit(rate=100, burst=10)
    allowed = sum(rl.allow(0.0) for _ in range(1000))
    assert allowed == 10  # a burst of 1000 at once: only the bucket gets through
    assert sum(rl.allow(0.001 * i + 0.01) for i in range(1, 1001)) == pytest.approx(100, abs=3)  # 1 s at 1000/s


@pytest.fixture(scope="module", params=["corner_store.yaml", "station_kiosk.yaml"])
def control(request):
    store = load_store(store_file(request.param))
    return TeleopControl(Workspace.for_store(store), store.robot.gripper.max_opening, heartbeat_timeout_s=0.25)


def test_deadman_gates_targets_and_motion_is_relative(control):
    home = tuple(control.workspace.centre())
    control.reset(home)
    assert control.on_pose(pose([0.0, 1.2, -0.3], grip=False), 0.0).target is None
    first = control.on_pose(pose([0.0, 1.2, -0.3]), 0.02).target
    assert first is not None and np.allclose(first.position, home)  # pressing the grip does not move the arm
    moved = control.on_pose(pose([0.05, 1.25, -0.35]), 0.04).target  # right, up, forward in XR
    assert np.allclose(np.subtract(moved.position, home), [0.05, 0.05, 0.05])  # store +x, +y (forward), +z
    # Release, move the hand away, press again: the arm continues from where it was, no jump.
    assert control.on_pose(pose([0.05, 1.25, -0.35], grip=False), 0.06).target is None
    assert control.on_pose(pose([0.4, 1.0, 0.0], grip=False), 0.08).target is None
    again = control.on_pose(pose([0.4, 1.0, 0.0]), 0.10).target
    assert np.allclose(again.position, moved.position)


def test_heartbeat_timeout_holds(control):
    control.reset()
    assert control.on_pose(pose([0, 1, 0]), 1.0).target is not None
    assert control.tick(1.2) is None and control.engaged
    assert "no heartbeat" in control.tick(1.26)
    assert not control.engaged


def test_targets_stay_in_the_workspace_and_jumps_hold(control):
    control.reset()
    control.on_pose(pose([0, 1, 0]), 0.0)
    far = None
    for i in range(1, 200):  # walk the hand 10 m in small steps
        far = control.on_pose(pose([-i * 0.05 if i * 0.05 < 9.9 else -9.9, 1, 0]), i * 0.01).target
    assert far is not None and control.workspace.contains(np.array(far.position))
    control.reset()
    control.on_pose(pose([0, 1, 0]), 0.0)
    d = control.on_pose(pose([0.8, 1, 0]), 0.01)
    assert d.target is None and "jumped" in d.reason and not control.engaged


def test_yaw_follows_the_controller_turn_and_trigger_closes(control):
    control.reset(yaw=0.0)
    control.on_pose(pose([0, 1, 0]), 0.0)
    half = math.radians(30) / 2
    t = control.on_pose(pose([0, 1, 0], q=(0.0, math.sin(half), 0.0, math.cos(half)), trigger=1.0), 0.01).target
    assert t.yaw == pytest.approx(math.radians(30))  # a left turn in XR is a counter-clockwise turn about store z
    assert t.gripper_opening == 0.0
    assert t.quaternion_xyzw()[2] == pytest.approx(math.sin(half))
