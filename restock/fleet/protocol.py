"""The fleet service's messages: what operators and robots may send, validated like the bridge's.

JSON text over WSS (and the same bodies over HTTPS for operators). Parsing reuses the bridge's
bounded JSON reader (depth, digits, lone surrogates: restock.teleop.protocol.loads_bounded); the
models are strict (no extra fields, no "1" for a number). Operators: claim, release, resolve,
heartbeat, logout. Robots: handoff (a records.HandoffRequest with what its wait costs), status,
withdrawn (a handoff the robot resolved itself), resolution_ack, heartbeat. An operator's ``command`` (a bridge message for the robot whose handoff
they hold) and the robot's ``reply`` are relayed through the service, across instances by NOTIFY.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from restock import records
from restock.teleop import protocol as P
from restock.teleop.protocol import Heartbeat, Logout, ProtocolError, loads_bounded

HandoffId = Annotated[int, Field(ge=1, le=2**62)]
Id = records.Id
# What an operator may decide and say: the bridge's resolve message's own field types.


def _field_type(model: type[BaseModel], name: str) -> Any:
    """A model field's type with its constraints (max_length and the like), to declare it once."""
    info = model.model_fields[name]
    return Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation


Action = _field_type(P.Resolve, "action")
Note = _field_type(P.Resolve, "note")
MAX_OPERATOR_MESSAGE_BYTES = 16_384
MAX_ROBOT_MESSAGE_BYTES = 2_100_000  # a handoff carries its crop (records.MAX_IMAGE_B64 of base64)
MAX_STATUS_BYTES = 16_384


class _Msg(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Claim(_Msg):
    type: Literal["claim"]
    id: HandoffId | None = None  # None: the costliest open handoff of the operator's tenant


class Release(_Msg):
    type: Literal["release"]
    id: HandoffId


class Resolve(_Msg):
    type: Literal["resolve"]
    id: HandoffId
    action: Action
    label: Id | None = None
    note: Note = ""


class Command(_Msg):
    """A bridge message for the robot whose handoff the operator holds, relayed over the robot's link
    (the robot's own teleop rules judge it: lease, deadman, heartbeat, envelope)."""

    type: Literal["command"]
    robot: Id
    body: dict[str, Any]  # checked by the bridge's own parser (restock.teleop.protocol.parse_client_message)


class RobotHandoff(_Msg):
    type: Literal["handoff"]
    request: dict[str, Any]  # a records.HandoffRequest, checked by records.decode
    blocked_sales_per_h: Annotated[float, Field(ge=0, le=1e6, allow_inf_nan=False)] = 0.0
    waiting_s: Annotated[float, Field(ge=0, le=7 * 86400, allow_inf_nan=False)] = 0.0  # queued offline this long


class RobotStatus(_Msg):
    type: Literal["status"]
    status: dict[str, Any]


class RobotReply(_Msg):
    """What the robot's bridge answers an operator's relayed command (state, acks, errors)."""

    type: Literal["reply"]
    operator: Id
    body: dict[str, Any]


class RobotWithdrawn(_Msg):
    """The robot resolved one of its handoffs itself (an operator at its own bridge): it leaves the
    fleet's queue, resolved as the robot says (a records.HandoffResolution, checked by records.decode)."""

    type: Literal["withdrawn"]
    resolution: dict[str, Any]


class ResolutionAck(_Msg):
    type: Literal["resolution_ack"]
    request_id: Id


OperatorMessage = Claim | Release | Resolve | Command | Heartbeat | Logout | P.FrameShown
RobotMessage = RobotHandoff | RobotStatus | RobotReply | RobotWithdrawn | ResolutionAck | Heartbeat
# The bridge messages a relay may carry (watch and frame_shown: the camera stream, which comes back
# as binary frames in the bridge's own format from the robot's link).
RELAYED = ("heartbeat", "pose", "claim", "release", "estop", "watch", "frame_shown")
MAX_RELAYED_BYTES = 7000  # a relay crosses instances as a NOTIFY payload (PostgreSQL: under 8000 bytes)
_OPERATOR: TypeAdapter[OperatorMessage] = TypeAdapter(Annotated[OperatorMessage, Field(discriminator="type")])  # type: ignore[arg-type]
_ROBOT: TypeAdapter[RobotMessage] = TypeAdapter(Annotated[RobotMessage, Field(discriminator="type")])  # type: ignore[arg-type]


def _parse(adapter: TypeAdapter, data: object) -> Any:
    if not isinstance(data, dict):
        raise ProtocolError(f"expected a JSON object, got {type(data).__name__}")
    try:
        return adapter.validate_python(data)
    except ValidationError as err:
        reasons = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(message)'}: {e['msg']}" for e in err.errors()[:3]
        )
        raise ProtocolError(f"invalid message: {reasons}") from None


def parse_operator(data: str | dict) -> OperatorMessage:
    """An operator's message (WSS text, or an HTTP body with its type), else ProtocolError."""
    if isinstance(data, str):
        if len(data) > MAX_OPERATOR_MESSAGE_BYTES:
            raise ProtocolError(f"message of {len(data)} bytes exceeds {MAX_OPERATOR_MESSAGE_BYTES}")
        data = loads_bounded(data)  # type: ignore[assignment]
    raw = len(data) if isinstance(data, str) else None
    msg = _parse(_OPERATOR, data)
    if isinstance(msg, Command):
        # The body's size by its message's where that says enough (a pose is not encoded again).
        if (raw is None or raw > MAX_RELAYED_BYTES) and len(json.dumps(msg.body)) > MAX_RELAYED_BYTES:
            raise ProtocolError(f"command body over {MAX_RELAYED_BYTES} bytes")
        inner = P.parse_client_object(msg.body)
        if inner.type not in RELAYED:
            raise ProtocolError(f"a {inner.type} message is not relayed to a robot (relayed: {', '.join(RELAYED)})")
    return msg


def parse_robot(text: str) -> tuple[RobotMessage, records.HandoffRequest | records.HandoffResolution | None]:
    """A robot's message and, for a handoff or a withdrawal, its validated record; else ProtocolError."""
    if len(text) > MAX_ROBOT_MESSAGE_BYTES:
        raise ProtocolError(f"message of {len(text)} bytes exceeds {MAX_ROBOT_MESSAGE_BYTES}")
    msg = _parse(_ROBOT, loads_bounded(text))
    if isinstance(msg, RobotHandoff):
        try:
            return msg, records.decode(json.dumps(msg.request), records.HandoffRequest)
        except records.RecordError as err:
            raise ProtocolError(f"invalid handoff request: {err}") from None
    if isinstance(msg, RobotWithdrawn):
        try:
            return msg, records.decode(json.dumps(msg.resolution), records.HandoffResolution)
        except records.RecordError as err:
            raise ProtocolError(f"invalid resolution: {err}") from None
    if isinstance(msg, RobotStatus) and len(json.dumps(msg.status)) > MAX_STATUS_BYTES:
        raise ProtocolError(f"status over {MAX_STATUS_BYTES} bytes")
    if isinstance(msg, RobotReply) and len(json.dumps(msg.body)) > MAX_RELAYED_BYTES:
        raise ProtocolError(f"reply body over {MAX_RELAYED_BYTES} bytes")
    return msg, None
