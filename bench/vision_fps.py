"""Camera-node frames per second at 640x480 beside the bare ONNX model, on the same frames, in one run.

    .venv/bin/python bench/vision_fps.py [--model restock/vision/models/shelf_detector.onnx] [--frames 60]

Prints the figures and their ratios:
- bare models: ONNX Runtime's session.run of the shelf detector on already letterboxed tensors,
  plus the lane-front classifier's session.run on the frame's already cut lane-front crops
  (nothing else; the detector alone is printed too);
- pipeline: restock.vision.pipeline.CameraPipeline.process on the RGB frames, in this process
  (letterbox, model, NMS, lane mapping, SKU colours, temporal filter, records);
  the two run frame by frame in turn (median time per frame), so both see the same load;
- node: the shelf camera node as its own process on confined DDS, fed the same frames as
  sensor_msgs/Image, so it includes the image crossing processes, the record encoding and
  publishing. Two ways: one at a time (publish, wait for its ShelfObservation, next: latency
  bound), and streaming (the next frame goes out as soon as the node has taken the previous
  one, at most one waiting: the node's sustained frame rate, the figure a camera cares about).
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
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from restock.convert import sec_nanosec  # noqa: E402
from restock.paths import store_file  # noqa: E402
from restock.store.description import load_store  # noqa: E402
from restock.vision.detector import DEFAULT_MODEL, OnnxDetector, letterbox  # noqa: E402
from restock.vision.lane_front import DEFAULT_LANE_FRONT_MODEL, LaneFrontClassifier, crop_fronts  # noqa: E402
from restock.vision.pipeline import CameraPipeline  # noqa: E402

CAMERA = "cam_left"
# The camera node's configured ONNX Runtime threads (config/params/shelf_camera.yaml).
CAMERA_THREADS = int(
    yaml.safe_load((ROOT / "config/params/shelf_camera.yaml").read_text())["/**"]["ros__parameters"]["threads"]
)


def render_frames(n: int, seed: int = 11) -> list[np.ndarray]:
    os.environ.setdefault("MUJOCO_GL", "egl")
    from restock.sim.dataset_render import arrange_scene, clear_scene
    from restock.sim.world import World
    from restock.vision.dataset import SceneConfig

    store = load_store(store_file("corner_store.yaml"))
    world = World(store, seed=seed)
    frames = []
    for k in range(n):
        rng = np.random.default_rng([seed, k])
        scene = arrange_scene(world, store, CAMERA, rng, SceneConfig(p_recolour=0.0))
        frames.append(world.render(CAMERA))
        clear_scene(world, store, scene)
    return frames


def bench_interleaved(
    detector: OnnxDetector, classifier: LaneFrontClassifier | None, frames: list[np.ndarray], repeats: int
) -> tuple[float, float, float]:
    """Bare models and full pipeline, frame by frame in turn, so both see the same machine load.

    Returns frames per second (detector alone, both bare models, pipeline) from the median time
    per frame of each.
    """
    store = load_store(store_file("corner_store.yaml"))
    pipe = CameraPipeline(store, CAMERA, detector, lane_front=classifier)
    tensors = [letterbox(f, detector.input_h, detector.input_w)[0] for f in frames]
    boxes = [r.box for r in pipe.regions]
    crops = [crop_fronts(f, boxes, classifier.size) if classifier else None for f in frames]
    detector.raw(tensors[0])  # warm-up
    pipe.process(frames[0], 0.0, 0.0)
    det, bare, full = [], [], []
    stamp = 0.0
    for _ in range(repeats):
        for f, t, c in zip(frames, tensors, crops, strict=True):
            t0 = time.perf_counter()
            detector.raw(t)
            t1 = time.perf_counter()
            if classifier is not None:
                classifier.classify(c)
            t2 = time.perf_counter()
            stamp += 0.2
            pipe.process(f, stamp, stamp)
            t3 = time.perf_counter()
            det.append(t1 - t0)
            bare.append(t2 - t0)
            full.append(t3 - t2)
    return tuple(1.0 / float(np.median(x)) for x in (det, bare, full))  # type: ignore[return-value]


def bench_node(
    model: Path, lane_front: str, threads: int, frames: list[np.ndarray], repeats: int, domain: int
) -> tuple[float, float]:
    """(one-at-a-time fps, streaming fps) of the camera node process."""
    from restock.rosenv import ros_environment

    env = {**os.environ, **ros_environment(domain), "PYTHONPATH": str(ROOT)}
    os.environ.update(ros_environment(domain))
    import rclpy
    from sensor_msgs.msg import Image
    from std_msgs.msg import String

    from restock import records, topics

    proc = subprocess.Popen(
        [sys.executable, "-m", "restock.nodes.shelf_camera", "--ros-args", "-p", f"camera_id:={CAMERA}",
         "-p", f"model_path:={model}", "-p", f"lane_front_model:={lane_front}", "-p", f"threads:={threads}",
         "-p", "stale_timeout_s:=60.0"],
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

    def publish(m: Image) -> float:
        t_stamp[0] += 0.2
        t = t_stamp[0]
        m.header.stamp.sec, m.header.stamp.nanosec = sec_nanosec(t)
        pub.publish(m)
        return round(t, 3)

    def wait_for(key: float, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while key not in seen and time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.001)
        return key in seen

    def send(m: Image, timeout: float) -> bool:
        return wait_for(publish(m), timeout)

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
        one_at_a_time = n / (time.perf_counter() - t0)
        # Streaming: a frame is always waiting while the node works on one (a new frame goes out
        # each time an observation comes back); the node keeps only the newest, so a frame that
        # arrives while another waits replaces it, as with a real camera. The figure counts
        # observations, not frames sent.
        stream = [m for _ in range(repeats) for m in msgs]
        start = len(seen)
        t0 = time.perf_counter()
        publish(stream[0])
        last_seen, t_last = start, t0
        for m in stream[1:]:
            publish(m)
            deadline = time.monotonic() + 10.0
            while len(seen) == last_seen and time.monotonic() < deadline:
                rclpy.spin_once(node, timeout_sec=0.001)
            if len(seen) == last_seen:
                raise RuntimeError("the camera node stopped answering")
            last_seen, t_last = len(seen), time.perf_counter()
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:  # the last frame's observation
            rclpy.spin_once(node, timeout_sec=0.01)
            if len(seen) > last_seen:
                last_seen, t_last = len(seen), time.perf_counter()
        streaming = (last_seen - start) / (t_last - t0)
        return one_at_a_time, streaming
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
        proc.terminate()
        proc.wait(10)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    ap.add_argument("--lane-front", default=str(DEFAULT_LANE_FRONT_MODEL), help="classifier ONNX, or 'none'")
    ap.add_argument(
        "--threads", type=int, default=CAMERA_THREADS, help="ONNX Runtime threads, bare models and node alike"
    )
    ap.add_argument("--frames", type=int, default=20, help="distinct frames")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--domain", type=int, default=int(os.environ.get("ROS_DOMAIN_ID", "87")))
    ap.add_argument("--no-node", action="store_true", help="skip the node process")
    args = ap.parse_args()
    frames = render_frames(args.frames)
    detector = OnnxDetector(args.model, conf_threshold=0.05, threads=args.threads)
    classifier = None if args.lane_front == "none" else LaneFrontClassifier(Path(args.lane_front), args.threads)
    det, bare, pipe = bench_interleaved(detector, classifier, frames, args.repeats)
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"model: {detector.description}; lane-front classifier: {classifier.path.name if classifier else 'none'}")
    print(f"frames: {len(frames)} x {args.repeats} at 640x480; cpus: {os.cpu_count()}; ORT threads: {args.threads}")
    print(f"bare detector alone:      {det:6.1f} fps ({1000 / det:5.1f} ms/frame)")
    print(f"bare models (both):       {bare:6.1f} fps ({1000 / bare:5.1f} ms/frame)")
    print(f"pipeline in-process:      {pipe:6.1f} fps ({1000 / pipe:5.1f} ms/frame)  overhead x{bare / pipe:.2f}")
    if not args.no_node:
        lane_front = args.lane_front if args.lane_front == "none" else str(Path(args.lane_front).resolve())
        one, stream = bench_node(args.model.resolve(), lane_front, args.threads, frames, args.repeats, args.domain)
        print(f"camera node, one by one:  {one:6.1f} fps ({1000 / one:5.1f} ms/frame)  overhead x{bare / one:.2f}")
        print(
            f"camera node, streaming:   {stream:6.1f} fps ({1000 / stream:5.1f} ms/frame)  overhead x{bare / stream:.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
