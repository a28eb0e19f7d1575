"""What a remote person touches: the operator server, its session rules and the operator app.

- rules: the teleop rules as a synchronous core (claim, release, lease, resolve, e-stop, pose), no sockets
- auth: operators' scrypt hashes, session tokens (expiry, logout), one-time WebSocket tickets, login throttle
- login: a login under attack (attempts counted before scrypt, scrypt on a small pool)
- session: the robot's lease (one operator per robot, one robot per operator) and the handoff queue
- protocol: the app's WebSocket messages, validated; bounded JSON; the rate limit; the camera frame header
- control: controller pose + grip (deadman) + heartbeat -> end-effector targets in the store frame
- records_out: the audit log (SQLite, refusals within a budget) and labelled YOLO samples for training
- guard: connection deadlines and caps, the same headers on every response, one-line server errors
- connection: one operator's WebSocket (message budget, newest-frame camera stream)
- tls: certificate from config or a self-signed development one; imaging: camera images to JPEG
- server: the aiohttp HTTPS + WSS server on its own loop (transport only); web/: the WebXR + desktop app

No rclpy here: the teleop bridge node (nodes/teleop_bridge.py) is the ROS door.
"""
