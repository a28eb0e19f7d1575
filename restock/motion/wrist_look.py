"""What the arm asks of its wrist camera, and what a frame from it says: the executor's eyes. Pure.

The executor asks for a look (:class:`RequestLook`) at two moments of a container's round:

- ``held``: just after a grasp, with the container in the fingers (at the rack, lifted): is it
  the task's SKU? A wrong one goes back where it came from and the task waits for an operator
  (a ``wrong_item`` handoff); it is never placed.
- ``lane``: at the lane's approach point with the gripper empty, before fetching a container
  (and again after each placement): how many containers does the lane hold? A full lane gets no
  container; a lane with room for fewer than the task asks gets that many. The count goes out
  as the wrist camera's observation of that lane (``fill``), which the planner's lane estimate
  takes like any camera's.

The node (or restock.sim.armloop without ROS) carries the request to the camera (in the simulator:
a triggered render) and hands the frame to :func:`see`, whose answer goes back to the executor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from restock import records
from restock.motion.kinematics import ArmModel
from restock.store.description import Store
from restock.vision.appearance import SkuLooks
from restock.vision.wrist import HeldCheck, LaneCount, check_held, count_lane, wrist_camera


@dataclass(frozen=True)
class RequestLook:
    """Take one wrist frame now (colour and depth) and answer the executor with :func:`see`."""

    purpose: Literal["held", "lane"]
    lane_id: str
    sku: str  # the task's SKU
    centre_below: float = 0.0  # held: the container's centre under the grasp centre (m)


@dataclass(frozen=True)
class Seen:
    """What a wrist frame says, for the executor: a held check or a lane count (None: cannot tell)."""

    request: RequestLook
    held: HeldCheck | None = None
    count: LaneCount | None = None
    # A lane frame came but counts nothing: something before the lane's back that is no upright container.
    uncounted: bool = False
    stamp: float | None = None  # when the frame was taken: a sale after it is not in its count


def see(
    store: Store,
    model: ArmModel,
    looks: SkuLooks,
    request: RequestLook,
    rgb: np.ndarray,
    depth: np.ndarray | None,
    q: np.ndarray,
    opening: float | None,
    stamp: float | None = None,
) -> Seen:
    """Judge one wrist frame taken at ``stamp`` with the arm at joints ``q`` and the fingers at ``opening``."""
    if request.purpose == "held":
        return Seen(request, held=check_held(store, looks, rgb, request.sku, opening, request.centre_below))
    if depth is None:
        return Seen(request, stamp=stamp)
    camera = wrist_camera(store, tuple(model.forward(q).as_array()))
    count = count_lane(store, request.lane_id, camera, depth)
    return Seen(request, count=count, uncounted=count is None, stamp=stamp)


def depth_array(data: bytes | bytearray | memoryview, width: int, height: int, step: int, encoding: str) -> np.ndarray:
    """A sensor_msgs/Image depth frame as (H, W) float32 metres (32FC1, or 16UC1 in mm); ValueError if malformed."""
    kinds = {"32FC1": (np.dtype("<f4"), 1.0), "16UC1": (np.dtype("<u2"), 0.001)}
    if encoding not in kinds:
        raise ValueError(f"depth encoding {encoding!r} is not supported (send 32FC1 or 16UC1)")
    dtype, scale = kinds[encoding]
    if width <= 0 or height <= 0 or step < width * dtype.itemsize or step % dtype.itemsize:
        raise ValueError(f"depth image of {width}x{height} with step {step} is not a valid {encoding} image")
    buf = np.frombuffer(data, np.uint8)
    if buf.size < step * height:
        raise ValueError(f"depth image data is truncated: {buf.size} bytes, expected {step * height}")
    rows = buf[: step * height].reshape(height, step)[:, : width * dtype.itemsize]
    return np.ascontiguousarray(rows).view(dtype).reshape(height, width).astype(np.float32) * np.float32(scale)


def count_observation(store: Store, count: LaneCount, stamp: float) -> records.ShelfObservation:
    """A lane count as the wrist camera's observation of that lane (the planner reads ``fill``)."""
    lane = store.lane_by_id[count.lane_id]
    state: records.LaneState = "present" if count.count > 0 else "empty"
    return records.ShelfObservation(
        stamp=stamp,
        camera_id=store.robot.wrist_camera.id,
        frame_stamp=stamp,
        lanes=[
            records.LaneObservation(
                lane_id=count.lane_id,
                state=state,
                fill=count.count / lane.lane.capacity,
                confidence=1.0,
            )
        ],
    )
