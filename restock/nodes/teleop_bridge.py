"""The teleop bridge node: handoff requests to a remote operator, the operator's targets back.

Inputs: handoff/requests, cameras/<id>/image_raw, joint_states, arm_controller/results, estop,
planner/backroom_alerts (shown to every operator: a banner and a list), pos/sales (with a fleet link:
what a blocked lane costs).
Outputs: teleop/ee_target, teleop/gripper, teleop/status, handoff/resolutions, estop.
Serves: no ROS service; the operator app over HTTPS + WSS (restock.teleop.server).
Settings: TeleopBridgeSettings (restock.teleop.bridge_settings), read as ``self.settings``.

The operator server (restock.teleop.server: HTTPS + WSS, the operator app) runs on its own
asyncio loop in a thread beside the executor; this node only converts messages at the edge.
With ``fleet_url`` set the bridge also links out to the fleet service (restock.teleop.fleet_side):
the same handoffs, the same rules for the fleet's operators, resolutions from the fleet's queue.
"""

from __future__ import annotations

import logging
import math
import ssl
import time
from collections import deque
from pathlib import Path

from geometry_msgs.msg import PoseStamped
from rclpy.clock import Clock, ClockType
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import Bool, Float64

from restock import records, topics
from restock.convert import CdrImage, ImageFormatError, encode_jpeg, image_from_cdr, rgb8_array, stamp_s
from restock.motion.kinematics import ArmModel
from restock.nodes.base import ALERT_QOS, ERROR, LATCHED_QOS, OK, WARN, RestockNode, run_node
from restock.params import ConfigError, param_specs, settings_from
from restock.paths import config_candidates
from restock.teleop.auth import OperatorBook
from restock.teleop.bridge_settings import TeleopBridgeSettings
from restock.teleop.control import EeTarget
from restock.teleop.fleet_side import FleetSide, SalesRate, read_credential
from restock.teleop.imaging import pick_frame
from restock.teleop.records_out import AuditLog, SampleWriter
from restock.teleop.server import TeleopServer
from restock.teleop.tls import TlsError, is_loopback, self_signed, server_context

# The newest image only: when encoding falls behind the camera, a deeper queue would hand the
# operator frames as old as the queue is deep (4 frames: ~100 ms at 30 Hz, measured). Best effort
# matches both reliable (the sim) and best-effort (camera drivers) publishers.
STREAM_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)


class _RosPort:
    """The server's RobotPort: this node's publishers."""

    def __init__(self, node: TeleopBridgeNode) -> None:
        self.node = node

    def publish_target(self, target: EeTarget) -> None:
        msg = PoseStamped()
        msg.header.frame_id = "store"
        msg.header.stamp = self.node.get_clock().now().to_msg()
        msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = target.position
        q = target.quaternion_xyzw()
        msg.pose.orientation.x, msg.pose.orientation.y, msg.pose.orientation.z, msg.pose.orientation.w = q
        self.node.target_pub.publish(msg)
        self.node.gripper_pub.publish(Float64(data=target.gripper_opening))
        self.node.targets_sent += 1

    def publish_status(self, status: records.TeleopStatus) -> None:
        self.node.publish_status(status)

    def publish_resolution(self, resolution: records.HandoffResolution) -> None:
        self.node.publish_resolution(resolution)

    def publish_estop(self, engaged: bool) -> None:
        self.node.estop_pub.publish(Bool(data=engaged))

    def ros_now(self) -> float:
        return self.node.now_s()


class TeleopBridgeNode(RestockNode):
    NODE_NAME = "teleop_bridge"
    PARAMS = param_specs(TeleopBridgeSettings)

    def __init__(self) -> None:
        super().__init__()
        self.settings = settings_from(TeleopBridgeSettings, self.p)
        self.store = self.load_store()
        self.arm = ArmModel.from_store(self.store)
        self.targets_sent = 0
        self.target_pub = self.create_publisher(PoseStamped, topics.TELEOP_TARGET, 10)
        self.gripper_pub = self.create_publisher(Float64, topics.TELEOP_GRIPPER, 10)
        self.estop_pub = self.create_publisher(Bool, topics.ESTOP, LATCHED_QOS)
        self.publish_status = self.create_record_publisher(topics.TELEOP_STATUS, LATCHED_QOS)
        self.publish_resolution = self.create_record_publisher(topics.HANDOFF_RESOLUTIONS)
        self.server = self._make_server()
        # Recent frames per camera (about half a second): a handoff's training sample uses the very
        # frame its box was found in, named by frame_stamp.
        self._recent: dict[str, deque[tuple[float, CdrImage | Image]]] = {
            c.id: deque(maxlen=16) for c in self.store.cameras
        }
        self._last_joint_push = 0.0
        self._last_result: str = ""
        self.create_record_subscription(records.HandoffRequest, topics.HANDOFF_REQUESTS, self._on_handoff)
        self.create_record_subscription(records.TaskResult, topics.TASK_RESULTS, self._on_result)
        self.create_record_subscription(
            records.BackroomAlert, topics.BACKROOM_ALERTS, self.server.submit_alert, ALERT_QOS
        )
        self.create_subscription(JointState, topics.JOINT_STATES, self._on_joints, 10)
        self.create_subscription(Bool, topics.ESTOP, lambda m: self.server.set_estop(bool(m.data)), LATCHED_QOS)
        # Raw: a frame read in place (restock.convert.image_from_cdr), not built into a message with its
        # 900 kB copied on the executor thread; in lockstep the stamp is read off the message: not raw there.
        for cam in self.store.cameras:
            self.create_subscription(Image, topics.camera_image(cam.id), lambda m, c=cam.id: self._on_image(c, m),
                                     STREAM_QOS, raw=self.lockstep is None)  # fmt: skip
        try:
            port = self.server.start()
        except OSError as err:  # the port is taken, or the host is not an address of this machine
            raise ConfigError(
                f"teleop_bridge: cannot listen on {self.settings.host}:{self.settings.port}: {err.strerror}"
            ) from None
        self.fleet = self._fleet()
        scheme = "http" if self.server.config.ssl_context is None else "https"
        self.url = f"{scheme}://{self.settings.host}:{port}/"
        self.get_logger().info(f"operator app at {self.url} (robot {self.settings.robot_id})")
        if not self.server.operators.operators:
            self.set_health(WARN, f"serving {self.url}, but no operator can log in (no operators file)", url=self.url)
        else:
            self.set_health(OK, f"serving {self.url}", url=self.url)
        self.create_timer(1.0, self._health_values_tick)

    def _make_server(self) -> TeleopServer:
        s = self.settings
        state = Path(s.state_dir)
        if s.plain_http:
            if not is_loopback(s.host):
                raise ConfigError(f"teleop_bridge.plain_http: plain HTTP is allowed on loopback only, not {s.host}")
            ctx = None
        else:
            try:
                if s.tls_cert or s.tls_key:
                    if not (s.tls_cert and s.tls_key):
                        raise ConfigError("teleop_bridge.tls_cert/tls_key: give both or neither")
                    cert, key = Path(s.tls_cert), Path(s.tls_key)
                else:
                    cert, key = self_signed(state / "tls", s.tls_hosts)
                    self.get_logger().warning(f"using a self-signed development certificate {cert}")
                ctx = server_context(cert, key)
            except TlsError as err:
                raise ConfigError(f"teleop_bridge TLS: {err}") from None
        operators = self._operators(s.operators_file)
        config = s.server_config(ctx)
        _route_python_logging(self)
        samples = Path(s.samples_dir) if s.samples_dir else state / "samples"
        sku_kinds = {sku_id: sku.kind for sku_id, sku in self.store.skus.items()}
        return TeleopServer(
            config,
            self.store,
            operators,
            _RosPort(self),
            AuditLog(state / "audit.sqlite"),
            SampleWriter(samples, sku_kinds),
        )

    def _fleet(self) -> FleetSide | None:
        """The outbound link to the fleet service, when configured (started after the server)."""
        s = self.settings
        if not s.fleet_url:
            return None
        from restock.fleet.uplink import FleetUplink, client_context

        try:
            credential = read_credential(Path(s.fleet_credential_file))
            context = client_context(Path(s.fleet_ca_file) if s.fleet_ca_file else None)
        except (OSError, ValueError, ssl.SSLError) as err:
            raise ConfigError(f"teleop_bridge.fleet_credential_file/fleet_ca_file: {err}") from None

        def make(**callbacks: object) -> FleetUplink:
            return FleetUplink(list(s.fleet_url), credential, context, **callbacks)  # type: ignore[arg-type]

        try:
            fleet = FleetSide(self.server, make)
        except ValueError as err:  # not wss://
            raise ConfigError(f"teleop_bridge.fleet_url: {err}") from None
        lanes: dict[str, int] = {}
        for lane in self.store.lanes:
            lanes[lane.lane.sku] = lanes.get(lane.lane.sku, 0) + 1
        self.sales = SalesRate(lanes)
        self.create_record_subscription(records.SaleEvent, topics.SALES, self.sales.add)
        fleet.start()
        # Wall time: the link and the fleet's view live on it, whatever the sim clock does.
        self.create_timer(s.fleet_status_period_s, self._fleet_status, clock=Clock(clock_type=ClockType.STEADY_TIME))
        self.get_logger().info(f"fleet link to {', '.join(s.fleet_url)} as {credential.split(':')[0]}")
        return fleet

    def _fleet_status(self) -> None:
        if self.fleet is not None:
            self.fleet.submit_status({"targets_sent": self.targets_sent, "sim_time": self.now_s()})

    def _operators(self, name: str) -> OperatorBook:
        tried = config_candidates(name)
        path = next((p for p in tried if p.is_file()), None)
        if path is None:
            self.get_logger().error(
                f"no operators file {name!r} (tried {', '.join(str(p) for p in tried)}): nobody can log in. "
                "Copy config/operators.example.yaml to config/operators.yaml and run the bridge from that "
                "folder, or give operators_file a path; make entries with `restock teleop-passwd NAME`"
            )
            return OperatorBook({})
        try:
            book = OperatorBook.load(path)
        except ValueError as err:
            raise ConfigError(str(err)) from None
        self.get_logger().info(f"{len(book.operators)} operators from {path}")
        return book

    # --- inputs -----------------------------------------------------------------------------

    def _on_handoff(self, request: records.HandoffRequest) -> None:
        frame = None
        recent = list(self._recent.get(request.camera_id or "", ()))
        image = pick_frame(recent, request.frame_stamp) if request.bbox is not None else None
        if request.bbox is not None and image is None:
            self.get_logger().warning(
                f"handoff {request.request_id}: frame {request.frame_stamp} of {request.camera_id} is not kept: "
                "the sample will be the crop"
            )
        if image is not None:
            try:
                frame = encode_jpeg(rgb8_array(image.data, image.width, image.height, image.step, image.encoding), 90)
            except ImageFormatError as err:
                self.get_logger().warning(f"no frame kept for handoff {request.request_id}: {err}")
        self.get_logger().info(f"handoff request {request.request_id} ({request.kind}) from {request.source}")
        self.server.submit_handoff(request, frame)
        if self.fleet is not None:
            lane = self.store.lane_by_id.get(request.lane_id or "")
            self.fleet.submit_handoff(request, self.sales.blocked_per_h(lane.lane.sku if lane else None))

    def _on_image(self, camera_id: str, msg: bytes | Image) -> None:
        try:
            image: CdrImage | Image = image_from_cdr(msg) if isinstance(msg, bytes) else msg
            stamp = image.stamp_s if isinstance(image, CdrImage) else stamp_s(image.header.stamp)
            self._recent[camera_id].append((stamp, image))
            if not self.server.wants_frames(camera_id):
                return
            wall = time.time()
            # Latency figures need the capture time on the wall clock; a sim-time stamp is replaced by arrival.
            capture = stamp if abs(wall - stamp) < 10.0 else wall
            pixels = rgb8_array(image.data, image.width, image.height, image.step, image.encoding)
        except ImageFormatError as err:
            self.records_dropped += 1
            self.get_logger().warning(f"dropped an image from {camera_id}: {err}", throttle_duration_sec=10.0)
            return
        self.server.submit_frame(camera_id, pixels, capture, wall)

    def _on_joints(self, msg: JointState) -> None:
        now = time.monotonic()
        if now - self._last_joint_push < 0.1:
            return
        self._last_joint_push = now
        joints = {n: float(p) for n, p in zip(msg.name, msg.position, strict=False) if math.isfinite(p)}
        arm_pose = None
        if all(n in joints for n in self.store.robot.JOINT_NAMES):
            ee = self.arm.forward([joints[n] for n in self.store.robot.JOINT_NAMES])
            if ee.is_finite():
                arm_pose = ((ee.x, ee.y, ee.z), ee.yaw)
        self.server.set_robot_state({"joints": joints, "last_result": self._last_result}, arm_pose)

    def _on_result(self, result: records.TaskResult) -> None:
        self._last_result = f"{result.task_id} {result.outcome}"
        if self.fleet is not None:
            self.fleet.on_result(result)

    def _health_values_tick(self) -> None:
        s = self.server
        level, message = self._health
        if s.loop is None or (s._thread is not None and not s._thread.is_alive()):
            level, message = ERROR, "the operator server stopped"
        self.set_health(
            level,
            message,
            queue=len(s.queue),
            clients=len(s.clients),
            lease=s.rules.holder_name() or "none",
            targets_sent=self.targets_sent,
            refused=sum(v for k, v in s.counters.items() if k != "heartbeat_timeout"),
            password_checks=s.operators.password_checks,  # scrypt runs (bench/teleop_bruteforce.py reads it)
            connections=s.limits.open,
            backroom_alerts=s.alerts.raised,
            frames_encoded=s.streams.frames_encoded,  # one JPEG per streamed frame, however many watch
            fleet="off" if self.fleet is None else ("linked" if self.fleet.connected else "not linked"),
        )

    def on_shutdown(self) -> None:
        if self.fleet is not None:
            self.fleet.stop()
        self.server.stop()
        self.server.audit.close()


def _route_python_logging(node: RestockNode) -> None:
    """The server logs through Python logging; send it to this node's ROS logger."""
    ros = node.get_logger()

    class ToRos(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            text = record.getMessage()
            if record.levelno >= logging.ERROR:
                ros.error(text)
            elif record.levelno >= logging.WARNING:
                ros.warning(text)
            else:
                ros.info(text)

    logger = logging.getLogger("restock.teleop")
    logger.handlers = [ToRos()]
    logger.setLevel(logging.INFO)
    logger.propagate = False


def main() -> None:
    raise SystemExit(run_node(TeleopBridgeNode))


if __name__ == "__main__":
    main()
