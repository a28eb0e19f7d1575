"""The wrist camera's two checks: the SKU of the held container, and a lane counted from behind.

The camera rides on the tool, ``robot.wrist_camera.back`` behind the wrist axis and ``up`` above
the arm plane, looking along the tool axis between the open fingers; it gives colour and depth
(an RGB-D camera). Its pose follows from the arm's measured joints (the grasp-centre pose of
:class:`restock.motion.kinematics.ArmModel`), so what it sees can be put in the store frame.

- **Held SKU.** With a container in the fingers, the container fills the middle of the frame.
  Its colours are compared with every SKU's look (:class:`restock.vision.appearance.SkuLooks`:
  the store description's colours plus the views operators confirmed) among the SKUs as wide as
  the fingers' measured opening; the best match is the SKU seen. A container that is not the
  task's SKU is never placed.
- **Count from behind.** At a lane's approach point with the gripper empty, the depth image puts
  points on whatever stands in the lane: the nearest point inside the lane's column (between its
  dividers, above its sloped board, no higher than its SKU) is the back of the backmost container,
  and the column's length from the lane front gives the count. No point there, while the board is
  seen down to the front, is an empty lane; neither is a lane the camera cannot judge (None).

Pure: numpy in, numbers out; no rclpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from restock.store.camera import CameraModel
from restock.store.description import Store
from restock.vision.appearance import DARK, SkuLooks, colour_features

# The held container's pixels compared: this share of its width and height, around its centre.
HELD_SHARE = 0.6
# The SKU whose colours cover most of the region is the one seen, if they cover this much of it.
HELD_MIN_MATCH = 0.3
HELD_CLOSE = 0.15  # two SKUs' covers this close: the pixels that tell them apart decide
HELD_DECISIVE = 0.02  # a pixel this much nearer one SKU's colour than the other's tells them apart
# Set on 600 wrist renders of the corner store (seeds 1 and 3; bench/wrist_check.py scores others).
# A pixel has a SKU colour within this chromaticity distance, at a brightness this many times the
# colour's (wider than the lane fronts' match: the rack's light differs from the case's).
HELD_TOLERANCE = 0.1
HELD_BRIGHTNESS = (0.3, 1.7)
# SKUs whose width is within this of the fingers' opening are the candidates (m).
WIDTH_TOLERANCE = 0.003
# Inside a lane's column: this far in from the dividers, above the board, and from the lane ends (m).
COLUMN_INSET = 0.01
BACK_SLACK = 0.02  # the column starts this far behind the lane's back (the camera's pose is a little off)
ABOVE_BOARD = 0.02
ABOVE_BOARD_SHARE = 0.3
# Points needed to call something an item in the column; rays that reach this far towards the
# front (fraction of the lane's depth) or beyond make an empty lane a seen one.
MIN_POINTS = 12
EMPTY_SEEN_TO = 0.8
FACE_BIN = 0.02  # m of lane depth per step when looking for the back face
FACE_SHARE = 0.15  # of the SKU's height: how much an upright face spans in z within one step
# The rays a count uses: from level to this far below it (deg).
LOOK_DOWN_DEG = 25.0
MAX_RANGE_M = 10.0  # an RGB-D camera's range: beyond it (or no return) the ray met nothing


def wrist_camera(store: Store, grasp: tuple[float, float, float, float]) -> CameraModel:
    """The wrist camera's pose for a grasp-centre pose (x, y, z, tool yaw) in the store frame."""
    wc, r = store.robot.wrist_camera, store.robot
    x, y, z, yaw = grasp
    c, s = math.cos(yaw), math.sin(yaw)
    behind = r.tool_length + wc.back
    position = np.array([x - behind * c, y - behind * s, z + wc.up])
    forward, right, down = np.array([c, s, 0.0]), np.array([s, -c, 0.0]), np.array([0.0, 0.0, -1.0])
    return CameraModel(position, np.column_stack([right, down, forward]), wc.fov_y_deg, wc.width, wc.height)


def store_points(camera: CameraModel, depth: np.ndarray) -> np.ndarray:
    """(H, W, 3) store-frame points of a depth image (m along the optical axis); NaN where the
    camera measured nothing (<= 0, not finite, or beyond MAX_RANGE_M)."""
    h, w = depth.shape
    k = camera.intrinsics
    d = np.where(np.isfinite(depth) & (depth > 0) & (depth <= MAX_RANGE_M), depth, np.nan).astype(np.float64)
    u = (np.arange(w) + 0.5 - k[0, 2]) / k[0, 0]
    v = (np.arange(h) + 0.5 - k[1, 2]) / k[1, 1]
    cam = np.stack([np.broadcast_to(u[None, :], (h, w)) * d, np.broadcast_to(v[:, None], (h, w)) * d, d], axis=-1)
    return cam @ camera.rotation.T + camera.position


@dataclass(frozen=True)
class LaneCount:
    lane_id: str
    count: int  # containers in the lane, from its back
    free: int  # room for this many more of its SKU
    back_y: float | None  # store y of the column's back face (None: the lane is empty)


def count_lane(store: Store, lane_id: str, camera: CameraModel, depth: np.ndarray) -> LaneCount | None:
    """The lane's containers counted from behind in a wrist depth image (None: the camera cannot tell).

    Only the rays from level to LOOK_DOWN_DEG below it are used: they run down the lane at the
    containers' height and meet the back face of the backmost one, and the board only far away
    (steeper rays meet the board near the camera, where a small error in the camera's pose would
    lift board points into the column)."""
    lv = store.lane_by_id[lane_id]
    k = camera.intrinsics
    rows = slice(int(k[1, 2]), int(k[1, 2] + k[1, 1] * math.tan(math.radians(LOOK_DOWN_DEG))) + 1)
    p = store_points(camera, depth)[rows].reshape(-1, 3)
    # The middle of the lane, no wider than its containers: their back faces are there, the dividers are not.
    half = min(lv.lane.width / 2 - COLUMN_INSET, lv.sku.across / 2 - COLUMN_INSET / 2)
    in_lane = np.abs(p[:, 0] - lv.lane.x) < half
    # A ray that met nothing in range left the store: through this lane if it crosses the lane's front there.
    ray = store_points(camera, np.ones_like(depth))[rows].reshape(-1, 3) - camera.position
    with np.errstate(divide="ignore", invalid="ignore"):
        x_front = camera.position[0] + ray[:, 0] * (lv.front_y - camera.position[1]) / ray[:, 1]
    far = ~np.isfinite(p).all(axis=1) & (ray[:, 1] > 0) & (np.abs(x_front - lv.lane.x) < half)
    board = lv.row.height - (p[:, 1] - lv.back_y) * math.tan(math.radians(lv.row.tilt_deg))
    above = p[:, 2] - board
    # Above the board by a share of the SKU's height: the level rays meet a container higher than
    # that, and board points seen at a grazing angle stay below it with the camera's pose a little off.
    lowest = max(ABOVE_BOARD, ABOVE_BOARD_SHARE * lv.sku.height)
    near_end = lv.back_y - BACK_SLACK  # a full lane's backmost container stands at the lane's very back
    column = in_lane & (p[:, 1] > near_end) & (p[:, 1] < lv.front_y) & (above > lowest)
    column &= above < lv.sku.height + ABOVE_BOARD  # not the row above
    pitch, capacity = lv.sku.along, lv.lane.capacity
    back = back_face(p[column], above[column], near_end, lv.front_y, lv.sku.height, 2 * half)
    # Something above the board across the lane behind the column's back face (anywhere, in a lane
    # with no upright container): a container lying there, too low to be a face. The room it takes
    # is not the count's: cannot tell.
    end = (lv.front_y if back is None else back) - FACE_BIN
    # (Higher than half its width: a lying container's top stands at its width; board points lifted
    # by a camera a degree off stay lower.)
    lying = in_lane & (p[:, 1] > near_end) & (p[:, 1] < end) & (above > max(ABOVE_BOARD, lv.sku.across / 2))
    lying &= above < lv.sku.height + ABOVE_BOARD
    if lying.sum() >= MIN_POINTS and np.ptp(p[lying, 0]) >= half:
        return None
    if back is not None:
        count = min(max(round((lv.front_y - back) / pitch), 0), capacity)
        return LaneCount(lane_id, count, capacity - count, back if count else None)
    blocked = in_lane & (p[:, 1] <= near_end)  # something before the lane's back
    beyond = (in_lane & (p[:, 1] >= lv.back_y + EMPTY_SEEN_TO * lv.row.depth)) | far
    if beyond.sum() >= MIN_POINTS and blocked.sum() < MIN_POINTS:
        return LaneCount(lane_id, 0, capacity, None)
    return None


def back_face(points: np.ndarray, z: np.ndarray, start: float, end: float, height: float, width: float) -> float | None:
    """The store y of the nearest upright face across the lane among ``points`` (z: their height
    above the board) from ``start`` to ``end``: the first window of FACE_BIN in y (sliding by a
    quarter of it, so a face is never split) whose points span FACE_SHARE of ``height`` in z and
    half the ``width`` looked at in x. A container's back face stands up across the lane; the board
    seen at a grazing angle (lifted a little by an error in the camera's pose) lies along y, and a
    divider that such an error brings into view runs along y, a few mm across."""
    y, x = points[:, 1], points[:, 0]
    for lo in np.arange(start, end, FACE_BIN / 4):
        sel = (y >= lo) & (y < lo + FACE_BIN)
        if sel.sum() < MIN_POINTS:
            continue
        if np.ptp(z[sel]) >= FACE_SHARE * height and np.ptp(x[sel]) >= width / 2:
            return float(np.quantile(y[sel], 0.1))  # a low quantile: a stray edge pixel adds no container
    return None


def held_box(store: Store, sku: str, centre_below: float = 0.0) -> tuple[int, int, int, int]:
    """The pixel box (x1, y1, x2, y2) of a wrist frame where a held ``sku`` shows: the middle of its
    near side (HELD_SHARE of its width and height), its centre ``centre_below`` m under the grasp
    centre (the arm grips above the centre)."""
    wc, r, k = store.robot.wrist_camera, store.robot, store.skus[sku]
    f = (wc.height / 2) / math.tan(math.radians(wc.fov_y_deg) / 2)
    near = max(r.tool_length + wc.back - k.along / 2, 0.01)  # camera to the container's near side
    half_w, half_h = HELD_SHARE * k.across / 2, HELD_SHARE * k.height / 2
    down = centre_below + wc.up  # the container's centre under the optical axis (m)
    x1, x2 = wc.width / 2 - f * half_w / near, wc.width / 2 + f * half_w / near
    y1, y2 = wc.height / 2 + f * (down - half_h) / near, wc.height / 2 + f * (down + half_h) / near
    clip = lambda v, hi: int(min(max(v, 0), hi))  # noqa: E731
    return (
        clip(x1, wc.width - 1),
        clip(y1, wc.height - 1),
        clip(math.ceil(x2), wc.width),
        clip(math.ceil(y2), wc.height),
    )


def held_pixels(rgb: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """Colour features (N, 4) of a held container's box in a wrist frame."""
    x1, y1, x2, y2 = box
    return colour_features(rgb[y1 : max(y2, y1 + 1), x1 : max(x2, x1 + 1)].astype(np.float64) / 255.0)


@dataclass(frozen=True)
class HeldCheck:
    expected: str
    seen: str | None  # the SKU whose look matches best among those as wide as the grip (None: none does)
    scores: dict[str, float]  # SKU -> fraction of the region with its colours

    @property
    def ok(self) -> bool:
        return self.seen == self.expected

    @property
    def detail(self) -> str:
        best = ", ".join(f"{k} {v:.2f}" for k, v in sorted(self.scores.items(), key=lambda kv: -kv[1])[:3])
        seen = self.seen or "no SKU of the store"
        return f"the wrist camera sees {seen} in the gripper, not {self.expected} (looks: {best})"


def check_held(
    store: Store,
    looks: SkuLooks,
    rgb: np.ndarray,
    expected: str,
    opening: float | None = None,
    centre_below: float = 0.0,
) -> HeldCheck:
    """Is the container in the fingers the ``expected`` SKU? ``opening``: the fingers' measured
    opening (m), which rules out SKUs of another width; ``centre_below``: how far under the grasp
    centre the expected container's centre is (m)."""
    pixels = held_pixels(rgb, held_box(store, expected, centre_below))
    candidates = [
        sid for sid, sku in store.skus.items() if opening is None or abs(sku.across - opening) <= WIDTH_TOLERANCE
    ]
    if not candidates:
        return HeldCheck(expected, None, {})  # as wide as no SKU of the store
    scores = held_scores(pixels, {sid: looks.palette(sid) for sid in candidates})
    best = max(scores, key=lambda sid: (scores[sid], sid == expected))
    seen = best if scores[best] >= HELD_MIN_MATCH else None
    return HeldCheck(expected, seen, scores)


def colour_distance(pixels: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """(N,) each pixel's chromaticity distance to the nearest palette colour it could be under the
    store's light (brightness HELD_BRIGHTNESS times the colour's; dark against dark by brightness)."""
    if len(palette) == 0:
        return np.full(len(pixels), np.inf)
    chroma = np.linalg.norm(pixels[:, None, :3] - palette[None, :, :3], axis=2)
    ratio = pixels[:, None, 3] / np.maximum(palette[None, :, 3], 1e-3)
    d = np.where((ratio > HELD_BRIGHTNESS[0]) & (ratio < HELD_BRIGHTNESS[1]), chroma, np.inf)
    dark = (pixels[:, None, 3] < DARK) & (palette[None, :, 3] < DARK)
    return np.where(dark, np.minimum(d, np.abs(pixels[:, None, 3] - palette[None, :, 3])), d).min(axis=1)


def held_scores(pixels: np.ndarray, palettes: dict[str, np.ndarray]) -> dict[str, float]:
    """Each SKU's share of the pixels that have one of its colours. Two SKUs that come close
    (HELD_CLOSE) are told apart by the pixels nearer one's colours than the other's by HELD_DECISIVE
    (a colour both have, a white label, says nothing between them): the loser's score is scaled by
    its share of those."""
    dist = {sid: colour_distance(pixels, pal) for sid, pal in palettes.items()}
    cover = {sid: float((d < HELD_TOLERANCE).mean()) for sid, d in dist.items()}
    ranked = sorted(cover, key=lambda sid: -cover[sid])
    if len(ranked) > 1 and cover[ranked[0]] - cover[ranked[1]] < HELD_CLOSE:
        a, b = dist[ranked[0]], dist[ranked[1]]
        near = np.minimum(a, b) < HELD_TOLERANCE
        for_a = int((near & (a < b - HELD_DECISIVE)).sum())
        for_b = int((near & (b < a - HELD_DECISIVE)).sum())
        if for_a + for_b:
            loser, share = (ranked[1], for_b) if for_a >= for_b else (ranked[0], for_a)
            cover[loser] *= share / (for_a + for_b)
    return cover
