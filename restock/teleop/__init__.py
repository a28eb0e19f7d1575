"""What a remote person touches: the operator server, its session rules and the operator app.

- auth: operators' scrypt hashes, session tokens (expiry, logout), one-time WebSocket tickets, login throttle
- session: the robot's lease (one operator per robot, one robot per operator) and the handoff queue
- protocol: the app's WebSocket messages, validated; the per-connection rate limit; the camera frame header
- control: controller pose + grip (deadman) + heartbeat -> end-effector targets in the store frame
- records_out: the audit log (SQLite) and labelled YOLO samples for the next detector training
- tls: certificate from config or a self-signed development one; imaging: camera images to JPEG
- server: the aiohttp HTTPS + WSS server on its own loop; web/: the WebXR + desktop operator app

No rclpy here: restock/nodes/teleop_bridge.py is the ROS door.
"""
