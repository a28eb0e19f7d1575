"""The domain records our own nodes exchange: typed, versioned schemas in one module.

Carried as JSON in std_msgs/String (``{"record": <KIND>, "v": <version>, ...fields}``). Every record is
validated on receipt by :func:`decode`; a malformed one raises :class:`RecordError` with the
reason, which a node logs before dropping the message. Nodes never hand-parse JSON.

Timestamps are seconds on the ROS clock of the sender (sim time under use_sim_time).
"""

from __future__ import annotations

import json
from typing import Annotated, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

SCHEMA_VERSION = 1
# Records larger than this are refused before parsing (a crop is a few tens of kB).
MAX_RECORD_BYTES = 2_000_000

Stamp = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Ratio = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Id = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$")]


class RecordError(ValueError):
    """A record that failed validation; the message says why."""


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    KIND: ClassVar[str] = ""
    v: Literal[1] = SCHEMA_VERSION


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


class TaskResult(Record):
    KIND: ClassVar[str] = "task_result"
    task_id: Id
    lane_id: Id
    outcome: Literal["done", "partial", "failed", "parked", "rejected"]
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

HandoffKind = Literal["unfamiliar_item", "obstruction", "failed_grasp", "unreachable", "blocked_lane", "other"]


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
    image_jpeg_b64: str | None = None  # crop of what needs a look
    bbox: Annotated[list[float], Field(min_length=4, max_length=4)] | None = None  # x1 y1 x2 y2 px
    frame_stamp: Stamp | None = None  # header stamp of the camera image bbox refers to (a training sample's frame)


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
    seq: Annotated[int, Field(ge=0)] | None = None


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
    )
}

R = TypeVar("R", bound=Record)


def encode(record: Record) -> str:
    """The JSON text carried in std_msgs/String.data."""
    body = record.model_dump(mode="json")
    return json.dumps({"record": record.KIND, **body}, separators=(",", ":"), allow_nan=False)


def decode(text: str | bytes, expected: type[R]) -> R:
    """Parse and validate one record of the expected type, or raise RecordError with the reason."""
    if len(text) > MAX_RECORD_BYTES:
        raise RecordError(f"record of {len(text)} bytes exceeds {MAX_RECORD_BYTES}")
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RecordError(f"not JSON: {err}") from None
    if not isinstance(data, dict):
        raise RecordError(f"expected a JSON object, got {type(data).__name__}")
    kind = data.pop("record", None)
    if kind != expected.KIND:
        raise RecordError(f"expected record {expected.KIND!r}, got {kind!r}")
    version = data.get("v")
    if version != SCHEMA_VERSION:
        raise RecordError(f"unsupported schema version {version!r} (this node reads v{SCHEMA_VERSION})")
    try:
        return expected.model_validate(data)
    except ValidationError as err:
        reasons = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(record)'}: {e['msg']}" for e in err.errors()[:5])
        raise RecordError(f"invalid {expected.KIND}: {reasons}") from None
