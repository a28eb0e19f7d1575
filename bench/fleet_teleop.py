"""Through the fleet service against the direct bridge, in one run on loopback: operator pose ->
JointTrajectory (issue 19's goal: p99 <= 50 ms) and camera -> console (goal: >= 20 frames/s).

    .venv/bin/python bench/fleet_teleop.py [--seconds 10] [--rate 60] [--camera-hz 30]

A throwaway PostgreSQL cluster and one `restock fleet serve` process (HTTPS/WSS); the robot's graph
as processes on a DDS domain of its own (`restock up`: the teleop bridge linked out to the fleet
with its robot credential, the simulator and the arm controller). The same graph is driven twice:
- direct: an operator logs in to the bridge itself, takes the lease and streams poses (grip held)
  with heartbeats at --rate;
- fleet: an operator logs in to the fleet service, claims the robot's handoff there and streams the
  same poses as relayed commands (service -> the robot's link -> the bridge's rules).
Each pose's send is timed to its teleop/ee_target PoseStamped and to the first JointTrajectory after
it, on this process's subscribers (one clock). Camera: this process publishes 640x480 rgb8 frames at
--camera-hz stamped at capture; a viewer of the bridge (its WSS, frame_shown after each frame) and a
viewer of the fleet console's WSS (watching through a relayed watch) each count the frames that
reach them a second and time capture -> received. The viewers are WebSocket clients, not a browser
(decode and draw are bench/teleop_latency.py's).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import ssl
import sys
import tempfile
import threading
import time
from pathlib import Path

import aiohttp
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("MUJOCO_GL", "egl")

from fleet_bench import PASSWORD, fleet_processes  # noqa: E402
from teleop_bridge_process import bridge_process, circle_pose, percentiles  # noqa: E402
from teleop_latency import publish_camera  # noqa: E402

from restock import records, topics  # noqa: E402
from restock.day.operator_stand_in import messages  # noqa: E402
from restock.teleop.protocol import unpack_frame  # noqa: E402

CAMERA = "cam_left"


class RosSide:
    def __init__(self) -> None:
        import rclpy
        from geometry_msgs.msg import PoseStamped
        from rclpy.executors import SingleThreadedExecutor
        from std_msgs.msg import String
        from trajectory_msgs.msg import JointTrajectory

        from restock.nodes.base import RECORD_QOS

        rclpy.init()
        self.node = rclpy.create_node("fleet_teleop_bench")
        self.targets: list[float] = []
        self.trajectories: list[float] = []
        self.node.create_subscription(PoseStamped, topics.TELEOP_TARGET, lambda _: self.targets.append(time.perf_counter()), 100)  # fmt: skip
        self.node.create_subscription(JointTrajectory, topics.JOINT_TRAJECTORY,
                                      lambda _: self.trajectories.append(time.perf_counter()), 100)  # fmt: skip
        self.handoffs = self.node.create_publisher(String, topics.HANDOFF_REQUESTS, RECORD_QOS)
        self.executor = SingleThreadedExecutor()

    def spin(self) -> None:
        """After the graph is up (waiting for it spins the node on rclpy's global executor)."""
        self.executor.add_node(self.node)
        threading.Thread(target=self.executor.spin, daemon=True).start()

    def raise_handoff(self) -> None:
        from std_msgs.msg import String

        request = records.HandoffRequest(
            request_id="bench-1", source="bench", kind="other", stamp=0.0, lane_id="r0_l01"
        )
        self.handoffs.publish(String(data=records.encode(request)))

    def camera(self, hz: float, stop: threading.Event) -> threading.Thread:
        """640x480 rgb8 frames at ``hz`` stamped at capture (the teleop bench's camera)."""
        rng = np.random.default_rng(0)
        base = np.repeat(np.linspace(0, 255, 640, dtype=np.uint8)[None, :, None], 480, axis=0).repeat(3, axis=2)
        frames = [np.clip(base + rng.integers(0, 30, base.shape), 0, 255).astype(np.uint8) for _ in range(8)]
        return publish_camera(self.node, CAMERA, frames, hz, stop)

    def latencies(self, sent: list[float], t0: int, j0: int) -> tuple[list[float], list[float]]:
        """Pose -> PoseStamped (in order) and pose -> the first JointTrajectory after its target (ms)."""
        targets = self.targets[t0:]
        k = min(len(targets), len(sent))
        to_target = [(targets[i] - sent[i]) * 1000 for i in range(k)]
        to_traj = []
        tarr = np.array(targets[:k])
        for t in self.trajectories[j0:]:
            i = int(np.searchsorted(tarr, t, side="right")) - 1
            if 0 <= i < k and t - tarr[i] < 0.1:
                to_traj.append((t - sent[i]) * 1000)
        return to_target, to_traj


async def stream_poses(send, seconds: float, rate: float, sent: list[float]) -> None:  # type: ignore[no-untyped-def]
    n, start = int(seconds * rate), time.perf_counter()
    for i in range(n):
        await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
        sent.append(time.perf_counter())
        await send(circle_pose(i, rate))
        if i % 6 == 0:
            await send({"type": "heartbeat", "seq": i})


async def watch(ws: aiohttp.ClientWebSocketResponse, seconds: float, ack) -> tuple[float, list[float]]:  # type: ignore[no-untyped-def]
    """Frames a second and capture -> received (ms) for ``seconds``."""
    got: list[float] = []
    async for msg in messages(ws, seconds):
        if msg.type == aiohttp.WSMsgType.BINARY:
            _, _, stamps, _ = unpack_frame(msg.data)
            got.append((time.time() - stamps.capture) * 1000)
            await ack(stamps.capture)
        elif msg.type != aiohttp.WSMsgType.TEXT:
            break
    return len(got) / seconds, got


async def login(http: aiohttp.ClientSession, base: str, name: str) -> aiohttp.ClientWebSocketResponse:
    async with http.post(f"{base}/api/login", json={"operator": name, "password": PASSWORD}) as r:
        token = (await r.json())["token"]
    async with http.post(f"{base}/api/ticket", headers={"Authorization": f"Bearer {token}"}) as r:
        ticket = (await r.json())["ticket"]
    return await http.ws_connect(f"{base.replace('https', 'wss')}/ws?ticket={ticket}")


async def run(args: argparse.Namespace, ros: RosSide, bridge: str, bridge_ca: Path, fleet: str, fleet_ssl) -> dict:  # type: ignore[no-untyped-def]
    out: dict = {}
    bctx = ssl.create_default_context(cafile=str(bridge_ca))
    # direct: the bridge's own operator
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=bctx)) as bhttp:
        ws = await login(bhttp, bridge, "bench")
        await ws.send_json({"type": "claim"})
        await asyncio.sleep(0.5)
        sent: list[float] = []
        t0, j0 = len(ros.targets), len(ros.trajectories)
        await stream_poses(ws.send_json, args.seconds, args.rate, sent)
        await asyncio.sleep(0.5)
        out["direct"] = ros.latencies(sent, t0, j0)
        await ws.send_json({"type": "release"})
        await ws.send_json({"type": "watch", "camera_id": CAMERA})
        out["direct camera"] = await watch(
            ws,
            args.seconds,
            lambda capture: ws.send_json({"type": "frame_shown", "capture": capture, "shown": time.time()}),
        )
        await ws.close()
    # fleet: the same robot through the fleet service
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=fleet_ssl)) as fhttp:
        ws = await login(fhttp, fleet, "alice")
        await ws.send_json({"type": "claim"})
        while True:
            msg = await ws.receive_json(timeout=30)
            if msg.get("type") in ("claimed", "error"):
                break
        assert msg["type"] == "claimed", msg

        async def command(body: dict) -> None:
            await ws.send_json({"type": "command", "robot": "ra1", "body": body})

        await command({"type": "claim", "request_id": "bench-1"})
        await asyncio.sleep(0.5)
        sent = []
        t0, j0 = len(ros.targets), len(ros.trajectories)
        await stream_poses(command, args.seconds, args.rate, sent)
        await asyncio.sleep(0.5)
        out["fleet"] = ros.latencies(sent, t0, j0)
        await command({"type": "release"})
        await command({"type": "watch", "camera_id": CAMERA})

        async def nothing(_capture: float) -> None:
            return None  # the fleet service paces its viewers itself (the newest frame wins)

        out["fleet camera"] = await watch(ws, args.seconds, nothing)
        await ws.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=60.0, help="operator poses a second")
    ap.add_argument("--camera-hz", type=float, default=30.0)
    args = ap.parse_args(argv)
    print(f"command: .venv/bin/python bench/fleet_teleop.py --seconds {args.seconds:g} --rate {args.rate:g}"
          f" --camera-hz {args.camera_hz:g}")  # fmt: skip
    with fleet_processes(["ra1"], ["alice"], instances=1) as fleet, tempfile.TemporaryDirectory() as tmp:
        assert fleet.cafile is not None
        credential = Path(tmp) / "robot.credential"
        credential.write_text(fleet.credentials["ra1"] + "\n")
        link = {"robot_id": "ra1", "fleet_url": [f"wss://127.0.0.1:{fleet.ports[0]}/robot/ws"],
                "fleet_credential_file": str(credential), "fleet_ca_file": str(fleet.cafile), "stream_fps": 30.0}  # fmt: skip
        with bridge_process(
            {"bench": PASSWORD}, ("sim", "arm_controller"), "corner_store.yaml", "sim", **link
        ) as bridge:
            stop = threading.Event()
            try:
                ros = RosSide()
                bridge.graph.wait_for_nodes(ros.node, ["teleop_bridge", "sim", "arm_controller"], timeout=90)
                ros.spin()
                import psycopg

                with psycopg.connect(
                    fleet.conninfo, autocommit=True
                ) as conn:  # the handoff the fleet's operator claims
                    while not conn.execute("SELECT 1 FROM handoffs WHERE request_id='bench-1'").fetchall():
                        ros.raise_handoff()
                        time.sleep(0.5)
                ros.camera(args.camera_hz, stop)
                result = asyncio.run(run(args, ros, bridge.base, bridge.cafile, f"https://127.0.0.1:{fleet.ports[0]}",
                                         fleet.ssl))  # fmt: skip
            finally:
                stop.set()
    load = os.getloadavg()[0]
    for path in ("direct", "fleet"):
        target, traj = result[path]
        print(f"{path:>6}: operator pose -> PoseStamped {percentiles(target)}")
        print(f"{path:>6}: operator pose -> JointTrajectory {percentiles(traj)}")
    for path in ("direct", "fleet"):
        fps, lat = result[f"{path} camera"]
        print(f"{path:>6}: camera -> viewer {fps:.1f} frames/s of {args.camera_hz:g} published, capture -> received"
              f" {percentiles(lat)}")  # fmt: skip
    print(f"load average (1 min) at the end: {load:.1f} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
