"""The shelf camera node (one per camera): frames in, per-lane observations out.

Subscribes: cameras/<id>/image_raw (rgb8 or bgr8), cameras/<id>/camera_info, handoff/resolutions
(an operator's SKU label on an unfamiliar item becomes part of that SKU's look in this store, kept
in ``appearance_path``; while one is asked about, another front of the same SKU waits for it).
Publishes: shelf/observations (ShelfObservation per frame), handoff/requests (once per unfamiliar
item or obstruction incident, with a JPEG crop), cameras/<id>/detections_image (annotated),
diagnostics (fps, latency, model). Serves nothing.
Settings: ShelfCameraSettings (restock.vision.camera_settings), read as ``self.settings``.

All the work is :class:`restock.vision.pipeline.CameraPipeline`; this node converts messages,
keeps time, and reports. A bad frame is logged and dropped; an unusable model leaves the node
up, reporting every lane unknown and an ERROR diagnostic; no frames for ``stale_timeout_s``
(on a steady clock, so a stopped simulator counts) publishes a stale observation with every
lane unknown.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import deque
from pathlib import Path
from typing import NamedTuple

import numpy as np
from rclpy.clock import Clock, ClockType
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image

from restock import records, topics
from restock.convert import CdrImage, ImageFormatError, image_from_cdr, rgb8_array
from restock.malloc import pin_mmap_threshold
from restock.nodes.base import ERROR, OK, WARN, RestockNode, run_node
from restock.params import ConfigError, param_specs, settings_from
from restock.vision.appearance import AppearanceDb, SkuLooks
from restock.vision.camera_settings import ShelfCameraSettings
from restock.vision.detector import RUNTIME_MODEL, DetectorError, OnnxDetector, cameras_model
from restock.vision.lane_front import DEFAULT_LANE_FRONT_MODEL, LaneFrontClassifier
from restock.vision.pipeline import CameraPipeline, PreparedFrame

IMAGE_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)  # newest frame only


class ShelfCameraNode(RestockNode):
    NODE_NAME = "shelf_camera"
    PARAMS = param_specs(ShelfCameraSettings)

    def __init__(self) -> None:
        super().__init__()
        s = self.settings = settings_from(ShelfCameraSettings, self.p)
        self.store = self.load_store()
        camera_id = s.camera_id
        try:
            self.camera = self.store.camera(camera_id)
        except KeyError as err:
            raise ConfigError(f"camera_id: {err.args[0]}") from None
        self.publish_observation = self.create_record_publisher(topics.SHELF_OBSERVATIONS)
        self.publish_handoff = self.create_record_publisher(topics.HANDOFF_REQUESTS)
        self.debug_pub = self.create_publisher(Image, topics.camera_debug_image(self.camera.id), 2)
        model_path = Path(s.model_path or cameras_model())
        if not s.model_path and model_path != RUNTIME_MODEL:
            self.get_logger().warning(
                f"this CPU has no VNNI: ONNX Runtime's INT8 kernels could saturate, running the float model {model_path.name}"
            )
        detector: OnnxDetector | None = None
        self.model_error = ""
        try:
            lowest = min(s.conf_threshold, s.flag_threshold)
            detector = OnnxDetector(model_path, lowest, s.iou_threshold, s.threads)
        except DetectorError as err:
            self.model_error = str(err)
            self.get_logger().error(f"{err}; every lane will be reported unknown")
        lane_front: LaneFrontClassifier | None = None
        if s.lane_front_model != "none":
            try:
                lane_front = LaneFrontClassifier(Path(s.lane_front_model or DEFAULT_LANE_FRONT_MODEL), s.threads)
            except DetectorError as err:
                self.model_error = str(err)
                self.get_logger().error(f"{err}; every lane will be reported unknown")
                detector = None
        try:
            db = AppearanceDb(s.appearance_path, self.store.name) if s.appearance_path else None
            self.looks = SkuLooks(self.store, db)
        except sqlite3.Error as err:
            raise ConfigError(f"appearance_path: {s.appearance_path}: {err}") from None
        self.pipeline = CameraPipeline(
            self.store,
            self.camera.id,
            detector,
            s.filter_config(),
            s.match_config(),
            source=self.get_name(),
            lane_front=lane_front,
            looks=self.looks,
        )
        # A frame (900 kB at 640x480), its copy out of DDS and the detector's input tensor are
        # allocated and freed at the camera's rate: kept on the heap they are reused; as blocks of
        # their own (run_node's policy) each was mapped and faulted in afresh, 2-4 ms of CPU a frame.
        # Their sizes repeat frame after frame, so the heap does not creep.
        frame_bytes = self.camera.width * self.camera.height * 3
        heap_block = min(max(4 << 20, 2 * frame_bytes), 32 << 20)  # 32 MiB: glibc's largest threshold
        pin_mmap_threshold(heap_block, trim_bytes=4 * heap_block)
        self.frames = 0
        self.bad_frames = 0
        self.last_error = ""
        self.guard_reason: str | None = None  # why the storm guard made the last frame's lanes unknown
        self.handoffs = 0
        self.frame_times: deque[float] = deque(maxlen=30)
        self.latency_ms = 0.0
        self.last_frame_steady: float | None = None
        self.stale = False
        self.last_stale_publish = 0.0
        self.skipped_frames = 0
        self._pending: _Arrived | None = None
        self._slot_lock = threading.Lock()
        self._pipeline_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._worker = threading.Thread(target=self._work, name=f"camera-{self.camera.id}", daemon=True)
        self._worker.start()
        # Raw: the serialized frame as bytes, read in place (restock.convert.image_from_cdr) instead of
        # rclpy building a message and copying the pixels into it on the executor thread. In lockstep
        # the frame's stamp is the node's clock (RestockNode reads it off the message): not raw there.
        self.create_subscription(
            Image, topics.camera_image(self.camera.id), self.on_image, IMAGE_QOS, raw=self.lockstep is None
        )
        self.create_subscription(CameraInfo, topics.camera_info(self.camera.id), self.on_camera_info, 2)
        self.create_record_subscription(records.HandoffResolution, topics.HANDOFF_RESOLUTIONS, self.on_resolution)
        self.create_timer(0.25, self.check_stale, clock=Clock(clock_type=ClockType.STEADY_TIME))
        self.started_steady = time.monotonic()
        self.report()

    # --- inputs -------------------------------------------------------------------------

    def on_camera_info(self, msg: CameraInfo) -> None:
        if (msg.width, msg.height) != (self.camera.width, self.camera.height):
            self.last_error = (
                f"camera_info says {msg.width}x{msg.height}, the store calibrates {self.camera.id} "
                f"at {self.camera.width}x{self.camera.height}"
            )

    def on_resolution(self, res: records.HandoffResolution) -> None:
        try:
            with self._pipeline_lock:
                learned = self.looks.resolved(res.request_id, res.action, res.label)
        except sqlite3.Error as err:
            self.last_error = f"appearance database: {err}"
            self.get_logger().error(self.last_error)
            return
        if learned:
            self.get_logger().info(f"{res.label}: an operator's view joins its look ({res.request_id})")

    def on_image(self, msg: bytes | Image) -> None:
        self.last_frame_steady = time.monotonic()
        if self.lockstep is not None:  # the simulator waits for this frame's observation: no skipping
            arrived = self._arrive(msg)
            if arrived is not None:
                with self._pipeline_lock:
                    self.handle_frame(arrived)
            return
        # Only the newest frame matters. The executor thread checks and letterboxes it here while
        # the worker still runs the models on the previous one (ONNX Runtime lets go of the GIL),
        # and parks it for the worker: on two cores the letterbox is then off the models' path.
        arrived = self._arrive(msg)
        if arrived is None:
            return
        with self._slot_lock:
            if self._pending is not None:
                self.skipped_frames += 1
            self._pending = arrived
        self._wake.set()

    def _arrive(self, frame: bytes | Image) -> _Arrived | None:
        """A frame read and, with a detector, letterboxed (stateless: no pipeline lock); None if it is bad."""
        try:
            msg = image_from_cdr(frame) if isinstance(frame, bytes) else _fields(frame)
            rgb = rgb8_array(msg.data, msg.width, msg.height, msg.step, msg.encoding)
            if self.pipeline.detector is None:
                self.pipeline.check_size(rgb)
                return _Arrived(msg, rgb, None)
            return _Arrived(msg, rgb, self.pipeline.prepare(rgb, msg.stamp_s))
        except Exception as err:  # a bad frame, or the letterbox failing, must not end the node
            self._frame_failed(err)
            return None

    def _work(self) -> None:
        while not self._stopping.is_set():
            if not self._wake.wait(0.5):
                continue
            self._wake.clear()
            with self._slot_lock:
                arrived, self._pending = self._pending, None
            if arrived is not None:
                try:
                    with self._pipeline_lock:
                        self.handle_frame(arrived)
                except Exception as err:  # a publish racing shutdown ends the worker quietly
                    if not self._stopping.is_set():
                        self.get_logger().error(f"frame handling failed: {type(err).__name__}: {err}")

    def destroy_node(self) -> None:
        worker = getattr(self, "_worker", None)  # None: a bad store or camera_id stopped __init__ first
        if worker is not None:
            self._stopping.set()
            self._wake.set()
            if worker.is_alive() and threading.current_thread() is not worker:
                worker.join(timeout=5.0)
        super().destroy_node()

    def handle_frame(self, arrived: _Arrived) -> None:
        now_steady = time.monotonic()
        if self.stale:
            self.stale = False
            self.get_logger().info(f"camera {self.camera.id} is sending frames again")
        msg, rgb = arrived.msg, arrived.rgb
        if arrived.prepared is None:  # no detector
            self.publish_observation(self.pipeline.unknown_observation(self.now_s(), msg.stamp_s, stale=False))
            self.report()
            return
        try:
            result = self.pipeline.finish(arrived.prepared, self.now_s())
        except Exception as err:  # the model failing at run time must not take the node down
            self._frame_failed(err)
            return
        self.frames += 1
        self.frame_times.append(now_steady)
        self.latency_ms = result.latency_s * 1000.0
        if result.guard_reason and result.guard_reason != self.guard_reason:
            self.get_logger().warning(f"lanes unknown: {result.guard_reason}", throttle_duration_sec=5.0)
        self.guard_reason = result.guard_reason
        self.publish_observation(result.observation)
        for request in result.handoffs:
            self.handoffs += 1
            self.get_logger().info(f"handoff {request.kind} on lane {request.lane_id}: {request.request_id}")
            self.publish_handoff(request)
        if self.frames % self.settings.debug_every == 0 and self.debug_pub.get_subscription_count() > 0:
            self.debug_pub.publish(self.debug_image(msg, self.pipeline.annotate(rgb, result)))
        self.report()

    def _frame_failed(self, err: Exception) -> None:
        self.bad_frames += 1
        if isinstance(err, DetectorError | ImageFormatError):
            self.last_error = str(err)
            self.get_logger().warning(f"dropped a frame from {self.camera.id}: {err}", throttle_duration_sec=5.0)
        else:
            self.last_error = f"detector failed: {type(err).__name__}: {err}"
            self.get_logger().error(self.last_error, throttle_duration_sec=5.0)
        self.report()

    def debug_image(self, src: CdrImage, rgb) -> Image:
        out = Image()
        out.header.stamp.sec, out.header.stamp.nanosec = src.sec, src.nanosec
        out.header.frame_id = src.frame_id
        out.height, out.width = rgb.shape[:2]
        out.encoding = "rgb8"
        out.step = out.width * 3
        out.data = rgb.tobytes()
        return out

    # --- staleness and health -----------------------------------------------------------

    def check_stale(self) -> None:
        if self.lockstep is not None:
            return  # the simulator waits for us: a pause in wall time is not a missing camera
        timeout = self.settings.stale_timeout_s
        since = self.last_frame_steady if self.last_frame_steady is not None else self.started_steady
        if time.monotonic() - since <= timeout:
            return
        now = time.monotonic()
        if not self.stale:
            self.get_logger().warning(f"camera {self.camera.id}: no frame for {timeout} s; its lanes are unknown")
        elif now - self.last_stale_publish < 1.0:
            return  # while stale, say so once a second
        self.stale = True
        self.last_stale_publish = now
        with self._pipeline_lock:
            observation = self.pipeline.unknown_observation(self.now_s(), self.now_s(), stale=True)
        self.publish_observation(observation)
        self.report()

    def report(self) -> None:
        fps = 0.0
        if len(self.frame_times) >= 2 and self.frame_times[-1] > self.frame_times[0]:
            fps = (len(self.frame_times) - 1) / (self.frame_times[-1] - self.frame_times[0])
        values = {
            "camera": self.camera.id,
            "model": self.pipeline.detector.description if self.pipeline.detector else "none",
            "lane_front_model": self.pipeline.lane_front.path.name if self.pipeline.lane_front else "none",
            "fps": f"{fps:.1f}",
            "latency_ms": f"{self.latency_ms:.1f}",
            "frames": self.frames,
            "bad_frames": self.bad_frames,
            "skipped_frames": self.skipped_frames,
            "handoffs": self.handoffs,
            "lanes": len(self.pipeline.lane_ids),
            "confirmed_looks": sum(self.looks.confirmed.values()),
            "last_error": self.last_error,
        }
        if self.model_error:
            self.set_health(ERROR, f"no detector: {self.model_error}", **values)
        elif self.stale:
            self.set_health(WARN, f"camera {self.camera.id} stale: no frame; lanes unknown", **values)
        elif self.frames == 0:
            self.set_health(WARN, "waiting for frames", **values)
        elif self.guard_reason:
            self.set_health(WARN, f"lanes unknown: {self.guard_reason}", **values)
        else:
            self.set_health(OK, f"{fps:.1f} fps, {self.latency_ms:.0f} ms", **values)


class _Arrived(NamedTuple):
    """A frame as the executor thread hands it to the worker."""

    msg: CdrImage
    rgb: np.ndarray
    prepared: PreparedFrame | None  # None: no detector (the node reports every lane unknown)


def _fields(msg: Image) -> CdrImage:
    """A deserialized Image's fields as the raw path reads them."""
    stamp = msg.header.stamp
    data = memoryview(msg.data).cast("B")
    return CdrImage(stamp.sec, stamp.nanosec, msg.header.frame_id, msg.height, msg.width, msg.encoding, msg.step, data)


def main() -> None:
    raise SystemExit(run_node(ShelfCameraNode))


if __name__ == "__main__":
    main()
