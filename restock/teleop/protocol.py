"""The operator app's WebSocket protocol: validated client messages, a rate limit, the frame header.

Client to bridge: JSON text messages, one of the models below (``type`` picks which). Anything
else (not JSON, unknown type, extra fields, NaN or absurd numbers, too long) is refused with a
reason by :func:`parse_client_message`. Bridge to client: JSON ``state``/``alerts``/``error``/``ack``
text messages, and binary camera frames (``FRAME_HEADER`` then the JPEG bytes).
"""

from __future__ import annotations

import json
import math
import re
import struct
from dataclasses import dataclass, field
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from restock import records

MAX_TEXT_MESSAGE_BYTES = 16_384
# No message of the app nests deeper than 3; json.loads recurses per level (RecursionError at ~1,000).
MAX_JSON_DEPTH = 16
_SURROGATE = re.compile("[\ud800-\udfff]")
# An XR tracking space is a room: a controller 10 m from the origin is a glitch or an attack.
MAX_CONTROLLER_RANGE_M = 10.0

Finite = Annotated[float, Field(allow_inf_nan=False)]
Coord = Annotated[float, Field(allow_inf_nan=False, ge=-MAX_CONTROLLER_RANGE_M, le=MAX_CONTROLLER_RANGE_M)]
Unit = Annotated[float, Field(allow_inf_nan=False, ge=-1.0, le=1.0)]
Id = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$")]
Seq = Annotated[int, Field(ge=0, le=2**53)]


class ProtocolError(ValueError):
    """A refused client message; the message is the logged reason."""


class _Msg(BaseModel):
    # strict: "yes" is no bool and "1" no number (JSON ints still pass as floats).
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Heartbeat(_Msg):
    type: Literal["heartbeat"]
    seq: Seq = 0


class Pose(_Msg):
    """The controller's grip pose in the operator's reference space (WebXR: x right, y up, -z forward)."""

    type: Literal["pose"]
    seq: Seq = 0
    position: Annotated[list[Coord], Field(min_length=3, max_length=3)]
    orientation: Annotated[list[Unit], Field(min_length=4, max_length=4)]  # x y z w
    grip: bool  # the deadman: targets flow only while it is held
    trigger: Annotated[float, Field(allow_inf_nan=False, ge=0.0, le=1.0)] = 0.0  # closes the gripper
    sent: Finite | None = None  # client's clock (ms), echoed for latency measurement

    def quaternion_norm_ok(self) -> bool:
        return abs(math.sqrt(sum(c * c for c in self.orientation)) - 1.0) < 0.05


class Claim(_Msg):
    type: Literal["claim"]
    request_id: Id | None = None


class Release(_Msg):
    type: Literal["release"]


class Resolve(_Msg):
    type: Literal["resolve"]
    request_id: Id
    action: Literal["labelled", "removed", "cleared", "retried", "abandoned"]
    label: Id | None = None
    note: Annotated[str, Field(max_length=500)] = ""


class Estop(_Msg):
    type: Literal["estop"]
    engaged: bool


class Watch(_Msg):
    """Which camera to stream (None: stop streaming)."""

    type: Literal["watch"]
    camera_id: Id | None


class FrameShown(_Msg):
    """The app took a frame (decoded it for display, or dropped it for a newer one): the bridge may
    send the next. Capture stamp and when (epoch s)."""

    type: Literal["frame_shown"]
    capture: Annotated[float, Field(allow_inf_nan=False, ge=0)]
    shown: Annotated[float, Field(allow_inf_nan=False, ge=0)]
    dropped: bool = False  # not drawn: a newer frame came before it was decoded (the app keeps the newest)


class RtcOffer(_Msg):
    """The camera as a WebRTC video track: the app's SDP offer (answered with ``rtc_answer``)."""

    type: Literal["rtc_offer"]
    camera_id: Id
    sdp: Annotated[str, Field(min_length=10, max_length=12_000)]


class Logout(_Msg):
    type: Literal["logout"]


ClientMessage = Heartbeat | Pose | Claim | Release | Resolve | Estop | Watch | FrameShown | RtcOffer | Logout
_ADAPTER: TypeAdapter[ClientMessage] = TypeAdapter(
    Annotated[ClientMessage, Field(discriminator="type")]  # type: ignore[arg-type]
)


def loads_bounded(text: str | bytes, max_depth: int = MAX_JSON_DEPTH) -> object:
    """JSON from a client, or ProtocolError: nesting deeper than ``max_depth`` is refused before
    parsing, and so are numbers Python will not read (an integer of 5,000 digits) and strings that
    are not Unicode text (a lone surrogate, which nothing downstream can encode)."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as err:
            raise ProtocolError(f"not UTF-8 at byte {err.start}") from None
    opens = text.count("[") + text.count("{")  # few brackets (every app message): no scan needed
    if opens > max_depth and _max_depth(text, max_depth) > max_depth:
        raise ProtocolError(f"JSON nested deeper than {max_depth}")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ProtocolError(f"not JSON: {err.msg}") from None
    except (ValueError, RecursionError) as err:  # int digits limit; depth is checked above
        raise ProtocolError(f"not JSON: {str(err)[:80]}") from None
    if _has_surrogate(data):
        raise ProtocolError("a string is not valid Unicode (lone surrogate)")
    return data


def _max_depth(text: str, stop: int) -> int:
    """How deep brackets nest outside strings, counting up to just past ``stop`` (linear, no recursion)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > stop:
                    break
        elif ch in "]}":
            depth -= 1
    return deepest


def _has_surrogate(data: object) -> bool:
    if isinstance(data, str):
        return not data.isascii() and _SURROGATE.search(data) is not None
    if isinstance(data, dict):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in data.items())
    if isinstance(data, list):
        return any(_has_surrogate(v) for v in data)
    return False


def parse_client_message(text: str) -> ClientMessage:
    """One validated client message, or ProtocolError with the reason."""
    if len(text) > MAX_TEXT_MESSAGE_BYTES:
        raise ProtocolError(f"message of {len(text)} bytes exceeds {MAX_TEXT_MESSAGE_BYTES}")
    return parse_client_object(loads_bounded(text))


def parse_client_object(data: object) -> ClientMessage:
    """The same from JSON already read (a message relayed inside another: not encoded again to check it)."""
    if not isinstance(data, dict):
        raise ProtocolError(f"expected a JSON object, got {type(data).__name__}")
    try:
        msg = _ADAPTER.validate_python(data)
    except ValidationError as err:
        reasons = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(message)'}: {e['msg']}" for e in err.errors()[:3]
        )
        raise ProtocolError(f"invalid message: {reasons}") from None
    if isinstance(msg, Pose) and not msg.quaternion_norm_ok():
        raise ProtocolError("invalid message: orientation is not a unit quaternion")
    return msg


# What the app shows of a back-room alert (records.BackroomAlert).
ALERT_FIELDS = frozenset(
    {"alert_id", "stamp", "sku", "message", "lead_s", "sales_at_risk", "next_delivery", "empty_at", "back_room"}
)


def alerts_message(active: list[records.BackroomAlert]) -> dict:
    """Bridge to client: the back-room alerts now raised, most urgent first (the whole list each
    time: sent on connect and whenever it changes; an empty list clears the app's banner)."""
    return {"type": "alerts", "alerts": [a.model_dump(mode="json", include=set(ALERT_FIELDS)) for a in active]}


@dataclass
class RateLimit:
    """A token bucket per connection: ``rate`` messages a second sustained, ``burst`` at once."""

    rate: float
    burst: float
    _tokens: float = field(default=-1.0)
    _last: float = 0.0

    def allow(self, now: float) -> bool:
        if self._tokens < 0:
            self._tokens, self._last = self.burst, now
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


# Binary camera frame (little-endian): version, camera index, reserved, frame number, then the
# stage times (epoch s) the latency figures read: capture, bridge received, JPEG encoded, sent to
# this viewer. The JPEG bytes follow. One JPEG serves every viewer; only ``sent`` is per viewer.
FRAME_HEADER = struct.Struct("<BBHIdddd")
FRAME_VERSION = 2
_SENT_AT = FRAME_HEADER.size - 8


@dataclass(frozen=True)
class FrameStamps:
    capture: float
    received: float
    encoded: float
    sent: float = 0.0


def pack_frame(camera_index: int, number: int, stamps: FrameStamps, jpeg: bytes) -> bytes:
    head = FRAME_HEADER.pack(
        FRAME_VERSION, camera_index, 0, number & 0xFFFFFFFF, stamps.capture, stamps.received, stamps.encoded,
        stamps.sent,
    )  # fmt: skip
    return head + jpeg


def stamp_sent(frame: bytes, sent: float) -> bytes:
    """The same frame with its send time set (a copy: the encoded frame is shared by all viewers)."""
    return frame[:_SENT_AT] + struct.pack("<d", sent) + frame[FRAME_HEADER.size :]


def unpack_frame(data: bytes) -> tuple[int, int, FrameStamps, bytes]:
    index, number, stamps = frame_header(data)
    return index, number, stamps, data[FRAME_HEADER.size :]


def frame_header(data: bytes) -> tuple[int, int, FrameStamps]:
    """A frame's camera index, number and stamps, its JPEG left where it is (a relay copies nothing)."""
    if len(data) < FRAME_HEADER.size:
        raise ProtocolError(f"a frame of {len(data)} bytes has no header")
    version, index, _, number, capture, received, encoded, sent = FRAME_HEADER.unpack_from(data)
    if version != FRAME_VERSION:
        raise ProtocolError(f"frame version {version}")
    return index, number, FrameStamps(capture, received, encoded, sent)
