"""The domain records our own nodes exchange: typed, versioned schemas in one module.

Carried as JSON in std_msgs/String (``{"record": <KIND>, "v": <version>, ...fields}``). Every record is
validated on receipt by :func:`decode`; a malformed one raises :class:`RecordError` with the
reason, which a node logs before dropping the message. Nodes never hand-parse JSON.

Some record topics are fed from outside the graph (a till's ``pos/sales``), so :func:`decode` treats
its input as hostile: size and nesting depth are bounded before the JSON parser runs and a number's
length before it is converted, types are strict (no ``"5"`` for 5, no ``true`` for 1; records built
in Python keep pydantic's usual conversions), floats finite, text valid Unicode, keys unique, and
whatever else goes wrong is a :class:`RecordError` too, never another exception.

Timestamps are seconds on the ROS clock of the sender (sim time under use_sim_time).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Annotated, Any, ClassVar, Literal, TypeVar

import numpy as np
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

SCHEMA_VERSION = 1
# Records larger than this are refused before parsing (a crop is a few tens of kB).
MAX_RECORD_BYTES = 2_000_000
# The deepest record (ground truth: lanes -> lane -> items) nests 4 levels: 16 leaves room and stays
# far below the parser's recursion limit.
MAX_DEPTH = 16
# Characters in one number: an int64 has 19 digits, a float's repr at most 24 characters; a
# 5,000-digit integer costs quadratic time to convert.
MAX_DIGITS = 32
MAX_IMAGE_B64 = 1_500_000  # characters of a crop's base64
INT64 = 2**63

Stamp = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Ratio = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Id = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$")]


class RecordError(ValueError):
    """A record that failed validation; the message says why."""


def _base64(text: str) -> str:
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as err:
        raise ValueError(f"not base64: {err}") from None
    return text


Base64Image = Annotated[str, Field(min_length=4, max_length=MAX_IMAGE_B64), AfterValidator(_base64)]


class Record(BaseModel):
    # Finite floats everywhere (a NaN bbox or an infinite stamp is refused on construction too).
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    KIND: ClassVar[str] = ""
    v: Literal[1] = SCHEMA_VERSION

    @field_validator("v", mode="before")
    @classmethod
    def _exact_version(cls, value: object) -> object:
        # Literal[1] alone takes True and 1.0 (they compare equal to 1).
        if type(value) is not int:
            raise ValueError(f"the schema version is an integer, got {type(value).__name__}")
        return value


# --- what the cameras see ---------------------------------------------------------------

LaneState = Literal["present", "empty", "unknown"]


class LaneObservation(Record):
    """One lane's front as one camera saw it, after temporal filtering."""

    KIND: ClassVar[str] = "lane_observation"
    lane_id: Id
    state: LaneState  # unknown: occluded, stale camera, or not confident
    sku_seen: Id | None = None  # the SKU the detector recognised at the front
    fill: Ratio | None = None  # fraction of capacity, where the column is visible
    unfamiliar: bool = False  # an item that is not this lane's SKU, or no SKU at all
    obstruction: bool = False
    hand: bool = False  # a customer's hand in view of this lane
    confidence: Ratio = 1.0


class ShelfObservation(Record):
    """All lanes one camera sees, from one frame."""

    KIND: ClassVar[str] = "shelf_observation"
    stamp: Stamp
    camera_id: Id
    frame_stamp: Stamp  # the image's header stamp
    lanes: list[LaneObservation]
    stale: bool = False  # no frame for longer than the camera's timeout: lanes are unknown


# --- what the planner decides and the arm does ------------------------------------------


class RestockTask(Record):
    KIND: ClassVar[str] = "restock_task"
    task_id: Id
    lane_id: Id
    sku: Id
    quantity: Annotated[int, Field(ge=1, le=64)]
    stock_location: Id
    priority: Annotated[float, Field(allow_inf_nan=False)] = 0.0
    created: Stamp
    due: Stamp | None = None  # when the lane is predicted to run empty


TaskOutcome = Literal["done", "partial", "failed", "parked", "rejected"]


class TaskResult(Record):
    KIND: ClassVar[str] = "task_result"
    task_id: Id
    lane_id: Id
    outcome: TaskOutcome
    placed: Annotated[int, Field(ge=0, le=64)]
    reason: str = ""
    started: Stamp
    finished: Stamp
    handoff_id: Id | None = None  # set when the task was parked for an operator


class PlanSnapshot(Record):
    """The planner's current queue, for the plan service and visualisation."""

    KIND: ClassVar[str] = "plan_snapshot"
    stamp: Stamp
    tasks: list[RestockTask]
    waiting_for_operator: list[Id] = []


# --- what goes to a remote operator -----------------------------------------------------

# wrong_item: the wrist camera saw another SKU in the gripper than the task's (a stock mix-up).
HandoffKind = Literal[
    "unfamiliar_item", "obstruction", "failed_grasp", "unreachable", "blocked_lane", "wrong_item", "other"
]


class HandoffRequest(Record):
    KIND: ClassVar[str] = "handoff_request"
    request_id: Id
    source: Id  # node that raised it
    kind: HandoffKind
    stamp: Stamp
    lane_id: Id | None = None
    task_id: Id | None = None
    camera_id: Id | None = None
    detail: Annotated[str, Field(max_length=2000)] = ""
    image_jpeg_b64: Base64Image | None = None  # crop of what needs a look
    bbox: Annotated[list[float], Field(min_length=4, max_length=4)] | None = None  # x1 y1 x2 y2 px
    frame_stamp: Stamp | None = None  # header stamp of the camera image bbox refers to (a training sample's frame)
    stock_location: Id | None = None  # the back-room location it concerns (a wrong item put back there)


class HandoffResolution(Record):
    KIND: ClassVar[str] = "handoff_resolution"
    request_id: Id
    operator: Id
    action: Literal["labelled", "removed", "cleared", "retried", "abandoned"]
    label: Id | None = None  # SKU id or "foreign_item"
    stamp: Stamp
    note: Annotated[str, Field(max_length=2000)] = ""


class TeleopStatus(Record):
    """Who holds the arm: autonomy or a named operator (published by the teleop bridge)."""

    KIND: ClassVar[str] = "teleop_status"
    stamp: Stamp
    operator: Id | None = None
    request_id: Id | None = None
    control: Literal["autonomy", "operator"]
    engaged: bool = False  # operator control only: deadman held and heartbeat fresh, so targets are live


# --- what was sold ----------------------------------------------------------------------


class SaleEvent(Record):
    KIND: ClassVar[str] = "sale_event"
    stamp: Stamp
    sku: Id
    quantity: Annotated[int, Field(ge=1, le=1000)]
    lane_id: Id | None = None
    source: Literal["pos", "inferred", "log"] = "pos"
    # The till's receipt number, where the feed has one: a sale heard twice (the feed's history
    # replayed to a restarted planner) is counted once.
    seq: Annotated[int, Field(ge=0, lt=INT64)] | None = None  # SQLite keeps it as an int64


# --- the simulator's ground truth (evaluation only: never read by the stack) -------------


class LaneTruth(Record):
    KIND: ClassVar[str] = "lane_truth"
    sku: Id  # the planogram's SKU for the lane
    capacity: Annotated[int, Field(ge=0)]
    count: Annotated[int, Field(ge=0)]  # containers of any SKU in the lane
    items: list[Id]  # front first: SKU ids, "unfamiliar" or "obstruction"


class SimEvent(Record):
    KIND: ClassVar[str] = "sim_event"
    stamp: Stamp
    kind: Id  # sale, lost_sale, refill, grasp, grasp_slipped, placed, dropped, arm_collision, unfamiliar, ...
    lane_id: Id | None = None
    sku: Id | None = None
    detail: Annotated[str, Field(max_length=2000)] = ""


class SimGroundTruth(Record):
    """What is really in the simulated store: for evaluation only, never used by the stack."""

    KIND: ClassVar[str] = "sim_ground_truth"
    stamp: Stamp
    lanes: dict[str, LaneTruth]
    stock: dict[str, Annotated[int, Field(ge=0)]]  # back-room stock location -> containers
    sales: dict[str, Annotated[int, Field(ge=0)]]  # SKU -> containers sold since the start
    lost_sales: dict[str, Annotated[int, Field(ge=0)]]  # SKU -> containers wanted from an empty lane
    held: Id | None = None  # what the gripper holds
    events: list[SimEvent] = []  # since the previous ground-truth message


# --- the back room and its staff (issue 17) ---------------------------------------------


class BackroomAlert(Record):
    """The planner to staff: a SKU's back room runs dry before the next delivery (or no longer)."""

    KIND: ClassVar[str] = "backroom_alert"
    alert_id: Id
    stamp: Stamp
    sku: Id
    state: Literal["raised", "cleared"]
    back_room: Annotated[int, Field(ge=0)]  # containers the planner believes are behind the rail
    empty_at: Stamp | None = None  # predicted; None: not before the next delivery
    next_delivery: Stamp | None = None
    sales_at_risk: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0  # expected, before the delivery
    lead_s: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None  # empty_at - stamp
    message: Annotated[str, Field(max_length=500)] = ""


class BackroomRestock(Record):
    """Stock brought to a back-room location outside the delivery schedule (staff answering an alert)."""

    KIND: ClassVar[str] = "backroom_restock"
    stamp: Stamp
    sku: Id
    stock_location: Id
    added: Annotated[int, Field(ge=0)]
    quantity: Annotated[int, Field(ge=0)]  # containers at the location afterwards
    alert_id: Id | None = None


# --- lockstep (issue 18) ----------------------------------------------------------------

Count = Annotated[int, Field(ge=0)]


class LockstepAck(Record):
    """A lockstep participant to the simulator: what it has sent and received, and when to wake it.

    See restock.graph.lockstep: the simulator steps on only when every subscription has received
    what all participants sent on its topic.
    """

    KIND: ClassVar[str] = "lockstep_ack"
    node: Annotated[str, Field(min_length=1, max_length=200)]
    incarnation: Annotated[str, Field(min_length=1, max_length=64)]  # a restart is a new one
    stamp: Stamp  # the latest /clock it has processed
    next_due: Stamp | None = None  # the sim time it needs to be woken at (None: only by messages)
    sent: dict[Annotated[str, Field(max_length=200)], Count] = Field(default_factory=dict, max_length=100)
    received: dict[Annotated[str, Field(max_length=200)], Annotated[list[Count], Field(max_length=8)]] = Field(
        default_factory=dict, max_length=100
    )
    # Subscriptions each of its publishers is matched with (DDS discovery): the first step waits
    # until every counted subscription can hear its publishers, so no message is lost to discovery.
    matched: dict[Annotated[str, Field(max_length=200)], Count] = Field(default_factory=dict, max_length=100)


RECORD_TYPES: dict[str, type[Record]] = {
    cls.KIND: cls
    for cls in (
        LaneObservation,
        ShelfObservation,
        RestockTask,
        TaskResult,
        PlanSnapshot,
        HandoffRequest,
        HandoffResolution,
        TeleopStatus,
        SaleEvent,
        LaneTruth,
        SimEvent,
        SimGroundTruth,
        BackroomAlert,
        BackroomRestock,
        LockstepAck,
    )
}

R = TypeVar("R", bound=Record)


def encode(record: Record) -> str:
    """The JSON text carried in std_msgs/String.data."""
    try:
        body = record.model_dump(mode="json")
        return json.dumps({"record": record.KIND, **body}, separators=(",", ":"), allow_nan=False)
    except (ValueError, TypeError) as err:  # a record built with model_construct and a NaN, say
        raise RecordError(f"cannot encode {record.KIND}: {err}") from None


def decode(text: str | bytes, expected: type[R]) -> R:
    """Parse and validate one record of the expected type, or raise RecordError with the reason.

    Nothing else escapes: the input may come from outside the graph, and a node that dies on
    one bad message is a denial of service.
    """
    try:
        data = _parse(text)
        kind = data.pop("record", None)
        if kind != expected.KIND:
            raise RecordError(f"expected record {expected.KIND!r}, got {_brief(kind)}")
        version = data.get("v")
        if version != SCHEMA_VERSION or type(version) is not int:
            raise RecordError(f"unsupported schema version {_brief(version)} (this node reads v{SCHEMA_VERSION})")
        try:
            # Strict: JSON gives exact types, so "5" for an int or true for a number is an error.
            return expected.model_validate(data, strict=True)
        except ValidationError as err:
            raise RecordError(f"invalid {expected.KIND}: {_reasons(err)}") from None
    except RecordError:
        raise
    except Exception as err:  # a parser or validator fault on input nobody foresaw: still a bad record
        raise RecordError(f"unreadable {expected.KIND}: {type(err).__name__}: {_brief(str(err))}") from None


# --- the hostile-input gate ------------------------------------------------------------

_QUOTE = ord('"')
_BRACKET_STEP = np.zeros(256, dtype=np.int8)
_BRACKET_STEP[[ord("["), ord("{")]] = 1
_BRACKET_STEP[[ord("]"), ord("}")]] = -1
_SURROGATE = re.compile("[\ud800-\udfff]")
_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")


def _parse(text: str | bytes) -> dict[str, Any]:
    """The JSON object in ``text``, once its size, depth, numbers and Unicode have been checked."""
    if len(text) > MAX_RECORD_BYTES:
        raise RecordError(f"record of {len(text)} bytes exceeds {MAX_RECORD_BYTES}")
    if isinstance(text, bytes | bytearray):
        raw = bytes(text)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise RecordError(f"not UTF-8: {err}") from None
    elif isinstance(text, str):
        try:
            raw = text.encode("utf-8")
        except UnicodeEncodeError:
            raise RecordError("invalid Unicode: a lone surrogate") from None
    else:
        raise RecordError(f"expected JSON text, got {type(text).__name__}")
    _check_depth(raw)
    try:
        # The hooks bound numbers as they are read: a 5,000-digit integer is refused, not converted.
        # NaN and Infinity parse, and every field refuses them by name (allow_inf_nan=False).
        data = json.loads(
            text,
            parse_int=_parse_int,
            parse_float=_parse_float,
            object_pairs_hook=_unique_keys,
        )
    except json.JSONDecodeError as err:
        raise RecordError(f"not JSON: {err}") from None
    if not isinstance(data, dict):
        raise RecordError(f"expected a JSON object, got {type(data).__name__}")
    if _ESCAPED_SURROGATE.search(text) and _has_surrogate(data):
        raise RecordError("invalid Unicode: an escaped lone surrogate")
    return data


def _check_depth(raw: bytes) -> None:
    """Refuse nesting deeper than MAX_DEPTH by counting the brackets outside strings.

    The parser recurses once per level: "[" * 100000 would exhaust the stack.
    """
    if raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH:
        return  # too few brackets to nest too deep (most records)
    # Escaped backslashes, then escaped quotes (a run of backslashes pairs up from its start, as
    # JSON reads it); what is left between an odd and the next even quote is inside a string.
    code = np.frombuffer(raw.replace(b"\\\\", b"").replace(b'\\"', b""), dtype=np.uint8)
    steps = _BRACKET_STEP[code]
    steps[np.cumsum(code == _QUOTE, dtype=np.int32) & 1 == 1] = 0
    # The depth the parser reaches before it either finishes or fails (at the first unmatched close).
    if int(np.cumsum(steps, dtype=np.int32).max()) > MAX_DEPTH:
        raise RecordError(f"nested deeper than {MAX_DEPTH} levels")


def _parse_int(digits: str) -> int:
    if len(digits) > MAX_DIGITS:
        raise RecordError(f"a number of {len(digits)} digits (at most {MAX_DIGITS})")
    value = int(digits)
    if not -INT64 <= value < INT64:
        raise RecordError(f"integer {_brief(digits)} outside int64")
    return value


def _parse_float(digits: str) -> float:
    if len(digits) > MAX_DIGITS:
        raise RecordError(f"a number of {len(digits)} characters (at most {MAX_DIGITS})")
    return float(digits)  # 1e400 is inf: refused by the field with its name (allow_inf_nan=False)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # A key given twice would be read one way here and another way elsewhere: refuse it.
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise RecordError(f"duplicate key {_brief(key)!r}")
        obj[key] = value
    return obj


def _has_surrogate(data: object) -> bool:
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _brief(value: object, limit: int = 60) -> str:
    text = value if isinstance(value, str) else repr(value)
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")  # a surrogate must not break the log
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _reasons(err: ValidationError) -> str:
    """The first few field errors, each with its field path (keys from the input are cut short)."""
    parts = []
    for e in err.errors(include_url=False, include_input=False)[:5]:
        where = ".".join(_brief(str(p), 40) for p in e["loc"]) or "(record)"
        parts.append(f"{where}: {_brief(e['msg'], 200)}")
    return "; ".join(parts)
