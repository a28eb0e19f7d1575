"""The recorder node: the key topics into an MCAP file, and optionally a live Foxglove view.

rosbag2 is not installable here, so this node does its job with foxglove-sdk: each topic is
subscribed raw (CDR bytes, no deserialisation) and logged on a channel with its ros2msg schema,
stamped with the node's clock (sim time in simulation). The file opens in Foxglove and in the
mcap / rosbags readers. Camera images are kept once per ``image_period_s`` to bound the size.
Inputs: the topics of ``RECORDED`` below (joint states and trajectories, every record topic,
the back-room alerts and restocks, ground truth, estop) and each camera's image_raw.
Outputs: the MCAP file(s) at ``output_path``; a live Foxglove WebSocket view when enabled. Serves: nothing.
Settings: RecorderSettings (restock.recording.settings), read as ``self.settings``.

With ``split_period_s`` the recording is cut into files at multiples of that period of the node's
clock (86,400: one file per calendar day), as rosbag2's --max-bag-duration does. A week in one file
would also grow the recorder: the MCAP writer keeps every chunk's index (~280 B) in memory until
the file closes, ~1.3 MB per store day.
"""

from __future__ import annotations

import time
from pathlib import Path

import foxglove
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import QoSProfile
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Bool, String
from trajectory_msgs.msg import JointTrajectory
from visualization_msgs.msg import MarkerArray

from restock import topics
from restock.malloc import release_free_memory
from restock.nodes.base import ALERT_QOS, LATCHED_QOS, OK, RECORD_QOS, RestockNode, run_node
from restock.params import param_specs, settings_from
from restock.recording.ros2msg import schema_text, type_name_of
from restock.recording.settings import RecorderSettings

RECORDED: tuple[tuple[str, type, QoSProfile | int], ...] = (
    (topics.JOINT_STATES, JointState, 50),
    (topics.JOINT_TRAJECTORY, JointTrajectory, 10),
    (topics.SHELF_OBSERVATIONS, String, RECORD_QOS),
    (topics.RESTOCK_TASKS, String, RECORD_QOS),
    (topics.TASK_RESULTS, String, RECORD_QOS),
    (topics.HANDOFF_REQUESTS, String, RECORD_QOS),
    (topics.HANDOFF_RESOLUTIONS, String, RECORD_QOS),
    (topics.TELEOP_STATUS, String, LATCHED_QOS),
    (topics.SALES, String, RECORD_QOS),
    # The back room's alerts and staff top-ups: the Foxglove layout's alert panel plays them back.
    (topics.BACKROOM_ALERTS, String, ALERT_QOS),
    (topics.BACKROOM_RESTOCKS, String, RECORD_QOS),
    (topics.SIM_GROUND_TRUTH, String, 10),
    (topics.ESTOP, Bool, LATCHED_QOS),
    (topics.PLAN_MARKERS, MarkerArray, 2),
    (topics.DIAGNOSTICS, DiagnosticArray, 50),
)


class RecorderNode(RestockNode):
    NODE_NAME = "recorder"
    PARAMS = param_specs(RecorderSettings)

    def __init__(self) -> None:
        super().__init__()
        self.settings = settings_from(RecorderSettings, self.p)
        self.store = self.load_store()
        path = Path(self.settings.output_path or f"var/record/restock-{time.strftime('%Y%m%d-%H%M%S')}.mcap")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.kept = keep_earlier_segment(path)
        self.path = path
        self.writer = foxglove.open_mcap(str(path), allow_overwrite=True)
        self.split_ns = round(self.settings.split_period_s * 1e9)
        self._segment_end_ns: int | None = None
        self.segments_closed = 0
        self.server = (
            foxglove.start_server(host="127.0.0.1", port=self.settings.live_port) if self.settings.live_server else None
        )
        self.counts: dict[str, int] = {}
        self._last_image: dict[str, float] = {}
        table = list(RECORDED)
        for cam in self.store.cameras:
            table += [
                (topics.camera_image(cam.id), Image, 2),
                (topics.camera_info(cam.id), CameraInfo, 2),
                (topics.camera_debug_image(cam.id), Image, 2),
            ]
        for topic, msg_type, qos in table:
            self._record(topic, msg_type, qos)
        self.set_health(OK, f"recording {len(table)} topics to {path}", live=bool(self.server))

    def _record(self, topic: str, msg_type: type, qos: QoSProfile | int) -> None:
        type_name = type_name_of(msg_type)
        name = self.resolve_topic_name(topic)
        channel = foxglove.Channel(
            name,
            message_encoding="cdr",
            schema=foxglove.Schema(name=type_name, encoding="ros2msg", data=schema_text(type_name).encode()),
        )
        is_image = msg_type is Image

        def on_raw(data: bytes) -> None:
            now = self.get_clock().now().nanoseconds
            if self.split_ns:
                self._split_at(now)
            if is_image:
                period = self.settings.image_period_s
                if period > 0 and now * 1e-9 - self._last_image.get(name, -1e18) < period:
                    return
                self._last_image[name] = now * 1e-9
            channel.log(data, log_time=now)
            self.counts[name] = self.counts.get(name, 0) + 1

        self.create_subscription(msg_type, topic, on_raw, qos, raw=True)

    def _split_at(self, now_ns: int) -> None:
        """Close the file and start the next one when the clock has passed the segment's end."""
        if now_ns == 0:
            return  # sim time before the first /clock: not a time to cut at
        if self._segment_end_ns is not None:
            if now_ns < self._segment_end_ns:
                return
            self.writer.close()
            done = keep_earlier_segment(self.path)
            release_free_memory()  # the closed file's chunk indexes: many small blocks at once
            self.writer = foxglove.open_mcap(str(self.path), allow_overwrite=True)
            self.segments_closed += 1
            self.get_logger().info(f"recording continues in a new file; the last one is {done}")
            self.set_health(*self._health, segments_closed=self.segments_closed)
        self._segment_end_ns = (now_ns // self.split_ns + 1) * self.split_ns

    def on_shutdown(self) -> None:
        self.writer.close()
        if self.server is not None:
            self.server.stop()


def keep_earlier_segment(path: Path) -> Path | None:
    """A recorder restarted on the same file (after a crash) must not overwrite what its
    predecessor wrote: that file becomes ``<stem>.part<N><suffix>`` (N = 1, 2, ...) and the new
    recording starts afresh at ``path``. Returns where the earlier one went (None: nothing there)."""
    if not path.exists() or path.stat().st_size == 0:
        return None
    for n in range(1, 10_000):
        aside = path.with_name(f"{path.stem}.part{n}{path.suffix}")
        if not aside.exists():
            path.rename(aside)
            return aside
    raise RuntimeError(f"{path}: too many earlier segments")


def main() -> None:
    raise SystemExit(run_node(RecorderNode))


if __name__ == "__main__":
    main()
