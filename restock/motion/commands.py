"""What the arm's pure logic asks of the node: the executor's and the teleop follower's answers.

Each is carried out by the arm controller node (or by restock.sim.armloop without ROS).
"""

from __future__ import annotations

from dataclasses import dataclass

from restock import records
from restock.motion.trajectory import Trajectory
from restock.motion.wrist_look import RequestLook


@dataclass(frozen=True)
class SendTrajectory:
    trajectory: Trajectory
    start: float | None = None  # when its time_from_start counts from (header.stamp); None: now


@dataclass(frozen=True)
class Hold:
    reason: str


@dataclass(frozen=True)
class SetGripper:
    opening: float


@dataclass(frozen=True)
class PublishRecord:
    record: records.Record


Command = SendTrajectory | Hold | SetGripper | PublishRecord | RequestLook
