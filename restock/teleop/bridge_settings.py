"""The teleop bridge node's settings: its parameters declared once, typed (restock.params.setting).

The node declares them from this class and reads a checked instance; the server's configuration
is built from it (:meth:`TeleopBridgeSettings.server_config`).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

from restock.params import NodeSettings, setting
from restock.teleop.server import ServerConfig


@dataclass(frozen=True)
class TeleopBridgeSettings(NodeSettings):
    robot_id: str = setting("robot1", "The robot this bridge serves (operators' robots lists name it)")
    host: str = setting("127.0.0.1", "Address the operator server listens on (0.0.0.0: every interface)")
    port: int = setting(8443, "TCP port of the operator server (0: any free port)", min=0, max=65535)
    plain_http: bool = setting(False, "Serve plain HTTP instead of TLS: refused unless host is loopback")
    tls_cert: str = setting("", "PEM certificate; empty: a self-signed one is made in state_dir/tls")
    tls_key: str = setting("", "PEM private key of tls_cert")
    tls_hosts: tuple[str, ...] = setting(("localhost", "127.0.0.1"), "Names the self-signed certificate covers")
    operators_file: str = setting(
        "operators.yaml",
        "Operators and their scrypt hashes: a path, or a name looked up in ./config, share/restock/config",
    )
    state_dir: str = setting("var/teleop", "Where the audit log, samples and the dev certificate go")
    samples_dir: str = setting("", "Labelled YOLO samples for the next training; empty: state_dir/samples")
    session_ttl_s: float = setting(900.0, "Lifetime of an operator's login token (s)", min=30.0, max=86400.0)
    lease_timeout_s: float = setting(30.0, "A silent operator loses the robot after this (s)", min=1.0, max=3600.0)
    heartbeat_timeout_s: float = setting(0.25, "No heartbeat this long holds the arm (s)", min=0.05, max=2.0)
    max_ws_message_bytes: int = setting(16384, "Larger WebSocket messages close the connection", min=1024, max=1048576)
    max_messages_per_s: float = setting(200.0, "Per-connection message rate; more are dropped", min=10.0, max=5000.0)
    stream_fps: float = setting(30.0, "Camera stream rate to the operator (frames/s)", min=1.0, max=60.0)
    jpeg_quality: int = setting(80, "JPEG quality of the camera stream", min=20, max=95)
    webrtc: bool = setting(True, "Offer the camera stream as a WebRTC video track too (needs aiortc)")
    rtc_bitrate: int = setting(2_000_000, "VP8 bit rate of the WebRTC stream (bits/s)", min=100_000, max=20_000_000)
    translation_scale: float = setting(1.0, "Arm motion per metre of controller motion", min=0.1, max=3.0)
    login_attempts: int = setting(5, "Logins per operator name from one address per window", min=1, max=100)
    login_attempts_per_address: int = setting(30, "Logins from one address per window", min=1, max=1000)
    login_window_s: float = setting(60.0, "The login throttle's window (s)", min=1.0, max=3600.0)
    read_timeout_s: float = setting(10.0, "Request header, body and TLS handshake deadline (s)", min=1.0, max=120.0)
    max_connections: int = setting(256, "Open connections at once, everyone", min=8, max=10000)
    max_connections_per_address: int = setting(32, "Open connections at once, one address", min=2, max=1000)

    # The fleet (issue 19): one outbound WSS link to the fleet service; off while fleet_url is empty.
    fleet_url: tuple[str, ...] = setting(
        (), "Fleet service robot links (wss://HOST:PORT/robot/ws), tried in turn; empty: no fleet link"
    )
    fleet_credential_file: str = setting("", "File holding this robot's fleet credential ROBOT:SECRET")
    fleet_ca_file: str = setting("", "CA certificate the fleet service's is checked against; empty: the system's")
    fleet_status_period_s: float = setting(
        5.0, "How often the robot's status goes to the fleet (wall s)", min=0.5, max=600.0
    )

    def server_config(self, ssl_context: ssl.SSLContext | None) -> ServerConfig:
        """The operator server's configuration (the rest keep ServerConfig's defaults)."""
        return ServerConfig(
            robot_id=self.robot_id,
            host=self.host,
            port=self.port,
            ssl_context=ssl_context,
            session_ttl_s=self.session_ttl_s,
            lease_timeout_s=self.lease_timeout_s,
            heartbeat_timeout_s=self.heartbeat_timeout_s,
            max_ws_message_bytes=self.max_ws_message_bytes,
            max_messages_per_s=self.max_messages_per_s,
            stream_fps=self.stream_fps,
            jpeg_quality=self.jpeg_quality,
            webrtc=self.webrtc,
            rtc_bitrate=self.rtc_bitrate,
            translation_scale=self.translation_scale,
            login_attempts=self.login_attempts,
            login_attempts_per_address=self.login_attempts_per_address,
            login_window_s=self.login_window_s,
            read_timeout_s=self.read_timeout_s,
            body_timeout_s=self.read_timeout_s,
            max_connections=self.max_connections,
            max_connections_per_address=self.max_connections_per_address,
        )
