"""One camera's frame-to-records pipeline, without ROS: detector -> lanes -> filter -> records.

The shelf camera node is a thin shell around :class:`CameraPipeline`; the benchmark and the
tests drive the same object directly.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np
from PIL import Image, ImageDraw

from restock import records
from restock.convert import jpeg_b64
from restock.store.description import Store
from restock.vision.appearance import SkuLooks
from restock.vision.detector import Detections, DetectorError, Letterbox, OnnxDetector, check_frame
from restock.vision.lane_filter import FilterConfig, LaneFilter, LaneStatus
from restock.vision.lane_front import CROP_SIZE, LaneFrontClassifier, crop_fronts, crop_index
from restock.vision.lanes import LaneReading, MatchConfig, lane_regions, read_lanes
from restock.vision.storm import GuardConfig, StormGuard, map_boxes

_HANDOFF_KIND: dict[str, records.HandoffKind] = {"unfamiliar": "unfamiliar_item", "obstruction": "obstruction"}
_STATE_COLOUR = {"present": (40, 200, 60), "empty": (230, 40, 40), "unknown": (160, 160, 160)}
_CLASS_COLOUR = [
    (255, 200, 0),
    (0, 200, 255),
    (255, 120, 200),
    (255, 60, 60),
    (255, 0, 255),
    (255, 255, 255),
    (0, 0, 0),
]


@dataclass
class FrameResult:
    observation: records.ShelfObservation
    handoffs: list[records.HandoffRequest]
    detections: Detections
    readings: list[LaneReading]
    statuses: list[LaneStatus]
    latency_s: float  # detector + lane logic for this frame
    guard_reason: str | None = None  # why the storm guard made lanes unknown on this frame


@dataclass(frozen=True)
class PreparedFrame:
    """A checked frame and the detector's input made from it (:meth:`CameraPipeline.prepare`)."""

    rgb: np.ndarray
    frame_stamp: float
    tensor: np.ndarray
    letterbox: Letterbox
    prepare_s: float  # time the letterbox took, counted in the frame's latency


@dataclass
class CameraPipeline:
    store: Store
    camera_id: str
    detector: OnnxDetector | None
    filter_config: FilterConfig = field(default_factory=FilterConfig)
    match_config: MatchConfig = field(default_factory=MatchConfig)
    source: str = "shelf_camera"
    lane_front: LaneFrontClassifier | None = None
    # The store's SKU looks (description and operators' answers); None: the description's alone.
    looks: SkuLooks | None = None
    # The false-empty storm guard (restock.vision.storm); None: off.
    guard_config: GuardConfig | None = field(default_factory=GuardConfig)

    def __post_init__(self) -> None:
        self.camera = self.store.camera(self.camera_id)
        self.regions = lane_regions(self.store, self.camera_id)
        self._region_by_id = {r.id: r for r in self.regions}
        if self.looks is None:
            self.looks = SkuLooks(self.store)
        self._front_index = None
        self._front_pool: ThreadPoolExecutor | None = None
        if self.lane_front is not None:
            # The two models run side by side: ONNX Runtime lets go of the GIL, so the small one
            # costs no wall time on a second core while the detector runs.
            self._front_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"lane-front-{self.camera_id}")
            boxes = [r.box for r in self.regions]
            self._front_index = crop_index(boxes, self.camera.width, self.camera.height, self.lane_front.size)
        self.filter = LaneFilter([r.id for r in self.regions], self.filter_config)
        self.guard = None
        if self.guard_config is not None:
            self.guard = StormGuard(self.regions, map_boxes(self.store, self.camera.model), self.guard_config)
        self._incidents = 0
        self._held: set[str] = set()  # lanes whose unfamiliar item waits for an answer about their SKU

    @property
    def lane_ids(self) -> list[str]:
        return [r.id for r in self.regions]

    def check_size(self, rgb: np.ndarray) -> None:
        check_frame(rgb)
        h, w = rgb.shape[:2]
        if (w, h) != (self.camera.width, self.camera.height):
            raise DetectorError(
                f"frame is {w}x{h} but camera {self.camera_id} is calibrated for {self.camera.width}x{self.camera.height}"
            )

    def unknown_observation(self, now_s: float, frame_stamp: float, stale: bool) -> records.ShelfObservation:
        """Every lane unknown: a stale camera, or a detector that cannot run."""
        if stale:
            self.filter.reset()
        lanes = [records.LaneObservation(lane_id=lid, state="unknown", confidence=0.0) for lid in self.lane_ids]
        return records.ShelfObservation(
            stamp=now_s, camera_id=self.camera_id, frame_stamp=frame_stamp, lanes=lanes, stale=stale
        )

    def process(self, rgb: np.ndarray, frame_stamp: float, now_s: float) -> FrameResult:
        """Detect, map to lanes, filter; raises DetectorError for a frame that cannot be used."""
        return self.finish(self.prepare(rgb, frame_stamp), now_s)

    def prepare(self, rgb: np.ndarray, frame_stamp: float) -> PreparedFrame:
        """The part of :meth:`process` that needs no state of earlier frames: the frame checked and
        letterboxed. A camera node runs it as a frame arrives, while the models still work on the
        previous one. Raises DetectorError for a frame that cannot be used."""
        if self.detector is None:
            raise DetectorError("no detector loaded")
        self.check_size(rgb)
        t0 = time.perf_counter()
        tensor, lb = self.detector.letterbox(rgb)
        return PreparedFrame(rgb, frame_stamp, tensor, lb, time.perf_counter() - t0)

    def finish(self, frame: PreparedFrame, now_s: float) -> FrameResult:
        """The rest of :meth:`process` for a frame :meth:`prepare` made; frames in the order they came."""
        if self.detector is None:
            raise DetectorError("no detector loaded")
        t0 = time.perf_counter()
        rgb, frame_stamp = frame.rgb, frame.frame_stamp
        pending = None
        if self._front_pool is not None and self.lane_front is not None and self.regions:
            pending = self._front_pool.submit(self._classify_fronts, rgb)  # cut there too, off the detector's path
        h, w = rgb.shape[:2]
        dets = self.detector.detect_letterboxed(frame.tensor, frame.letterbox, w, h)
        fronts = pending.result() if pending is not None else None
        readings = read_lanes(self.regions, dets, rgb, self.store.skus, self.match_config, fronts, self.looks)
        verdict = None
        if self.guard is not None:
            confirmed = {lid: t.state for lid, t in self.filter.tracks.items()}
            verdict = self.guard.check(rgb, dets, readings, confirmed)
        if verdict is not None and verdict.storm:
            # Frames the models do not understand are no evidence: kept out of the filter, reported unknown.
            readings = [LaneReading(r.lane_id, "none") if r.lane_id in verdict.unknown else r for r in readings]
        statuses = self.filter.update(readings, frame_stamp)
        if verdict is not None and verdict.storm:
            statuses = [
                replace(s, state="unknown", confidence=0.0, sku_seen=None) if s.lane_id in verdict.unknown else s
                for s in statuses
            ]
        latency = frame.prepare_s + time.perf_counter() - t0
        lanes = [
            records.LaneObservation(
                lane_id=s.lane_id,
                state=s.state,
                sku_seen=s.sku_seen,
                fill=0.0 if s.state == "empty" else None,
                unfamiliar=s.unfamiliar,
                obstruction=s.obstruction,
                hand=s.hand,
                confidence=float(min(max(s.confidence, 0.0), 1.0)),
            )
            for s in statuses
        ]
        obs = records.ShelfObservation(stamp=now_s, camera_id=self.camera_id, frame_stamp=frame_stamp, lanes=lanes)
        handoffs = self._handoffs(statuses, readings, rgb, frame_stamp, now_s)
        return FrameResult(obs, handoffs, dets, readings, statuses, latency, verdict.reason if verdict else None)

    def _classify_fronts(self, rgb: np.ndarray) -> np.ndarray:
        assert self.lane_front is not None  # only submitted with a classifier
        return self.lane_front.classify(crop_fronts(rgb, [], index=self._front_index))

    def _handoffs(
        self, statuses: list[LaneStatus], readings: list[LaneReading], rgb: np.ndarray, frame_stamp: float, now_s: float
    ) -> list[records.HandoffRequest]:
        """A request per new incident. An unfamiliar item at a lane whose SKU an operator is being asked
        about (another front, any camera) waits for that answer: if the answer is "this is the SKU",
        its look settles this front too and no second question is asked; if not, it is asked then."""
        looks = self.looks
        assert looks is not None  # __post_init__
        by_lane = {r.lane_id: r for r in readings}
        handoffs = []
        for s in statuses:
            flags = list(s.new_incidents)
            if s.lane_id in self._held and (not s.unfamiliar or "unfamiliar" in flags):
                self._held.discard(s.lane_id)  # the flag fell (or fell and rose: decided afresh below)
            reading = by_lane.get(s.lane_id)
            if s.lane_id in self._held and not looks.asking(s.lane_id, now_s):
                if reading is not None and reading.unfamiliar:  # (else its flag is about to fall)
                    self._held.discard(s.lane_id)
                    flags.append("unfamiliar")  # the answer did not settle this front: ask about it now
            elif "unfamiliar" in flags and looks.asking(s.lane_id, now_s):
                flags.remove("unfamiliar")
                self._held.add(s.lane_id)
            for flag in flags:
                handoffs.append(self._request(flag, s.lane_id, reading, rgb, frame_stamp, now_s))
        return handoffs

    def _request(
        self, flag: str, lane_id: str, reading: LaneReading | None, rgb: np.ndarray, frame_stamp: float, now_s: float
    ) -> records.HandoffRequest:
        self._incidents += 1
        box = reading.flag_box if reading is not None else None
        request_id = f"{self.camera_id}.{lane_id}.{flag}.{int(frame_stamp * 1000)}.{self._incidents}"
        if flag == "unfamiliar" and self.looks is not None:
            # Kept for the operator's answer: a label makes this look the SKU's from then on.
            front = crop_fronts(rgb, [self._region_by_id[lane_id].box], CROP_SIZE)[0]
            self.looks.raised(request_id, self.camera_id, lane_id, now_s, front)
        kind = _HANDOFF_KIND[flag]
        return records.HandoffRequest(
            request_id=request_id,
            source=self.source,
            kind=kind,
            stamp=now_s,
            lane_id=lane_id,
            camera_id=self.camera_id,
            detail=f"{kind.replace('_', ' ')} at the front of lane {lane_id} "
            f"(expected {self.store.lane_by_id[lane_id].lane.sku}), seen by {self.camera_id}",
            image_jpeg_b64=jpeg_b64(rgb, box),
            bbox=list(box) if box is not None else None,
        )

    def annotate(self, rgb: np.ndarray, result: FrameResult) -> np.ndarray:
        """The frame with detections and each lane front's filtered state drawn on it."""
        img = Image.fromarray(rgb)
        draw = ImageDraw.Draw(img)
        state = {s.lane_id: s.state for s in result.statuses}
        for region in self.regions:
            colour = _STATE_COLOUR[state.get(region.id, "unknown")]
            draw.rectangle(region.box, outline=colour, width=2)
            draw.text((region.box[0] + 1, region.box[3] + 1), region.id, fill=colour)
        d = result.detections
        for box, score, cid in zip(d.boxes, d.scores, d.class_ids, strict=True):
            colour = _CLASS_COLOUR[int(cid) % len(_CLASS_COLOUR)]
            draw.rectangle(tuple(float(v) for v in box), outline=colour, width=1)
            name = d.names[int(cid)] if int(cid) < len(d.names) else str(cid)
            draw.text((float(box[0]), max(0.0, float(box[1]) - 10)), f"{name} {score:.2f}", fill=colour)
        return np.asarray(img)
