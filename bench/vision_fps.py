"""Camera-node frames per second at 640x480 beside the bare ONNX model, on the same frames, in one run.

    .venv/bin/python bench/vision_fps.py [--model restock/vision/models/shelf_detector_int8.onnx] [--frames 20]
        [--reference restock/vision/models/shelf_detector.onnx | none] [--rounds 3]

Prints the figures and their ratios:
- bare models: ONNX Runtime's session.run of the shelf detector the cameras run (``--model``, by
  default the shipped INT8 one at 416x320) on already letterboxed tensors, plus the lane-front
  classifier's session.run on the frame's already cut lane-front crops (nothing else; the detector
  alone is printed too). The float32 416x416 detector it was made from (``--reference``) is timed
  the same way in the same loop, for reference;
- pipeline: restock.vision.pipeline.CameraPipeline.process on the RGB frames, in this process
  (letterbox, model, NMS, lane mapping, SKU colours, temporal filter, records);
  the two run frame by frame in turn (median time per frame), so both see the same load;
- node: the shelf camera node as its own process on confined DDS, fed the same frames as
  sensor_msgs/Image, so it includes the image crossing processes, the record encoding and
  publishing. The frames are serialised once beforehand and published raw with their stamps
  written in place: on two cores the publishing process competes with the node, and a camera
  driver (another process on a robot) fills a buffer and publishes it, no Python message to
  convert. Two ways: one at a time (publish, wait for its ShelfObservation, next: latency
  bound), and streaming (the next frame goes out as soon as the node has taken the previous
  one, at most one waiting: the node's sustained frame rate, the figure a camera cares about).
  The node is started ``--rounds`` times; each figure is the median over rounds. The driver
  waits for observations in its own executor's ``spin_once`` calls that return as soon as one
  arrives (a camera driver does not poll), so its own CPU use stays off the two cores the node
  shares with it.
- CPU time per frame (all threads) of the bare models, the pipeline and the node process while
  streaming (and its three busiest threads, and the publishing process's): on a machine shared
  with other work the frame rates fall with its load, the CPU a frame costs much less so.
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
from restock.vision.detector import DEFAULT_MODEL, RUNTIME_MODEL, OnnxDetector, letterbox  # noqa: E402
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
    detector: OnnxDetector,
    classifier: LaneFrontClassifier | None,
    frames: list[np.ndarray],
    repeats: int,
    reference: OnnxDetector | None = None,
) -> dict[str, float]:
    """Bare models and full pipeline (and the reference detector), frame by frame in turn, so all
    see the same machine load.

    Returns frames per second from the median time per frame of each: ``det`` (detector alone),
    ``bare`` (both models), ``pipe`` (pipeline), ``ref_det`` and ``ref_bare`` (reference detector
    alone, and with the classifier's time on the same frame) when there is a reference; and the
    mean CPU time per frame (all threads) of the bare models and of the pipeline, ``*_cpu_ms``.
    """
    store = load_store(store_file("corner_store.yaml"))
    pipe = CameraPipeline(store, CAMERA, detector, lane_front=classifier)
    tensors = [letterbox(f, detector.input_h, detector.input_w)[0] for f in frames]
    ref_tensors = [letterbox(f, reference.input_h, reference.input_w)[0] for f in frames] if reference else None
    boxes = [r.box for r in pipe.regions]
    crops = [crop_fronts(f, boxes, classifier.size) if classifier else None for f in frames]
    detector.raw(tensors[0])  # warm-up
    if reference is not None and ref_tensors is not None:
        reference.raw(ref_tensors[0])
    pipe.process(frames[0], 0.0, 0.0)
    times: dict[str, list[float]] = {"det": [], "bare": [], "pipe": [], "ref_det": [], "ref_bare": []}
    cpu = {"bare": 0.0, "pipe": 0.0}
    stamp = 0.0
    for _ in range(repeats):
        for k, (f, t, c) in enumerate(zip(frames, tensors, crops, strict=True)):
            c0, t0 = time.process_time(), time.perf_counter()
            detector.raw(t)
            t1 = time.perf_counter()
            if classifier is not None:
                classifier.classify(c)
            c2, t2 = time.process_time(), time.perf_counter()
            stamp += 0.2
            pipe.process(f, stamp, stamp)
            c3, t3 = time.process_time(), time.perf_counter()
            times["det"].append(t1 - t0)
            times["bare"].append(t2 - t0)
            times["pipe"].append(t3 - t2)
            cpu["bare"] += c2 - c0
            cpu["pipe"] += c3 - c2
            if reference is not None and ref_tensors is not None:
                t4 = time.perf_counter()
                reference.raw(ref_tensors[k])
                ref = time.perf_counter() - t4
                times["ref_det"].append(ref)
                times["ref_bare"].append(ref + (t2 - t1))
    fps = {key: 1.0 / float(np.median(x)) for key, x in times.items() if x}
    n = len(times["bare"])
    return fps | {"bare_cpu_ms": cpu["bare"] / n * 1e3, "pipe_cpu_ms": cpu["pipe"] / n * 1e3}


def set_cdr_stamp(serialized: bytearray, sec: int, nanosec: int) -> None:
    """Write a header stamp into a serialised message whose first field is its header (an Image)."""
    order = "little" if serialized[1] & 1 else "big"  # the encapsulation id: odd is little-endian CDR
    serialized[4:8] = sec.to_bytes(4, order, signed=True)
    serialized[8:12] = nanosec.to_bytes(4, order)


def bench_node(
    model: Path, lane_front: str, threads: int, frames: list[np.ndarray], repeats: int, domain: int
) -> tuple[float, ...]:
    """One-at-a-time fps and streaming fps of the camera node process, then CPU ms per frame while
    streaming: the node process, its three busiest threads, and this (publishing) process."""
    import psutil

    from restock.rosenv import ros_environment

    env = {**os.environ, **ros_environment(domain), "PYTHONPATH": str(ROOT)}
    os.environ.update(ros_environment(domain))
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.serialization import serialize_message
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
    executor = SingleThreadedExecutor()  # one for the run: rclpy.spin_once would add and remove the node each call
    executor.add_node(node)
    pub = node.create_publisher(Image, topics.camera_image(CAMERA), 2)
    msgs = []
    for f in frames:
        m = Image()
        m.height, m.width, m.encoding, m.step = f.shape[0], f.shape[1], "rgb8", f.shape[1] * 3
        m.data = f.tobytes()
        msgs.append(bytearray(serialize_message(m)))
    t_stamp = [1000.0]

    def publish(m: bytearray) -> float:
        t_stamp[0] += 0.2
        t = t_stamp[0]
        set_cdr_stamp(m, *sec_nanosec(t))
        pub.publish(bytes(m))  # raw: the serialised frame as it is
        return round(t, 3)

    def wait_for(key: float, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while key not in seen and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)  # returns as soon as an observation comes
        return key in seen

    def send(m: bytearray, timeout: float) -> bool:
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
        node_proc = psutil.Process(proc.pid)
        node_cpu, node_threads = node_proc.cpu_times(), {t.id: t.user_time + t.system_time for t in node_proc.threads()}
        own_cpu = time.process_time()
        t0 = time.perf_counter()
        publish(stream[0])
        last_seen, t_last = start, t0
        for m in stream[1:]:
            publish(m)
            deadline = time.monotonic() + 10.0
            while len(seen) == last_seen and time.monotonic() < deadline:
                executor.spin_once(timeout_sec=0.05)
            if len(seen) == last_seen:
                raise RuntimeError("the camera node stopped answering")
            last_seen, t_last = len(seen), time.perf_counter()
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:  # the last frame's observation
            executor.spin_once(timeout_sec=0.01)
            if len(seen) > last_seen:
                last_seen, t_last = len(seen), time.perf_counter()
        streaming = (last_seen - start) / (t_last - t0)
        end_cpu, frames_seen = node_proc.cpu_times(), last_seen - start
        own_ms = (time.process_time() - own_cpu) / frames_seen * 1e3
        cpu_ms = (end_cpu.user + end_cpu.system - node_cpu.user - node_cpu.system) / frames_seen * 1e3
        # The busiest thread is the worker (detector, NMS, lanes, publishing): the node's critical
        # path. The next two are the classifier's and the executor's (taking frames off DDS and
        # letterboxing them), on the other core.
        busiest = sorted(
            (t.user_time + t.system_time - node_threads.get(t.id, 0.0) for t in node_proc.threads()), reverse=True
        )
        top = [ms / frames_seen * 1e3 for ms in [*busiest, 0.0, 0.0][:3]]
        return one_at_a_time, streaming, cpu_ms, *top, own_ms
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
        proc.terminate()
        proc.wait(10)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, default=RUNTIME_MODEL, help="the detector the cameras run")
    ap.add_argument("--reference", default=str(DEFAULT_MODEL), help="a detector timed alongside, or 'none'")
    ap.add_argument("--lane-front", default=str(DEFAULT_LANE_FRONT_MODEL), help="classifier ONNX, or 'none'")
    ap.add_argument(
        "--threads", type=int, default=CAMERA_THREADS, help="ONNX Runtime threads, bare models and node alike"
    )
    ap.add_argument("--frames", type=int, default=20, help="distinct frames")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3, help="node processes started, one after the other")
    ap.add_argument("--domain", type=int, default=int(os.environ.get("ROS_DOMAIN_ID", "87")))
    ap.add_argument("--no-node", action="store_true", help="skip the node process")
    args = ap.parse_args()
    frames = render_frames(args.frames)
    detector = OnnxDetector(args.model, conf_threshold=0.05, threads=args.threads)
    reference = None if args.reference == "none" else OnnxDetector(Path(args.reference), 0.05, threads=args.threads)
    classifier = None if args.lane_front == "none" else LaneFrontClassifier(Path(args.lane_front), args.threads)
    fps = bench_interleaved(detector, classifier, frames, args.repeats, reference)
    det, bare, pipe = fps["det"], fps["bare"], fps["pipe"]
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"model: {detector.description}; lane-front classifier: {classifier.path.name if classifier else 'none'}")
    print(f"frames: {len(frames)} x {args.repeats} at 640x480; cpus: {os.cpu_count()}; ORT threads: {args.threads}")
    if reference is not None:
        ref_det, ref_bare = fps["ref_det"], fps["ref_bare"]
        print(f"reference {reference.description}:")
        print(f"  bare detector alone:    {ref_det:6.1f} fps ({1000 / ref_det:5.1f} ms/frame)")
        print(f"  bare models (both):     {ref_bare:6.1f} fps ({1000 / ref_bare:5.1f} ms/frame)")
    print(f"bare detector alone:      {det:6.1f} fps ({1000 / det:5.1f} ms/frame)")
    print(f"bare models (both):       {bare:6.1f} fps ({1000 / bare:5.1f} ms/frame)")
    print(f"pipeline in-process:      {pipe:6.1f} fps ({1000 / pipe:5.1f} ms/frame)  overhead x{bare / pipe:.2f}")
    bare_cpu, pipe_cpu = fps["bare_cpu_ms"], fps["pipe_cpu_ms"]
    print(
        f"CPU per frame, all threads: bare models {bare_cpu:5.1f} ms, pipeline {pipe_cpu:5.1f} ms (x{pipe_cpu / bare_cpu:.2f})"
    )
    if not args.no_node:
        lane_front = args.lane_front if args.lane_front == "none" else str(Path(args.lane_front).resolve())
        runs = [
            bench_node(args.model.resolve(), lane_front, args.threads, frames, args.repeats, args.domain)
            for _ in range(args.rounds)
        ]
        one, stream, node_cpu, worker_cpu, second_cpu, third_cpu, own_cpu = (
            float(np.median(x)) for x in zip(*runs, strict=True)
        )
        spread = ", ".join(f"{run[1]:.1f}" for run in runs)
        print(f"camera node, one by one:  {one:6.1f} fps ({1000 / one:5.1f} ms/frame)  overhead x{bare / one:.2f}")
        print(
            f"camera node, streaming:   {stream:6.1f} fps ({1000 / stream:5.1f} ms/frame)  overhead x{bare / stream:.2f}"
            f"  (rounds: {spread})"
        )
        print(
            f"camera node CPU per frame, streaming: all its threads {node_cpu:5.1f} ms (x{node_cpu / bare_cpu:.2f} the"
            f" bare models'), its busiest thread {worker_cpu:5.1f} ms (x{worker_cpu / bare_cpu:.2f}), the next two"
            f" {second_cpu:.1f} and {third_cpu:.1f} ms; the publishing process {own_cpu:.1f} ms"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
