"""Teleop latency on loopback: operator target -> PoseStamped (-> JointTrajectory), camera -> browser.

    .venv/bin/python bench/teleop_latency.py [--seconds 10] [--rate 60] [--arm] [--no-browser]

1. Target: a WSS client (the operator) claims the robot and sends controller poses with the grip
   held at --rate; this process's ROS subscriber times each teleop/ee_target PoseStamped from the
   moment its WebSocket message was sent (same clock). With --arm, the sim and the arm controller
   run too and the first JointTrajectory after each target is timed as well (goal: p99 <= 20 ms).
2. Camera: this process publishes 640x480 rgb8 images at --camera-hz (30) stamped at capture (wall clock);
   headless Chromium runs the operator app, which draws each JPEG frame and logs (capture, drawn)
   times; figures: frames drawn per second and median capture-to-drawn latency (goals >= 30 fps,
   <= 50 ms). "Drawn" is after drawImage on the canvas, before the compositor's next vsync.

The bridge runs as its own process (`restock up`), TLS on, on a confined DDS domain.
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from teleop_bridge_process import BridgeProcess, bridge_process, circle_pose, percentiles, take_control  # noqa: E402

from restock.convert import sec_nanosec  # noqa: E402
from restock.testing.browser import CHROMIUM, CHROMIUM_ARGS, log_in, new_page  # noqa: E402

PASSWORD = "bench-password"


async def drive(base: str, ctx: ssl.SSLContext, seconds: float, rate: float, sent: list[float]) -> None:
    import aiohttp

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as http:
        ws = await take_control(http, base, "bench", PASSWORD)
        await asyncio.sleep(0.5)
        n = int(seconds * rate)
        start = time.perf_counter()
        for i in range(n):
            sent.append(time.perf_counter())
            await ws.send_json(circle_pose(i, rate))
            if i % 6 == 0:
                await ws.send_json({"type": "heartbeat"})
            await asyncio.sleep(max(0.0, start + (i + 1) / rate - time.perf_counter()))
        await asyncio.sleep(0.5)
        await ws.send_json({"type": "release"})
        await ws.close()


def camera_to_browser(base: str, node, camera_id: str, seconds: float, hz: float) -> None:
    from playwright.sync_api import sync_playwright
    from sensor_msgs.msg import Image

    from restock import topics

    pub = node.create_publisher(Image, topics.camera_image(camera_id), 2)
    stop = threading.Event()
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (480, 640, 3), dtype=np.uint8) for _ in range(4)]
    for f in frames:  # mostly smooth, like a camera; noise alone would be an unfair JPEG case
        f[:] = (f // 64) * 64

    def publish() -> None:
        i = 0
        period = 1 / hz
        next_t = time.perf_counter()
        while not stop.is_set():
            now = time.time()
            msg = Image(height=480, width=640, encoding="rgb8", step=640 * 3, data=frames[i % 4].tobytes())
            msg.header.stamp.sec, msg.header.stamp.nanosec = sec_nanosec(now)
            pub.publish(msg)
            i += 1
            next_t += period
            time.sleep(max(0.0, next_t - time.perf_counter()))

    thread = threading.Thread(target=publish, daemon=True)
    thread.start()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = new_page(browser)
            log_in(page, base, "bench", PASSWORD)
            deadline = time.monotonic() + 30
            while page.evaluate("window.restockApp.framesShown") < 10:  # not wait_for_function: the CSP forbids eval
                if time.monotonic() > deadline:
                    raise TimeoutError("no camera frames reached the page")
                time.sleep(0.1)
            page.evaluate("window.restockApp.frameLog.length = 0")
            time.sleep(seconds)
            log = page.evaluate("window.restockApp.frameLog")
            browser.close()
    finally:
        stop.set()
        thread.join(2)
    a = np.array(log)
    span = a[-1, 1] - a[0, 1]
    lat = (a[:, 1] - a[:, 0]) * 1000
    print(
        f"camera -> browser: {len(a)} frames in {span:.1f} s = {(len(a) - 1) / span:.1f} fps drawn (published at {hz:g} Hz)"
    )
    print(f"camera -> browser latency (capture -> drawn): {percentiles(list(lat))}")
    print(f"  of which capture -> bridge sent (DDS + JPEG): {percentiles(list((a[:, 2] - a[:, 0]) * 1000))}")
    print(f"  of which bridge sent -> drawn (WSS + decode + draw): {percentiles(list((a[:, 1] - a[:, 2]) * 1000))}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=60.0, help="operator pose messages per second")
    ap.add_argument("--store", default="corner_store.yaml")
    ap.add_argument("--arm", action="store_true", help="also run sim + arm_controller and time JointTrajectory")
    ap.add_argument("--no-browser", action="store_true", help="skip the camera -> browser part")
    ap.add_argument(
        "--camera-hz", type=float, default=30.0, help="camera publishing rate (the bridge streams up to it)"
    )
    args = ap.parse_args(argv)
    print("command:", " ".join([Path(sys.executable).name, *sys.argv]))

    also = ("sim", "arm_controller") if args.arm else ()
    stream_fps = min(60.0, max(30.0, args.camera_hz))
    with bridge_process(
        {"bench": PASSWORD}, also, args.store, "sim" if args.arm else "robot", stream_fps=stream_fps
    ) as bridge:
        return measure(args, bridge)


def measure(args: argparse.Namespace, bridge: BridgeProcess) -> int:
    import rclpy  # after bridge_process set this run's DDS domain
    from geometry_msgs.msg import PoseStamped
    from rclpy.executors import SingleThreadedExecutor
    from trajectory_msgs.msg import JointTrajectory

    from restock import topics

    only = ["teleop_bridge"] + (["sim", "arm_controller"] if args.arm else [])
    rclpy.init()
    node = rclpy.create_node("teleop_bench")
    targets: list[float] = []
    trajectories: list[float] = []
    node.create_subscription(PoseStamped, topics.TELEOP_TARGET, lambda _m: targets.append(time.perf_counter()), 100)
    node.create_subscription(
        JointTrajectory, topics.JOINT_TRAJECTORY, lambda _m: trajectories.append(time.perf_counter()), 100
    )
    executor = SingleThreadedExecutor()
    try:
        bridge.graph.wait_for_nodes(node, only, timeout=90)
        executor.add_node(node)  # after the wait, which spins the node on the global executor
        spin = threading.Thread(target=executor.spin, daemon=True)
        spin.start()
        base = bridge.base
        ctx = ssl.create_default_context(cafile=str(bridge.cafile))
        time.sleep(1.0)  # DDS discovery between this process and the bridge
        sent: list[float] = []
        before_traj = len(trajectories)
        asyncio.run(drive(base, ctx, args.seconds, args.rate, sent))
        time.sleep(0.5)
        if len(targets) != len(sent):
            print(f"warning: {len(sent)} poses sent, {len(targets)} PoseStamped received: matched in order anyway")
        k = min(len(targets), len(sent))
        lat = [(targets[i] - sent[i]) * 1000 for i in range(k)]
        print(f"operator pose (WSS send) -> PoseStamped on {topics.TELEOP_TARGET}: {percentiles(lat)}")
        if args.arm:
            traj = trajectories[before_traj:]
            lat_t, other = [], 0
            for t in traj:  # each trajectory against the pose behind the newest target before it
                i = int(np.searchsorted(np.array(targets), t, side="right")) - 1
                if 0 <= i < len(sent) and t - targets[i] < 0.1:
                    lat_t.append((t - sent[i]) * 1000)
                else:
                    other += 1  # not an answer to a target: a hold or brake (no heartbeat, release)
            if lat_t:
                print(f"operator pose (WSS send) -> JointTrajectory: {percentiles(lat_t)} ({other} others: holds)")
            else:
                print("no JointTrajectory came from the arm controller (is its teleop mode in?)")
        if not args.no_browser:
            from restock.paths import store_file
            from restock.store.description import load_store

            camera_to_browser(
                base, node, load_store(store_file(args.store)).cameras[0].id, args.seconds, args.camera_hz
            )
    finally:
        executor.shutdown(timeout_sec=2)
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
