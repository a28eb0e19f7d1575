"""The false-empty storm guard: frames unlike what the models know make lanes unknown, not empty.

On real photos the shipped detector drew 7-14 false ``empty_front`` boxes per frame; a camera
fed such frames would call lanes empty all day and send the arm to full lanes. Three signs,
each cheap, tell such frames from the store the camera was calibrated on:

- **off the lane map**: confident ``empty_front`` boxes that sit on no lane (its floor from the
  front slot to the back one, in the image). On renders of our stores the detector's empties sit
  on lanes; a frame with several elsewhere is a scene it does not understand (or a camera moved
  off its calibration).
- **a whole row empty at once**: most of a row's lanes going from present to empty in a single
  frame. Customers take one container at a time; a row does not sell out between two frames.
  That row's lanes are unknown; if the row keeps reading empty for ``row_accept_frames`` frames
  with nothing else amiss (a camera back after a freeze, a row really sold out), it is believed.
- **fronts the detector does not see**: most of the camera's lane fronts with no container
  and no empty front boxed on them. Looking at its own case the detector boxes something at
  nearly every front (at most a quarter of them blind on any render of our stores); on real
  photos of other shelves it boxed nothing at 61-100% of the fronts, while the lane-front
  classifier, which never saw a real shelf, called 3.7 of them a frame empty.
- **a jump in the image statistics**: a coarse grey thumbnail far from the camera's running
  reference (lights off, a door fogged, the camera knocked). After a jump the lanes stay
  unknown until ``settle_frames`` calm frames in a row have passed the other two checks; then
  the new look becomes the reference.

:meth:`StormGuard.check` returns the lanes to report unknown on this frame and the reason; the
camera pipeline reports them unknown and keeps their readings out of the temporal filter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from restock.store.camera import CameraModel
from restock.store.description import Store
from restock.vision.classes import EMPTY_FRONT
from restock.vision.detector import Detections
from restock.vision.lanes import LaneReading, LaneRegion, project_box, slot_corners

THUMB_STEP = 20  # a 640x480 frame is sampled every 20 px: a 32x24 thumbnail


@dataclass(frozen=True)
class GuardConfig:
    off_map_score: float = 0.3  # an empty_front box this confident counts
    on_map_cover: float = 0.3  # ... and sits on the map if a lane covers this much of it
    off_map_max: int = 1  # more empties off the map than this: the frame is not understood
    # More than this share of the judged fronts read with no container or empty front boxed on them
    # (LaneReading.boxed: the lane matching's own slot_score and min_iou), and at least blind_min.
    blind_fraction: float = 0.5
    blind_min: int = 3
    row_flip_fraction: float = 0.6  # this share of a row's lanes going present -> empty in one frame
    row_flip_min: int = 3  # ... and at least this many
    stats_jump: float = 30.0  # mean abs difference of the thumbnail from the reference (grey levels)
    row_accept_frames: int = 6  # a row reading empty this many frames in a row, all else calm, is believed
    settle_frames: int = 3  # calm frames in a row before a new look is trusted
    reference_rate: float = 0.1  # how fast the reference follows calm frames (slow light changes)

    def __post_init__(self) -> None:
        if self.off_map_max < 0 or self.row_flip_min < 1 or self.settle_frames < 0 or not 0 < self.reference_rate <= 1:
            raise ValueError(f"invalid guard config {self}")
        if not 0 < self.blind_fraction <= 1 or self.blind_min < 1:
            raise ValueError(f"invalid guard config {self}")


@dataclass(frozen=True)
class GuardVerdict:
    unknown: frozenset[str]  # lanes to report unknown on this frame
    reason: str | None = None

    @property
    def storm(self) -> bool:
        return bool(self.unknown)


def thumbnail(rgb: np.ndarray) -> np.ndarray:
    """A coarse grey picture of the frame (float32), sampled, not averaged: microseconds."""
    return rgb[THUMB_STEP // 2 :: THUMB_STEP, THUMB_STEP // 2 :: THUMB_STEP].mean(axis=2, dtype=np.float32)


def map_boxes(store: Store, camera: CameraModel) -> np.ndarray:
    """Every lane in the camera's image (N, 4), front slot to back slot, those another camera
    judges and those cut by the border too: an empty seen there is on the map."""
    boxes = []
    for lane in store.lanes:
        corners = np.vstack([slot_corners(lane, 0), slot_corners(lane, max(lane.lane.capacity - 1, 0))])
        boxes.append(project_box(camera, corners, 0.05))
    return np.asarray([b for b in boxes if b is not None], np.float64).reshape(-1, 4)


def off_map_empties(dets: Detections, fronts: np.ndarray, cfg: GuardConfig) -> tuple[int, int]:
    """(confident empty_front boxes on no lane front of ``fronts``, confident empty_front boxes)."""
    sel = (dets.class_ids == EMPTY_FRONT) & (dets.scores >= cfg.off_map_score)
    boxes = dets.boxes[sel].astype(np.float64)
    if not len(boxes):
        return 0, 0
    if not len(fronts):
        return len(boxes), len(boxes)
    w = (np.minimum(boxes[:, None, 2], fronts[None, :, 2]) - np.maximum(boxes[:, None, 0], fronts[None, :, 0])).clip(0)
    h = (np.minimum(boxes[:, None, 3], fronts[None, :, 3]) - np.maximum(boxes[:, None, 1], fronts[None, :, 1])).clip(0)
    area = ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])).clip(1e-9)
    covered = (w * h / area[:, None]).max(axis=1)
    return int((covered < cfg.on_map_cover).sum()), len(boxes)


class StormGuard:
    """The guard for one camera's lanes (``regions``: those it judges; ``fronts``: every lane front
    in its image, :func:`map_boxes`)."""

    def __init__(self, regions: list[LaneRegion], fronts: np.ndarray, config: GuardConfig | None = None) -> None:
        self.config = config or GuardConfig()
        self.regions = regions
        self.fronts = fronts
        self.rows: dict[str, list[str]] = {}
        for r in regions:
            self.rows.setdefault(r.lane.row.id, []).append(r.id)
        self.reference: np.ndarray | None = None
        self.last: np.ndarray | None = None
        self.calm = 0  # calm frames in a row since the last storm
        self.row_runs: dict[str, int] = dict.fromkeys(self.rows, 0)  # frames each row has flipped in a row
        self.unsettled = False  # a jump was seen and no new look is trusted yet

    def check(
        self, rgb: np.ndarray, dets: Detections, readings: list[LaneReading], confirmed: dict[str, str]
    ) -> GuardVerdict:
        """This frame's verdict. ``confirmed``: each lane's state in the temporal filter (before this frame)."""
        cfg = self.config
        reasons = []
        thumb = thumbnail(rgb)
        # Steady against the usual view; after a jump, steady from frame to frame (a new look).
        base = self.last if self.unsettled else self.reference
        if base is not None and base.shape == thumb.shape:
            jump = float(np.abs(thumb - base).mean())
            if jump > cfg.stats_jump:
                seen = "the last frame" if self.unsettled else "the camera's usual view"
                reasons.append(f"image statistics jumped ({jump:.0f} grey levels from {seen})")
                self.unsettled = True
        self.last = thumb
        off, n_empty = off_map_empties(dets, self.fronts, cfg)
        if off > cfg.off_map_max:
            reasons.append(f"{off} of {n_empty} empty-front detections sit on no lane front")
        blind = sum(not r.boxed for r in readings)  # (the readings are of this camera's fronts)
        if blind >= cfg.blind_min and blind > cfg.blind_fraction * len(readings):
            reasons.append(f"the detector sees nothing at {blind} of {len(readings)} lane fronts")
        whole_frame = bool(reasons) or self.unsettled  # (a row is not believed while the view is unsettled)
        by_lane = {r.lane_id: r for r in readings}
        flipped_rows: list[str] = []
        for row, lanes in self.rows.items():
            flips = [lid for lid in lanes if confirmed.get(lid) == "present" and by_lane.get(lid) is not None
                     and by_lane[lid].evidence == "empty"]  # fmt: skip
            flipped = len(flips) >= max(cfg.row_flip_min, cfg.row_flip_fraction * len(lanes))
            self.row_runs[row] = self.row_runs[row] + 1 if flipped else 0
            if flipped and (whole_frame or self.row_runs[row] < cfg.row_accept_frames):
                flipped_rows.append(row)
                reasons.append(f"row {row}: {len(flips)} of {len(lanes)} lanes went empty at once")
        if reasons:
            self.calm = 0
        else:
            self.calm += 1
        if self.reference is None or (self.unsettled and not reasons and self.calm >= cfg.settle_frames):
            self.reference, self.unsettled = thumb, False  # the first frame, or a new look that held
        elif not reasons and not self.unsettled:
            self.reference += cfg.reference_rate * (thumb - self.reference)
        if not reasons and self.unsettled:
            reasons.append(f"settling after an image jump ({self.calm} of {cfg.settle_frames} calm frames)")
            whole_frame = True
        if not reasons:
            return GuardVerdict(frozenset())
        if whole_frame:
            return GuardVerdict(frozenset(r.id for r in self.regions), "; ".join(reasons))
        return GuardVerdict(frozenset(lid for row in flipped_rows for lid in self.rows[row]), "; ".join(reasons))
