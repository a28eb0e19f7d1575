"""The store description: one file that says everything about one store's case and robot.

Frames (REP-103): the ``store`` frame has x along the rail, y from the robot's corridor
towards the customers (the rail runs at y = ``robot.rail_y``, back-room stock at y < rail_y,
the case's loading side at y = ``case.back_y`` > rail_y, the customer-facing fronts at
``back_y + row.depth``), z up from the floor.

Every part of the stack (simulator, Gazebo world, cameras' lane maps, planner, arm) reads
this through :func:`load_store`; nothing about the store is written twice.
"""

from __future__ import annotations

import itertools
import math
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from restock.store.camera import CameraModel
from restock.yamlfile import load_yaml_file

Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Finite = Annotated[float, Field(allow_inf_nan=False)]
Rgb = Annotated[list[Annotated[float, Field(ge=0, le=1)]], Field(min_length=3, max_length=3)]
Vec3 = Annotated[list[Finite], Field(min_length=3, max_length=3)]
Ident = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=48)]

# Free space a lane needs on each side of a container so it slides without jamming (m).
LANE_SIDE_CLEARANCE = 0.002
GRAVITY = 9.81  # m/s^2


class StoreError(ValueError):
    """A store description that cannot be used; the message names the file and the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Sku(_Strict):
    name: str
    kind: Literal["bottle", "can", "carton"]
    height: Positive
    diameter: Positive | None = None  # bottle, can
    width: Positive | None = None  # carton, across the lane
    depth: Positive | None = None  # carton, along the lane
    color: Rgb
    label_color: Rgb
    label_pattern: Literal["plain", "band", "stripes", "dots"] = "band"
    price: Positive
    mass: Positive = 0.5

    @model_validator(mode="after")
    def _dimensions_for_kind(self) -> Sku:
        if self.kind in ("bottle", "can") and self.diameter is None:
            raise ValueError(f"a {self.kind} needs a diameter")
        if self.kind == "carton" and (self.width is None or self.depth is None):
            raise ValueError("a carton needs width and depth")
        return self

    @property
    def across(self) -> float:
        """Size across the lane (m)."""
        return float(self.diameter if self.diameter is not None else self.width)  # type: ignore[arg-type]

    @property
    def along(self) -> float:
        """Size along the lane, the pitch of the column of containers (m)."""
        return float(self.diameter if self.diameter is not None else self.depth)  # type: ignore[arg-type]


class Lane(_Strict):
    id: Ident
    x: Finite  # centre along the rail (m)
    width: Positive
    sku: Ident
    capacity: Annotated[int, Field(ge=1, le=64)]


# Lane dividers stand at every lane edge, this thick (m).
DIVIDER_THICKNESS = 0.003


class Row(_Strict):
    id: Ident
    height: NonNegative  # z of the shelf board at the loading (back) end (m)
    depth: Positive  # lane length from loading end to customer front (m)
    tilt_deg: Annotated[float, Field(ge=0, le=30)]  # gravity-feed slope, front lower
    clearance: Positive  # free height above the board (m)
    lanes: Annotated[list[Lane], Field(min_length=1)]
    divider_height: Annotated[float, Field(ge=0, le=0.3)] = 0.04  # the lane dividers' height above the board (m)


class Case(_Strict):
    x_min: Finite
    x_max: Finite
    back_y: Positive  # loading side, measured from the rail's y = 0 (m)
    rows: Annotated[list[Row], Field(min_length=1)]


class StockLocation(_Strict):
    id: Ident
    sku: Ident
    x: Finite
    z: NonNegative
    quantity: Annotated[int, Field(ge=0)]
    capacity: Annotated[int, Field(ge=1)]


class StockRefill(_Strict):
    every_h: Positive = 8.0
    first_at_h: NonNegative = 6.0


class Stock(_Strict):
    y: Finite  # pick face of the back-room rack (m), behind the rail
    locations: Annotated[list[StockLocation], Field(min_length=1)]
    refill: StockRefill = StockRefill()


class Joint(_Strict):
    name: Ident
    kind: Literal["prismatic", "revolute"]
    lower: Finite
    upper: Finite
    max_velocity: Positive
    max_acceleration: Positive
    max_jerk: Positive

    @model_validator(mode="after")
    def _ordered(self) -> Joint:
        if self.lower >= self.upper:
            raise ValueError(f"lower {self.lower} is not below upper {self.upper}")
        return self


class Gripper(_Strict):
    max_opening: Positive
    max_force: Positive
    close_time_s: Positive = 0.4


class Drive(_Strict):
    """One joint's servo drive: a position loop (``kp``) with velocity feedback and feed-forward
    (``kd``) on a lumped inertia, its effort clipped at ``max_effort``, gravity compensated on the
    lift. Units: prismatic N, kg, N/m, N s/m; revolute N m, kg m^2, N m/rad, N m s/rad. So the
    simulated arm lags a trajectory while it accelerates, overshoots a little and stalls against a
    contact or a load it cannot move (restock.sim.drives)."""

    inertia: Positive  # what the drive moves empty-handed (the rail: carriage, lift and arm)
    kp: Positive
    kd: Positive
    max_effort: Positive
    friction: NonNegative = 0.0  # viscous, not fed forward (a little lag at speed)


def _drive(inertia: float, kp: float, kd: float, max_effort: float, friction: float = 0.0) -> Drive:
    return Drive(inertia=inertia, kp=kp, kd=kd, max_effort=max_effort, friction=friction)


class Drives(_Strict):
    """The arm's five drives; the gripper's is ``gripper`` (force-limited fingers). The defaults
    are a ~5 Hz position loop, damping ratio ~0.7, and about 2-4x the effort the joint limits ask."""

    rail_x: Drive = _drive(25.0, 25000.0, 1100.0, 300.0, 20.0)
    lift_z: Drive = _drive(10.0, 10000.0, 440.0, 300.0, 10.0)
    shoulder: Drive = _drive(0.8, 800.0, 35.0, 40.0, 0.5)
    elbow: Drive = _drive(0.25, 250.0, 11.0, 20.0, 0.2)
    wrist: Drive = _drive(0.01, 10.0, 0.45, 2.0, 0.01)


class WristCamera(_Strict):
    """The camera on the arm's tool, looking along the tool axis between the open fingers.

    ``back`` is how far behind the wrist axis it sits (m), ``up`` how far above the arm plane (the
    grasp centre's height). It checks the SKU of a held container and counts a lane from behind.
    """

    id: Ident = "wrist"
    back: Annotated[float, Field(ge=0, le=0.2, allow_inf_nan=False)] = 0.03
    up: Annotated[float, Field(ge=-0.05, le=0.05, allow_inf_nan=False)] = 0.0
    fov_y_deg: Annotated[float, Field(gt=5, lt=170)] = 70.0
    width: Annotated[int, Field(ge=16, le=4096)] = 320
    height: Annotated[int, Field(ge=16, le=4096)] = 240


class Robot(_Strict):
    """A rail carriage carrying a SCARA arm on a lift: joints rail_x, lift_z, shoulder, elbow, wrist."""

    rail_y: Finite = 0.0
    base_height: NonNegative  # z of the lift's zero (m)
    upper_arm: Positive
    forearm: Positive
    tool_length: NonNegative  # wrist axis to grasp centre (m)
    joints: Annotated[list[Joint], Field(min_length=5, max_length=5)]
    gripper: Gripper
    wrist_camera: WristCamera = WristCamera()  # every robot of ours carries one
    drives: Drives = Drives()

    JOINT_NAMES: tuple[str, ...] = ("rail_x", "lift_z", "shoulder", "elbow", "wrist")

    @model_validator(mode="after")
    def _joint_set(self) -> Robot:
        names = tuple(j.name for j in self.joints)
        if names != self.JOINT_NAMES:
            raise _KeyError("joints", f"must be {list(self.JOINT_NAMES)} in that order, got {list(names)}")
        return self

    def joint(self, name: str) -> Joint:
        return next(j for j in self.joints if j.name == name)

    def drive_load(self, name: str, payload: float) -> tuple[float, float]:
        """(inertia, gravity force) a joint's drive moves holding ``payload`` kg at the grasp centre:
        the payload adds its mass to the rail and the lift, its mass times the furthest it can be
        from the axis squared to the revolute joints; only the lift carries weight."""
        drive: Drive = getattr(self.drives, name)
        arm = {"shoulder": self.upper_arm + self.forearm + self.tool_length, "elbow": self.forearm + self.tool_length}
        reach = arm.get(name, self.tool_length if name == "wrist" else 1.0)
        inertia = drive.inertia + payload * reach**2
        return inertia, (inertia * GRAVITY if name == "lift_z" else 0.0)


class Camera(_Strict):
    id: Ident
    position: Vec3
    look_at: Vec3
    fov_y_deg: Annotated[float, Field(gt=5, lt=170)]
    width: Annotated[int, Field(ge=16, le=4096)]
    height: Annotated[int, Field(ge=16, le=4096)]
    rate_hz: Annotated[float, Field(gt=0, le=120)]

    @property
    def model(self) -> CameraModel:
        return CameraModel.look_at(
            np.array(self.position), np.array(self.look_at), self.fov_y_deg, self.width, self.height
        )


class LaneView(BaseModel):
    """A lane with what is derived from its row and SKU: the planner's and arm's view of it."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)
    lane: Lane
    row: Row
    sku: Sku
    back_y: float

    @property
    def id(self) -> str:
        return self.lane.id

    @property
    def front_y(self) -> float:
        return self.back_y + self.row.depth

    def board_z(self, y: float) -> float:
        """Height of the sloped board at y (front lower)."""
        return self.row.height - (y - self.back_y) * math.tan(math.radians(self.row.tilt_deg))

    def loading_point(self) -> tuple[float, float, float]:
        """Grasp centre for a container placed at the back of the lane."""
        y = self.back_y + self.sku.along / 2
        return (self.lane.x, y, self.board_z(y) + self.sku.height / 2)

    def front_point(self) -> tuple[float, float, float]:
        """Centre of the front container as a customer sees it."""
        y = self.front_y - self.sku.along / 2
        return (self.lane.x, y, self.board_z(y) + self.sku.height / 2)

    def slot_centre(self, index_from_front: int) -> tuple[float, float, float]:
        y = self.front_y - self.sku.along * (index_from_front + 0.5)
        return (self.lane.x, y, self.board_z(y) + self.sku.height / 2)


class Store(_Strict):
    version: Literal[1]
    name: str
    skus: Annotated[dict[Ident, Sku], Field(min_length=1)]
    case: Case
    stock: Stock
    robot: Robot
    cameras: Annotated[list[Camera], Field(min_length=1)]

    @cached_property
    def lanes(self) -> tuple[LaneView, ...]:
        return tuple(
            LaneView(lane=lane, row=row, sku=self.skus[lane.sku], back_y=self.case.back_y)
            for row in self.case.rows
            for lane in row.lanes
        )

    @cached_property
    def lane_by_id(self) -> dict[str, LaneView]:
        return {lv.id: lv for lv in self.lanes}

    @cached_property
    def stock_by_id(self) -> dict[str, StockLocation]:
        return {loc.id: loc for loc in self.stock.locations}

    def stock_for_sku(self, sku: str) -> list[StockLocation]:
        return [loc for loc in self.stock.locations if loc.sku == sku]

    def stock_pick_point(self, location: StockLocation) -> tuple[float, float, float]:
        sku = self.skus[location.sku]
        return (location.x, self.stock.y - sku.along / 2, location.z + sku.height / 2)

    def camera(self, camera_id: str) -> Camera:
        for cam in self.cameras:
            if cam.id == camera_id:
                return cam
        raise KeyError(f"no camera {camera_id!r}; the store has {[c.id for c in self.cameras]}")

    def lanes_seen_by(self, camera_id: str) -> list[LaneView]:
        model = self.camera(camera_id).model
        return [lv for lv in self.lanes if model.sees(np.array(lv.front_point()))]

    @model_validator(mode="after")
    def _consistent(self) -> Store:
        _check_consistency(self)
        return self


def _check_consistency(store: Store) -> None:
    """Cross-field rules; each error names the key it is about."""
    case, robot = store.case, store.robot
    if case.x_min >= case.x_max:
        raise _KeyError("case.x_max", f"{case.x_max} is not beyond x_min {case.x_min}")
    if case.back_y <= robot.rail_y:
        raise _KeyError("case.back_y", "the case must stand in front of the rail (back_y > robot.rail_y)")
    if store.stock.y >= robot.rail_y:
        raise _KeyError("stock.y", "back-room stock must stand behind the rail (stock.y < robot.rail_y)")
    seen: set[str] = set()
    rail = robot.joint("rail_x")
    for r, row in enumerate(case.rows):
        spans: list[tuple[float, float, str]] = []
        for i, lane in enumerate(row.lanes):
            key = f"case.rows[{r}].lanes[{i}]"
            if lane.id in seen:
                raise _KeyError(f"{key}.id", f"lane id {lane.id!r} is used twice")
            seen.add(lane.id)
            if lane.sku not in store.skus:
                raise _KeyError(f"{key}.sku", f"unknown SKU {lane.sku!r}")
            sku = store.skus[lane.sku]
            if lane.width > case.x_max - case.x_min:
                raise _KeyError(f"{key}.width", f"{lane.width} m is wider than the row ({case.x_max - case.x_min} m)")
            lo, hi = lane.x - lane.width / 2, lane.x + lane.width / 2
            if lo < case.x_min - 1e-9 or hi > case.x_max + 1e-9:
                raise _KeyError(
                    f"{key}.x", f"lane spans [{lo:.3f}, {hi:.3f}] outside the case [{case.x_min}, {case.x_max}]"
                )
            if sku.across + 2 * LANE_SIDE_CLEARANCE > lane.width:
                raise _KeyError(f"{key}.width", f"{lane.width} m is too narrow for {lane.sku} ({sku.across} m across)")
            if lane.capacity * sku.along > row.depth + 1e-9:
                raise _KeyError(
                    f"{key}.capacity",
                    f"{lane.capacity} x {sku.along} m does not fit the row depth {row.depth} m",
                )
            if sku.height > row.clearance:
                raise _KeyError(f"{key}.sku", f"{lane.sku} ({sku.height} m tall) does not fit under {row.clearance} m")
            if not rail.lower <= lane.x <= rail.upper:
                raise _KeyError(f"{key}.x", f"outside the rail's travel [{rail.lower}, {rail.upper}]")
            spans.append((lo, hi, lane.id))
        spans.sort()
        for (_, hi_a, a), (lo_b, _, b) in itertools.pairwise(spans):
            if lo_b < hi_a - 1e-9:
                raise _KeyError(f"case.rows[{r}].lanes", f"lanes {a} and {b} overlap")
    stock_ids: set[str] = set()
    for i, loc in enumerate(store.stock.locations):
        key = f"stock.locations[{i}]"
        if loc.id in stock_ids:
            raise _KeyError(f"{key}.id", f"stock location id {loc.id!r} is used twice")
        stock_ids.add(loc.id)
        if loc.sku not in store.skus:
            raise _KeyError(f"{key}.sku", f"unknown SKU {loc.sku!r}")
        if loc.quantity > loc.capacity:
            raise _KeyError(f"{key}.quantity", f"{loc.quantity} is more than the capacity {loc.capacity}")
        if not rail.lower <= loc.x <= rail.upper:
            raise _KeyError(f"{key}.x", f"outside the rail's travel [{rail.lower}, {rail.upper}]")
    stocked = {loc.sku for loc in store.stock.locations}
    for r, row in enumerate(case.rows):
        for i, lane in enumerate(row.lanes):
            if lane.sku not in stocked:
                raise _KeyError(f"case.rows[{r}].lanes[{i}].sku", f"{lane.sku} has no back-room stock location")
    cam_ids: set[str] = set()
    for i, cam in enumerate(store.cameras):
        if cam.id in cam_ids:
            raise _KeyError(f"cameras[{i}].id", f"camera id {cam.id!r} is used twice")
        cam_ids.add(cam.id)
        if np.allclose(cam.position, cam.look_at):
            raise _KeyError(f"cameras[{i}].look_at", "equals the camera position")
        model = cam.model
        if not any(model.sees(np.array(lv.front_point())) for lv in store.lanes):
            raise _KeyError(f"cameras[{i}]", f"camera {cam.id} sees no lane front")
    if store.robot.wrist_camera.id in cam_ids:
        raise _KeyError("robot.wrist_camera.id", f"{store.robot.wrist_camera.id!r} is a store camera's id too")
    _check_drives(store)


def _check_drives(store: Store) -> None:
    """Each drive gives its joint's top acceleration (and the lift its weight) holding the heaviest SKU."""
    robot = store.robot
    heaviest = max(store.skus.values(), key=lambda s: s.mass)
    for j in robot.joints:
        inertia, weight = robot.drive_load(j.name, heaviest.mass)
        drive: Drive = getattr(robot.drives, j.name)
        need = inertia * j.max_acceleration + weight
        if drive.max_effort < need:
            raise _KeyError(
                f"robot.drives.{j.name}.max_effort",
                f"{drive.max_effort:g} cannot give {j.max_acceleration:g} of acceleration holding"
                f" {heaviest.name} ({heaviest.mass:g} kg): it needs {need:.3g}",
            )


class _KeyError(ValueError):
    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key = key


def _format_validation_error(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        loc = ""
        for part in e["loc"]:
            loc += f"[{part}]" if isinstance(part, int) else (f".{part}" if loc else str(part))
        msg = e["msg"]
        cause = e.get("ctx", {}).get("error")
        if isinstance(cause, _KeyError):
            # A nested model's rule names its key relative to that model: prefix where it sits.
            lines.append(f"{loc}.{cause}" if loc else str(cause))
            continue
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        lines.append(f"{loc or '(top level)'}: {msg}")
    return "; ".join(lines)


def parse_store(data: object, source: str = "<store>") -> Store:
    """Validate an already-parsed mapping as a store description the robot can serve."""
    if not isinstance(data, dict):
        raise StoreError(f"{source}: the store description must be a mapping, got {type(data).__name__}")
    try:
        store = Store.model_validate(data)
    except ValidationError as err:
        raise StoreError(f"{source}: {_format_validation_error(err)}") from None
    from restock.store.serviceable import check_serviceable  # imports motion and vision, which import this

    check_serviceable(store, source)  # what every node would find at start: reach, cameras, back room
    return store


def load_store(path: str | Path) -> Store:
    """Read and validate a store description; a :class:`StoreError` names the file and key."""
    path = Path(path)
    try:
        data = load_yaml_file(path, StoreError)  # budgets: size, aliases, depth; duplicate keys, UTF-8
    except OSError as err:
        raise StoreError(f"{path}: cannot read the store description ({err.strerror})") from None
    return parse_store(data, str(path))
