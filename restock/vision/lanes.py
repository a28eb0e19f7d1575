"""From detections to lanes: where each lane's front slot appears in a camera, and what is in it.

Each lane's front slot is the box a front container occupies (the lane's SKU size at
:meth:`LaneView.front_point`); its eight corners projected through the camera's calibration
give the pixel box where the camera sees that lane's front. The same boxes label the
simulator's ``empty_front`` class, so training and run time agree on what a lane front is.

One frame's reading of a lane (:class:`LaneReading`) is raw evidence; the temporal filter
(:mod:`restock.vision.lane_filter`) turns readings into the published state.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np

from restock.store.camera import CameraModel
from restock.store.description import LaneView, Sku, Store
from restock.vision.appearance import SkuLooks
from restock.vision.classes import CLASSES, CONTAINER_IDS, EMPTY_FRONT, HAND, OBSTRUCTION, UNFAMILIAR_ITEM
from restock.vision.detector import Detections
from restock.vision.lane_front import CROP_SIZE, LANE_FRONT_CLASSES, crop_fronts

Evidence = Literal["present", "empty", "occluded", "none"]


def slot_corners(lane: LaneView, index_from_front: int = 0) -> np.ndarray:
    """The 8 corners (8, 3) of the box a container of the lane's SKU fills at that slot."""
    cx, cy, cz = lane.slot_centre(index_from_front)
    sku = lane.sku
    dx, dy, dz = sku.across / 2, sku.along / 2, sku.height / 2
    return np.array([[cx + sx * dx, cy + sy * dy, cz + sz * dz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)])


# A lane front cut by the image border to less than this fraction of its box is not this
# camera's to judge (what is left of it is too little to tell a container from a gap); another
# camera of the store sees it whole.
MIN_VISIBLE_FRACTION = 0.6


def project_box(
    camera: CameraModel, corners: np.ndarray, min_visible: float = 0.0
) -> tuple[float, float, float, float] | None:
    """Pixel box (x1, y1, x2, y2) of 3-D corners, clipped to the image; None if behind, outside,
    or with less than ``min_visible`` of its area inside the image."""
    uv, depth = camera.project(corners)
    if np.any(depth <= 1e-6):
        return None
    x1, y1 = uv.min(axis=0)
    x2, y2 = uv.max(axis=0)
    full = max((x2 - x1) * (y2 - y1), 1e-9)
    x1, x2 = max(0.0, x1), min(float(camera.width), x2)
    y1, y2 = max(0.0, y1), min(float(camera.height), y2)
    if x2 - x1 < 1 or y2 - y1 < 1 or (x2 - x1) * (y2 - y1) < min_visible * full:
        return None
    return (float(x1), float(y1), float(x2), float(y2))


@dataclass(frozen=True)
class LaneRegion:
    """A lane as one camera sees it: its front-slot box in pixels."""

    lane: LaneView
    box: tuple[float, float, float, float]

    @property
    def id(self) -> str:
        return self.lane.id


# A front smaller than this (pixels, either side) is too little to tell a container from a gap:
# the lane-front classifier would blow a few pixels up to its whole input.
MIN_FRONT_PX = 10.0


def front_box(camera: CameraModel, lane: LaneView) -> tuple[tuple[float, float, float, float] | None, str]:
    """The pixel box where ``camera`` judges the lane's front, or None and why it cannot."""
    if not camera.sees(np.array(lane.front_point())):
        return None, "not in view"
    corners = slot_corners(lane)
    box = project_box(camera, corners, MIN_VISIBLE_FRACTION)
    if box is None:
        whole = project_box(camera, corners)
        uv, _ = camera.project(corners)
        full = float(np.prod(uv.max(axis=0) - uv.min(axis=0)))
        inside = 0.0 if whole is None else (whole[2] - whole[0]) * (whole[3] - whole[1]) / max(full, 1e-9)
        return None, f"cut by the image border ({inside:.0%} inside, needs {MIN_VISIBLE_FRACTION:.0%})"
    w, h = box[2] - box[0], box[3] - box[1]
    if min(w, h) < MIN_FRONT_PX:
        return None, f"front only {w:.0f}x{h:.0f} px (needs {MIN_FRONT_PX:.0f} px a side)"
    return box, ""


def head_on(position: np.ndarray, lane: LaneView) -> float:
    """How squarely a camera at ``position`` sees the lane's front: the cosine of the angle between
    its ray to the front and the way the front faces (+y, to the customers); 1 is head-on."""
    ray = np.asarray(position, np.float64) - np.array(lane.front_point())
    return float(ray[1] / max(float(np.linalg.norm(ray)), 1e-9))


def judging_cameras(store: Store) -> dict[str, str]:
    """Lane id -> the camera that judges its front: of the cameras that can (:func:`front_box`), the
    one that sees it most squarely. Seen from far aside, a narrow lane's empty front shows the
    neighbours' columns and the dividers across it, which the models read as an item (the walk-in
    cooler's held-out renders: empty F1 0.986 judged by every camera in view, 0.999 by the most
    head-on one); one judge per lane also keeps two cameras from contradicting each other."""
    judges: dict[str, str] = {}
    for lane in store.lanes:
        best = -2.0
        for cam in store.cameras:
            model = cam.model
            if front_box(model, lane)[0] is not None and (score := head_on(model.position, lane)) > best:
                judges[lane.id], best = cam.id, score
    return judges


def lane_regions(store: Store, camera_id: str, camera: CameraModel | None = None) -> list[LaneRegion]:
    """The lanes this camera judges (:func:`judging_cameras`), with their front boxes in its image
    (``camera``: the pose a render was made from, when it differs from the store's)."""
    model = camera or store.camera(camera_id).model
    judges = judging_cameras(store)
    regions = []
    for lane in store.lanes:
        if judges.get(lane.id) != camera_id:
            continue
        box = (
            front_box(model, lane)[0]
            if camera is None
            else project_box(model, slot_corners(lane), MIN_VISIBLE_FRACTION)
        )
        if box is not None:
            regions.append(LaneRegion(lane, box))
    return regions


@dataclass(frozen=True)
class LaneReading:
    """What one frame says about one lane's front."""

    lane_id: str
    evidence: Evidence
    confidence: float = 0.0
    kind_seen: str | None = None  # container kind detected at the front
    sku_seen: str | None = None
    unfamiliar: bool = False
    obstruction: bool = False
    hand: bool = False
    box: tuple[float, float, float, float] | None = None  # the detection that decided it
    flag_box: tuple[float, float, float, float] | None = None  # the unfamiliar item / obstruction
    # The models said "unfamiliar item" but the front has the look of the lane's SKU in this store
    # (restock.vision.appearance): it is that SKU.
    recognised: bool = False
    # The detector boxed a container or an empty front on this front (whatever decided it): the
    # storm guard's sign of a frame the detector does not understand is most fronts unboxed.
    boxed: bool = True


@dataclass(frozen=True)
class MatchConfig:
    min_iou: float = 0.3  # a container / empty-front detection belongs to a lane front at this IoU
    # At a lane front the detector acts as a classifier (container or empty front: the higher
    # score wins), so a low score still counts there; hands and flags need a confident box.
    slot_score: float = 0.05
    flag_score: float = 0.3
    hand_cover: float = 0.15  # a hand covering this fraction of a front may hide it
    empty_under_hand: float = 0.3  # with a hand over a front, an empty front needs this score
    # An unfamiliar item / obstruction concerns a lane when this fraction of the item lies in the
    # lane's front box, or it covers this fraction of the front box.
    flag_cover: float = 0.4
    # The lane-front classifier (restock.vision.lane_front), when the camera runs one: the
    # probability of an unfamiliar item / obstruction at the front slot that flags it.
    front_unfamiliar: float = 0.5
    front_obstruction: float = 0.5
    front_empty_under_hand: float = 0.9  # with a hand over a front, the classifier's empty needs this


def _overlaps(reg: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every lane front against every detection at once (R x N; this runs on every frame): the
    fraction of the front under each box, of each box inside the front, and their IoU."""
    x1 = np.maximum(reg[:, None, 0], boxes[None, :, 0])
    y1 = np.maximum(reg[:, None, 1], boxes[None, :, 1])
    x2 = np.minimum(reg[:, None, 2], boxes[None, :, 2])
    y2 = np.minimum(reg[:, None, 3], boxes[None, :, 3])
    inter = (x2 - x1).clip(0) * (y2 - y1).clip(0)
    area_r = ((reg[:, 2] - reg[:, 0]) * (reg[:, 3] - reg[:, 1]))[:, None]
    area_b = ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))[None, :]
    cover = inter / np.maximum(area_r, 1e-9)
    inside = inter / np.maximum(area_b, 1e-9)
    return cover, inside, inter / np.maximum(area_r + area_b - inter, 1e-9)


def read_lanes(
    regions: list[LaneRegion],
    dets: Detections,
    rgb: np.ndarray | None = None,
    skus: dict[str, Sku] | None = None,
    config: MatchConfig = MatchConfig(),
    fronts: np.ndarray | None = None,
    looks: SkuLooks | None = None,
) -> list[LaneReading]:
    """One frame's evidence per lane. With ``rgb`` and ``skus``, a container's SKU is read from its colours.

    ``fronts``: the lane-front classifier's probabilities (R, len(LANE_FRONT_CLASSES)), one row
    per region, when the camera runs it. ``looks``: the store's SKU looks; with ``rgb``, a front
    the models call unfamiliar that shows the lane's SKU is that SKU.
    """
    if not regions:
        return []
    boxes = dets.boxes.astype(np.float64)
    cover, inside, iou = _overlaps(_region_array(tuple(r.box for r in regions)), boxes)
    cls, scores = dets.class_ids, dets.scores
    is_container = _IS_CONTAINER[np.clip(cls, 0, len(CLASSES) - 1)]
    confident = scores >= config.flag_score
    slot_ok = scores >= config.slot_score
    hand_any = ((cover >= config.hand_cover) & (cls == HAND) & confident).any(axis=1)
    flag_hit = (np.maximum(cover, inside) >= config.flag_cover) & confident
    unf_hit = flag_hit & (cls == UNFAMILIAR_ITEM)
    obs_hit = flag_hit & (cls == OBSTRUCTION)
    matched = (iou >= config.min_iou) & slot_ok
    cont_score = np.where(matched & is_container, scores, -1.0)
    empty_score = np.where(matched & (cls == EMPTY_FRONT), scores, -1.0)
    # Per-lane reductions done once for all lanes, then plain Python per lane (this runs on
    # every frame: a few numpy calls per lane would cost more than the whole lane logic).
    n = len(cls)
    hand_l = hand_any.tolist()
    unf_l, obs_l = unf_hit.any(axis=1).tolist(), obs_hit.any(axis=1).tolist()
    c_idx = cont_score.argmax(axis=1) if n else np.full(len(regions), -1)
    e_idx = empty_score.argmax(axis=1) if n else np.full(len(regions), -1)
    rows = np.arange(len(regions))
    c_best = (cont_score[rows, c_idx] if n else np.full(len(regions), -1.0)).tolist()
    e_best = (empty_score[rows, e_idx] if n else np.full(len(regions), -1.0)).tolist()
    c_idx, e_idx = c_idx.tolist(), e_idx.tolist()
    box_list = boxes.tolist()
    front_l = fronts.tolist() if fronts is not None else None
    readings = []
    for r, region in enumerate(regions):
        hand = hand_l[r]
        unfamiliar, obstruction = unf_l[r], obs_l[r]
        flag_box = None
        if unfamiliar or obstruction:
            hit = unf_hit[r] if unfamiliar else obs_hit[r]
            j = int(np.argmax(np.where(hit, np.maximum(cover[r], inside[r]), -1.0)))
            flag_box = tuple(box_list[j])
        c, e = c_idx[r], e_idx[r]
        c_score, e_score = c_best[r], e_best[r]
        under_hand = config.empty_under_hand
        if front_l is not None:
            # The classifier sees the front slot at full resolution: it decides what stands
            # there; the detector still finds hands, obstructions across lanes, and the box.
            p = front_l[r]
            if p[FRONT_UNFAMILIAR] >= config.front_unfamiliar and not obstruction:
                unfamiliar, flag_box = True, flag_box or region.box
            if p[FRONT_OBSTRUCTION] >= config.front_obstruction and not unfamiliar:
                obstruction, flag_box = True, flag_box or region.box
            c_score, e_score = p[FRONT_CONTAINER], p[FRONT_EMPTY]
            under_hand = config.front_empty_under_hand
        recognised = False
        if unfamiliar and not obstruction and looks is not None and rgb is not None:
            crop = crop_fronts(rgb, [region.box], CROP_SIZE)[0]
            certainty = front_l[r][FRONT_UNFAMILIAR] if front_l is not None else 0.0
            if looks.shows(region.lane.lane.sku, crop, certainty):
                # The models' "unfamiliar" was the store's own SKU: what they gave it counts as a container.
                unfamiliar, flag_box, recognised = False, None, True
                c_score = max(c_score, 0.0) + (front_l[r][FRONT_UNFAMILIAR] if front_l is not None else 0.0)
        if hand and 0 <= e_score < under_hand:
            e_score = -1.0  # under a hand, only a clear view of the empty front counts as a gap
        kind = sku = box = None
        if obstruction:
            evidence: Evidence = "occluded"
            conf = 0.0
        elif unfamiliar:
            evidence, conf, box = "present", 1.0, flag_box
        elif c_score >= 0 and c_score >= e_score:
            evidence, conf = "present", c_score
            if c >= 0 and c_best[r] >= 0:
                kind = CLASSES[int(cls[c])]
                box = tuple(box_list[c])
            else:  # the classifier saw a container the detector did not box
                box = region.box
            if recognised:
                kind, sku = region.lane.sku.kind, region.lane.lane.sku
            elif rgb is not None and skus and kind is not None:
                sku = match_sku(rgb, box, kind, skus)
        elif e_score >= 0:
            evidence, conf = "empty", e_score
            box = tuple(box_list[e]) if e >= 0 and e_best[r] >= 0 else region.box
        elif hand:
            evidence, conf = "occluded", 0.0
        else:
            evidence, conf = "none", 0.0
        readings.append(
            LaneReading(
                lane_id=region.id,
                evidence=evidence,
                confidence=float(conf),
                kind_seen=kind,
                sku_seen=sku,
                unfamiliar=unfamiliar,
                obstruction=obstruction,
                hand=hand,
                box=box,
                flag_box=flag_box,
                recognised=recognised,
                boxed=c_best[r] >= 0 or e_best[r] >= 0,
            )
        )
    return readings


@lru_cache(maxsize=16)
def _region_array(boxes: tuple[tuple[float, float, float, float], ...]) -> np.ndarray:
    return np.array(boxes, np.float64).reshape(-1, 4)


FRONT_CONTAINER, FRONT_EMPTY, FRONT_OBSTRUCTION, FRONT_UNFAMILIAR = (
    LANE_FRONT_CLASSES.index(name) for name in ("container", "empty", "obstruction", "unfamiliar")
)
_IS_CONTAINER = np.array([i in CONTAINER_IDS for i in range(len(CLASSES))])


def match_sku(rgb: np.ndarray, box: tuple[float, float, float, float], kind: str, skus: dict[str, Sku]) -> str | None:
    """The SKU of that kind whose colours best match the box's centre (chromaticity, so lighting matters less)."""
    ids, refs = _sku_refs(tuple((sid, s.kind, *s.color, *s.label_color) for sid, s in skus.items()), kind)
    if not ids:
        return None
    if len(ids) == 1:
        return ids[0]
    px = _patch(rgb, box)
    if px.size == 0:
        return None
    seen = _chroma(px.mean(axis=0))
    # The centre shows the body colour and the label; compare with both and keep the nearer.
    d = np.linalg.norm(refs - seen, axis=2).min(axis=1)
    return ids[int(d.argmin())]


@lru_cache(maxsize=64)
def _sku_refs(items: tuple[tuple, ...], kind: str) -> tuple[list[str], np.ndarray]:
    """SKU ids of a kind and their (body, label) chromaticities (K, 2, 4), computed once per store.

    ``items``: (sku id, kind, body r, g, b, label r, g, b) per SKU, hashable for the cache.
    """
    rows = [item for item in items if item[1] == kind]
    ids = [item[0] for item in rows]
    refs = np.array(
        [[_chroma(np.array(item[2:5], np.float64)), _chroma(np.array(item[5:8], np.float64))] for item in rows]
    ).reshape(len(ids), 2, 4)
    return ids, refs


def _chroma(rgb: np.ndarray) -> np.ndarray:
    total = max(float(rgb.sum()), 1e-6)
    return np.append(rgb / total, min(total / 3.0, 1.0) * 0.5)


def _patch(rgb: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """The centre of a box (where a container shows its body and label), as (N, 3) floats in [0, 1]."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    patch = rgb[int(y1 + h * 0.15) : int(y2 - h * 0.15) + 1, int(x1 + w * 0.25) : int(x2 - w * 0.25) + 1]
    return patch.reshape(-1, 3).astype(np.float64) / 255.0
