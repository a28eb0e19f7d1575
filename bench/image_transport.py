"""Benchmark: a 640x480 rgb8 sensor_msgs/Image crossing processes, project profile vs default transports.

Latency is receive time minus the header stamp (both from this machine's clock), over N images
published at 30 Hz by one process and received by another. Run:
    .venv/bin/python bench/image_transport.py [--count 300]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np


def role_pub(count: int, rate: float) -> None:
    import rclpy
    from sensor_msgs.msg import Image

    rclpy.init()
    node = rclpy.create_node("bench_image_pub")
    pub = node.create_publisher(Image, "bench/image", 5)
    deadline = time.monotonic() + 30
    while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)
    time.sleep(1.0)  # let discovery settle on both sides
    data = np.random.default_rng(0).integers(0, 255, 640 * 480 * 3, dtype=np.uint8).tobytes()
    msg = Image(height=480, width=640, encoding="rgb8", step=640 * 3, data=data)
    for _ in range(count):
        now = time.time_ns()
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(now, 1_000_000_000)
        pub.publish(msg)
        time.sleep(1.0 / rate)
    time.sleep(1.0)
    node.destroy_node()
    rclpy.shutdown()


def role_sub(count: int) -> None:
    import rclpy
    from sensor_msgs.msg import Image

    rclpy.init()
    node = rclpy.create_node("bench_image_sub")
    lat: list[float] = []

    def on_image(msg: Image) -> None:
        sent = msg.header.stamp.sec * 1e9 + msg.header.stamp.nanosec
        lat.append((time.time_ns() - sent) / 1e6)

    node.create_subscription(Image, "bench/image", on_image, 5)
    deadline = time.monotonic() + 60 + count / 10
    while len(lat) < count and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.1)
    print(json.dumps(lat))
    node.destroy_node()
    rclpy.shutdown()


def run_pair(env: dict[str, str], count: int, rate: float) -> list[float]:
    sub = subprocess.Popen(
        [sys.executable, __file__, "--role", "sub", "--count", str(count)], env=env, stdout=subprocess.PIPE, text=True
    )
    pub = subprocess.Popen(
        [sys.executable, __file__, "--role", "pub", "--count", str(count), "--rate", str(rate)], env=env
    )
    out, _ = sub.communicate(timeout=300)
    pub.wait(timeout=60)
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--role", choices=("pub", "sub", "main"), default="main")
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--rate", type=float, default=30.0)
    args = ap.parse_args()
    if args.role == "pub":
        return role_pub(args.count, args.rate)
    if args.role == "sub":
        return role_sub(args.count)

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
    from restock.rosenv import claim_domain_id, ros_environment

    domain, _lock = claim_domain_id()
    project = ros_environment(domain)
    default = dict(project)
    default.pop("FASTDDS_DEFAULT_PROFILES_FILE")  # Fast DDS's builtin transports, still LOCALHOST discovery
    print(f"command: {' '.join([sys.executable, *sys.argv])}")
    print(f"{args.count} images 640x480 rgb8 at {args.rate:.0f} Hz, publisher and subscriber in separate processes")
    print(f"{'transport':<34}{'received':>9}{'median ms':>11}{'p90 ms':>9}{'max ms':>9}")
    for label, env in (("project profile (SHM 32 MB + lo UDP)", project), ("Fast DDS default transports", default)):
        lat = np.array(run_pair(env, args.count, args.rate))
        print(f"{label:<34}{len(lat):>9}{np.median(lat):>11.2f}{np.percentile(lat, 90):>9.2f}{lat.max():>9.2f}")


if __name__ == "__main__":
    main()
