"""Camera-node frames per second at 640x480 beside the bare ONNX model, on the same frames, in one run.

    .venv/bin/python bench/vision_fps.py [--model restock/vision/models/shelf_detector.onnx] [--frames 60]

Prints three figures and their ratios:
- bare model: ONNX Runtime's session.run on already letterboxed tensors (nothing else);
- pipeline: restock.vision.pipeline.CameraPipeline.process on the RGB frames, in this process
  (letterbox, model, NMS, lane mapping, SKU colours, temporal filter, records);
  the two run frame by frame in turn (median time per frame), so both see the same load;
- node: the shelf camera node as its own process on confined DDS, fed the same frames as
  sensor_msgs/Image one at a time (publish, wait for its ShelfObservation, next), so it
  includes the image crossing processes, the record encoding and publishing.
The frames are simulator renders of the corner store (cam_left) with random fill and events.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from restock.paths import store_file  # noqa: E402
from restock.store.description import load_store  # noqa: E402
from restock.vision.detector import DEFAULT_MODEL, OnnxDetector, letterbox  # noqa: E402
from restock.vision.pipeline import CameraPipeline  # noqa: E402

CAMERA = "cam_left"


def render_frames(n: int, seed: int = 11) -> list[np.ndarray]:
    os.environ.setdefault("MUJOCO_GL", "egl")
    from restock.sim.world import World
    from restock.vision.dataset import SceneConfig, arrange_scene, clear_scene

    store = load_store(store_file("corner_store.yaml"))
    world = World(store, seed=seed)
    frames = []
    for k in range(n):
        rng = np.random.default_rng([seed, k])
        scene = arrange_scene(world, store, CAMERA, rng, SceneConfig(p_recolour=0.0))
        frames.append(world.render(CAMERA))
        clear_scene(world, store, scene)
    return frames


def bench_interleaved(detector: OnnxDetector, frames: list[np.ndarray], repeats: int) -> tuple[float, float]:
    """Bare model and full pipeline, frame by frame in turn, so both see the same machine load.

    Returns frames per second from the median time per frame of each.
    """
    store = load_store(store_file("corner_store.yaml"))
    pipe = CameraPipeline(store, CAMERA, detector)
    tensors = [letterbox(f, detector.input_h, detector.input_w)[0] for f in frames]
    detector.raw(tensors[0])  # warm-up
    pipe.process(frames[0], 0.0, 0.0)
    bare, full = [], []
    stamp = 0.0
    for _ in range(repeats):
        for f, t in zip(frames, tensors, strict=True):
            t0 = time.perf_counter()
            detector.raw(t)
            t1 = time.perf_counter()
            stamp += 0.2
            pipe.process(f, stamp, stamp)
            t2 = time.perf_counter()
            bare.append(t1 - t0)
            full.append(t2 - t1)
    return 1.0 / float(np.median(bare)), 1.0 / float(np.median(full))


def bench_node(model: Path, frames: list[np.ndarray], repeats: int, domain: int) -> float:
    from restock.rosenv import ros_environment

    env = {**os.environ, **ros_environment(domain), "PYTHONPATH": str(ROOT)}
    os.environ.update(ros_environment(domain))
    import rclpy
    from builtin_interfaces.msg import Time
    from sensor_msgs.msg import Image
    from std_msgs.msg import String

    from restock import records, topics

    proc = subprocess.Popen(
        [sys.executable, "-m", "restock.nodes.shelf_camera", "--ros-args", "-p", f"camera_id:={CAMERA}",
         "-p", f"model_path:={model}", "-p", "stale_timeout_s:=60.0"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    rclpy.init()
    node = rclpy.create_node("bench_vision_fps")
    seen: set[float] = set()

    def on_obs(msg: String) -> None:
        obs = records.decode(msg.data, records.ShelfObservation)
        if not obs.stale:
            seen.add(round(obs.frame_stamp, 3))

    node.create_subscription(String, topics.SHELF_OBSERVATIONS, on_obs, 50)
    pub = node.create_publisher(Image, topics.camera_image(CAMERA), 2)
    msgs = []
    for f in frames:
        m = Image()
        m.height, m.width, m.encoding, m.step = f.shape[0], f.shape[1], "rgb8", f.shape[1] * 3
        m.data = f.tobytes()
        msgs.append(m)
    t_stamp = [1000.0]

    def send(m: Image, timeout: float) -> bool:
        t_stamp[0] += 0.2
        t = t_stamp[0]
        m.header.stamp = Time(sec=int(t), nanosec=round((t % 1) * 1e9))
        pub.publish(m)
        key = round(t, 3)
        deadline = time.monotonic() + timeout
        while key not in seen and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.01)
        return key in seen

    try:
        deadline = time.monotonic() + 120
        while not send(msgs[0], 2.0):  # until the node is up and matched
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the camera node did not answer")
        for m in msgs[:3]:
            send(m, 10.0)
        t0 = time.perf_counter()
        n = 0
        for _ in range(repeats):
            for m in msgs:
                if not send(m, 10.0):
                    raise RuntimeError("the camera node stopped answering")
                n += 1
        return n / (time.perf_counter() - t0)
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
        proc.terminate()
        proc.wait(10)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    ap.add_argument("--frames", type=int, default=20, help="distinct frames")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--domain", type=int, default=int(os.environ.get("ROS_DOMAIN_ID", "87")))
    ap.add_argument("--no-node", action="store_true", help="skip the node process")
    args = ap.parse_args()
    frames = render_frames(args.frames)
    detector = OnnxDetector(args.model, conf_threshold=0.05)
    bare, pipe = bench_interleaved(detector, frames, args.repeats)
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"model: {detector.description}; frames: {len(frames)} x {args.repeats} at 640x480; cpus: {os.cpu_count()}")
    print(f"bare ONNX model:     {bare:6.1f} fps ({1000 / bare:5.1f} ms/frame)")
    print(f"pipeline in-process: {pipe:6.1f} fps ({1000 / pipe:5.1f} ms/frame)  overhead x{bare / pipe:.2f}")
    if not args.no_node:
        node = bench_node(args.model.resolve(), frames, args.repeats, args.domain)
        print(f"camera node (DDS):   {node:6.1f} fps ({1000 / node:5.1f} ms/frame)  overhead x{bare / node:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
