"""The executor's settings and state records: its phases, the task under way, the motion it watches. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from restock import records
from restock.motion.trajectory import Trajectory


@dataclass(frozen=True)
class ExecutorSettings:
    max_grasp_retries: int = 2
    min_hold_fraction: float = 0.3  # of the item's width: fingers stopped wider than this hold it
    grasp_margin: float = 0.02  # open this much wider than the item before a pick (m)
    release_margin: float = 0.012  # open this much wider than the item to let go (m)
    settle_s: float = 0.05  # after a trajectory's end, before the next step
    position_tolerance: float = 0.01  # measured vs. final point to call a motion done (rad or m)
    tracking_tolerance: float = 0.05  # measured vs. commanded while moving (rad or m)
    tracking_grace_s: float = 0.3  # tracking error this long: the arm is blocked
    motion_timeout_s: float = 3.0  # past a trajectory's end without reaching it
    # Trajectories are stamped this far in the future (ros2_control practice): the controller
    # holds until the stamp, so the message's latency does not shift its timeline.
    start_delay_s: float = 0.0
    # The measured joints may trail the commanded timeline by this much (feedback latency,
    # a controller that picked the trajectory up late) and still be on track.
    lag_allowance_s: float = 0.3
    # A controller that has not picked the trajectory up yet leaves the arm at its start: that is
    # not a blocked arm for this long after the start (a sim racing ahead of its wall clock).
    start_allowance_s: float = 2.0
    # The same in wall time (when tick() is given it): a simulator can run many sim seconds
    # (catching up after a slow frame, or racing) before it reads a new trajectory.
    start_allowance_wall_s: float = 0.0
    source: str = "arm_controller"
    # A wrist camera answers RequestLook commands (restock.motion.wrist_look); a look not answered
    # within look_timeout_s (sim s) is done without: the arm goes on as it would without a camera.
    wrist_camera: bool = False
    look_timeout_s: float = 5.0
    # A container let go at a lane's back slides down its board for about this long (s): a look
    # that finds the lane's back not home looks again after it.
    slide_s: float = 2.0
    # A lane counted short of what was placed may have sold one that the till has not told us of
    # yet: it is looked at again this long after (s), and still short, the placement failed.
    sale_latency_s: float = 12.0


class Phase(str, Enum):
    IDLE = "idle"
    TO_STOCK = "to_stock"
    APPROACH_PICK = "approach_pick"
    GRASP = "grasp"
    RETREAT_EMPTY = "retreat_empty"
    RETREAT_PICK = "retreat_pick"
    LOOK_HELD = "look_held"
    TO_LOOK = "to_look"
    LOOK_LANE = "look_lane"
    CARRY = "carry"
    APPROACH_PLACE = "approach_place"
    RELEASE = "release"
    RETREAT_PLACE = "retreat_place"
    RECOVER = "recover"
    RETURN_CARRY = "return_carry"
    RETURN_APPROACH = "return_approach"
    RETURN_RELEASE = "return_release"
    RETURN_RETREAT = "return_retreat"
    FAULT = "fault"


@dataclass
class Active:
    task: records.RestockTask
    placed: int
    started: float
    grasp_failures: int = 0
    failure: tuple[records.HandoffKind, str] | None = None  # (handoff kind, detail) once it must be parked
    held_checked: bool = False  # the wrist camera passed the container in the fingers
    room: int | None = None  # containers the lane takes, as the wrist camera last counted it
    counted: int | None = None  # the lane's count at the wrist camera's last look
    counted_placed: int = 0  # placed when it was taken
    counted_at: float = 0.0  # when it was taken (sales since then explain a lower count)
    grip_at_grasp: float | None = None  # the fingers' opening when they stopped on the container
    relooked: bool = False  # the lane looked not home once: a second look decides
    # An operator's answer resumed it: a lane a person set straight counts only once it has settled.
    resolved_at: float | None = None


@dataclass
class Motion:
    trajectory: Trajectory
    started: float
    off_track_since: float | None = None
    sent_wall: float | None = None  # wall time it was sent, when the caller gives one
