"""Teleop latency on loopback: operator target -> PoseStamped (-> JointTrajectory), camera -> browser.

    .venv/bin/python bench/teleop_latency.py [--seconds 10] [--rate 60] [--arm] [--no-browser] [--no-pose]
        [--scenarios desktop:1:frames,desktop:1:webrtc,xr:1:frames,xr:1:webrtc,desktop:2:frames,desktop:2:webrtc]
        [--xr-window 1280x720] [--rounds 1] [--before REV] [--xr-harness] [--browser-cpus 1]

1. Target: a WSS client (the operator) claims the robot and sends controller poses with the grip
   held at --rate; this process's ROS subscriber times each teleop/ee_target PoseStamped from the
   moment its WebSocket message was sent (same clock). With --arm, the sim and the arm controller
   run too and the first JointTrajectory after each target is timed as well (goal: p99 <= 20 ms).
2. Camera: this process publishes 640x480 rgb8 images at --camera-hz (30), stamped at capture
   (wall clock): the store's first camera rendered by the simulator, with a dark bar (the arm)
   crossing it and a little noise. Headless Chromium runs the operator app, one page per viewer,
   for each scenario: the desktop page or the WebXR session (iwer's emulated Quest 3), 1 or 2
   viewers (operators; `desktop:2:frames:2` puts them in two Chromiums, not two pages of one), and
   the stream's path: JPEG frames on the TLS WebSocket ("frames") or a WebRTC VP8 track ("webrtc").
   Each drawn frame carries its stage times (bridge: capture, received, encoded, sent; page:
   arrived, decoded, taken on its main thread, drawn; in XR also the XR frame's start and the texture
   upload's end); figures:
   frames drawn per second, capture -> drawn percentiles and each stage's, JPEG/VP8 encodes per
   camera frame (1.00: once for all viewers), the CPU the bridge and the browser used (by Chromium
   process: gpu is the software GL and compositor, renderer the pages), in XR the frame callback's
   own time, and the load average (a busy machine shows in every stage). Goals: >= 30 fps drawn, capture -> drawn p99 <= 50 ms. "Drawn"
   is after the canvas draw (frames), when the <video> hands the frame to the compositor
   (WebRTC on the desktop), or after the texture upload and draw in the XR frame callback (XR);
   all before the compositor's next vsync. First line: PSNR and size of both encodings on the
   same frames (equal image quality). In XR a frame replaced by a newer one before an XR frame drew
   it counts as dropped in the page.
3. --rounds N runs every scenario N times in turn and prints medians; --before REV runs each also
   with the operator app's scripts of git revision REV (served to those pages in place of the
   bridge's; before and now alternate, which goes first swapped every round): the page's changes
   measured interleaved in one run. --xr-harness first measures the emulated headset alone: an
   immersive session whose XR frames draw nothing (what the software GL and the page's compositor
   cost per XR frame, and how late a 4 ms timer fires on the page's main thread in it).
   --browser-cpus 1 puts the browsers on CPU 1 and the bridge and the camera on the others (the
   operator's device and the robot on processors of their own; by default they share them all).

The bridge runs as its own process (`restock up`), TLS on, on a confined DDS domain.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import itertools
import os
import ssl
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("MUJOCO_GL", "egl")  # the camera's picture is rendered
sys.path.insert(0, str(ROOT))

from teleop_bridge_process import BridgeProcess, bridge_process, circle_pose, percentiles, take_control  # noqa: E402

from restock.convert import sec_nanosec  # noqa: E402
from restock.testing.browser import CHROMIUM, CHROMIUM_ARGS, INSTALL_QUEST3, IWER, log_in, new_page  # noqa: E402

PASSWORD = "bench-password"
PATHS = ("frames", "webrtc")
JPEG_QUALITY = 80  # the bridge's defaults (ServerConfig), set again here so the quality line names them
RTC_BITRATE = 2_000_000


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


# The stamps of a frame's trip in the order they happen, as the app logs them (restock/teleop/web/app/
# main.js frameLog; in XR xr.js adds its own): a frame has those of its path and view.
STAMPS = ("capture", "received", "encoded", "sent", "arrived", "decoded", "taken", "uploaded", "xrFrame", "drawn")
STAGE_NAMES = {
    ("capture", "received"): "capture -> bridge received (DDS)",
    ("received", "encoded"): "received -> encoded (JPEG or VP8, once for all viewers)",
    ("encoded", "sent"): "encoded -> sent (bridge: JPEG waits for the viewer's last frame; VP8 for aiortc)",
    ("sent", "arrived"): "sent -> arrived (TLS WebSocket / SRTP)",
    ("arrived", "decoded"): "arrived -> decoded (JPEG in a worker / WebRTC jitter buffer + VP8 + to the compositor)",
    ("decoded", "taken"): "decoded -> in the page (the worker's bitmap or the <video>'s frame on the main thread)",
    ("taken", "drawn"): "in the page -> drawn (the canvas's picture)",
    ("decoded", "drawn"): "decoded -> drawn (the canvas's picture)",
    ("taken", "uploaded"): "in the page -> uploaded (the texture upload, as the frame comes)",
    ("uploaded", "xrFrame"): "uploaded -> XR frame began (waits for the headset's next frame)",
    ("xrFrame", "drawn"): "XR frame began -> drawn (input, both eyes' draws)",
    ("decoded", "xrFrame"): "decoded -> XR frame began (waits for the headset's next frame)",
    ("taken", "xrFrame"): "in the page -> XR frame began (waits for the headset's next frame)",
    ("xrFrame", "uploaded"): "XR frame began -> uploaded (input, the texture upload in the XR frame)",
    ("uploaded", "drawn"): "uploaded -> drawn (both eyes' draws)",
}


def stage_pairs(frame: dict) -> list[tuple[str, str]]:
    """The frame's consecutive stamps, pairwise, in the order they were taken."""
    keys = [k for k in STAMPS if k in frame]
    if frame.get("xrFrame", 0.0) <= frame.get("uploaded", -1.0):  # uploaded in the XR frame (same clock)
        i, j = keys.index("uploaded"), keys.index("xrFrame")
        keys[i], keys[j] = keys[j], keys[i]
    return list(itertools.pairwise(keys))


@dataclass
class Scenario:
    view: str  # "desktop" or "xr"
    viewers: int
    path: str  # "frames" (JPEG on the WebSocket) or "webrtc"
    browsers: int = 1  # the viewers' pages shared out among this many Chromiums (2 viewers: 1 or 2)

    def __str__(self) -> str:
        shared = f" in {self.browsers} browsers" if self.browsers > 1 else ""
        return f"{self.path}, {self.view}, {self.viewers} viewer{'s' if self.viewers > 1 else ''}{shared}"

    @classmethod
    def parse(cls, text: str) -> Scenario:
        """VIEW:VIEWERS:PATH[:BROWSERS], as --scenarios takes them."""
        view, viewers, path, *browsers = text.split(":")
        return cls(view, int(viewers), path, int(browsers[0]) if browsers else 1)


def camera_frames(store, camera_id: str, n: int = 30) -> list[np.ndarray]:
    """What the camera sees: the simulated store rendered once (MuJoCo), with a dark bar (the arm)
    crossing it and a little sensor noise, ``n`` frames in a loop."""
    from restock.sim.world import World

    still = World(store).render(camera_id, 640, 480)
    rng = np.random.default_rng(0)
    frames = []
    for i in range(n):
        f = still.astype(np.int16) + rng.integers(-3, 4, still.shape)
        x = 40 + i * 520 // n
        f[60:420, x : x + 60] = (f[60:420, x : x + 60] * 0.3).astype(np.int16)
        frames.append(np.clip(f, 0, 255).astype(np.uint8))
    return frames


def image_quality(frames: list[np.ndarray], jpeg_quality: int, bitrate: int, fps: float) -> None:
    """PSNR and size of the two encodings on the bench's frames: the same picture at equal quality?"""
    import av

    from restock.convert import encode_jpeg
    from restock.teleop.webrtc import Vp8Encoder

    def psnr(a: np.ndarray, b: np.ndarray) -> float:
        return float(10 * np.log10(255**2 / np.mean((a.astype(float) - b.astype(float)) ** 2)))

    from PIL import Image as PILImage

    jpegs = [encode_jpeg(f, jpeg_quality) for f in frames]
    j_psnr = [
        psnr(f, np.asarray(PILImage.open(io.BytesIO(d)).convert("RGB"))) for f, d in zip(frames, jpegs, strict=True)
    ]
    encoder, decoder = Vp8Encoder(bitrate, fps), av.CodecContext.create("libvpx", "r")
    v_psnr, v_bytes = [], []
    for i, f in enumerate(frames * 3):  # three loops: the rate control settles
        for packet in encoder.encode(f, i / fps):
            v_bytes.append(packet.size)
            for out in decoder.decode(packet):
                if i >= len(frames):
                    v_psnr.append(psnr(f, out.to_ndarray(format="rgb24")))
    print(
        f"image quality on these frames: JPEG q{jpeg_quality} PSNR {np.mean(j_psnr):.1f} dB "
        f"(min {np.min(j_psnr):.1f}), {np.mean([len(d) for d in jpegs]) / 1000:.1f} kB/frame; "
        f"VP8 {bitrate / 1e6:g} Mb/s PSNR {np.mean(v_psnr):.1f} dB (min {np.min(v_psnr):.1f}), "
        f"{np.mean(v_bytes[len(frames) :]) / 1000:.1f} kB/frame"
    )


def publish_camera(
    node, camera_id: str, frames: list[np.ndarray], hz: float, stop: threading.Event
) -> threading.Thread:
    """The frames as a 640x480 rgb8 camera at ``hz``, stamped at capture (wall clock), in a thread."""
    from sensor_msgs.msg import Image

    from restock import topics

    pub = node.create_publisher(Image, topics.camera_image(camera_id), 2)
    data = [f.tobytes() for f in frames]

    def publish() -> None:
        i = 0
        next_t = time.perf_counter()
        while not stop.is_set():
            msg = Image(height=480, width=640, encoding="rgb8", step=640 * 3, data=data[i % len(data)])
            msg.header.stamp.sec, msg.header.stamp.nanosec = sec_nanosec(time.time())
            pub.publish(msg)
            i += 1
            next_t += 1 / hz
            time.sleep(max(0.0, next_t - time.perf_counter()))

    thread = threading.Thread(target=publish, daemon=True)
    thread.start()
    return thread


# The emulated headset (iwer) draws both eyes into a canvas the size of the page's window; Playwright's
# default window. A headset's own framebuffer is its runtime's, drawn by its GPU (--xr-window).
XR_WINDOW = (1280, 720)


def serve(body: str):
    return lambda route, _request=None: route.fulfill(body=body, content_type="text/javascript")


def open_viewer(browser, base: str, operator: str, scenario: Scenario, app_files: dict[str, str] | None = None):
    """A page logged in as ``operator`` and showing frames; in XR: holding the robot, in the session.
    ``app_files``: the operator app's files by name, served in place of the bridge's (--before)."""
    page = new_page(browser, IWER, INSTALL_QUEST3) if scenario.view == "xr" else new_page(browser)
    for name, body in (app_files or {}).items():
        page.context.route(f"**/app/{name}", serve(body))
    if scenario.view == "xr":
        page.set_viewport_size({"width": XR_WINDOW[0], "height": XR_WINDOW[1]})
    log_in(page, base, operator, PASSWORD, f"?stream={scenario.path}")
    if scenario.view == "xr":
        wait_page(page, "window.restockApp.state !== null", "the first state")
        page.evaluate("window.restockApp.send({type: 'claim'})")
        page.wait_for_selector("#enter-vr:not([disabled])", state="visible", timeout=15_000)
        page.click("#enter-vr")
        wait_page(page, "window.restockApp.inXR === true", "the immersive session")
    wait_page(page, "window.restockApp.framesShown >= 10", "camera frames")
    path = page.evaluate("window.restockApp.streamPath")
    if path != scenario.path:
        raise RuntimeError(f"{scenario}: the page fell back to {path}: {page.text_content('#message')}")
    return page


def wait_page(page, expression: str, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):  # not wait_for_function: the CSP forbids eval
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} in the page")
        time.sleep(0.1)


def process_kind(proc: psutil.Process) -> str:
    """A Chromium process by its role ("chromium gpu", "renderer", "utility", "browser"), or "playwright"."""
    cmd = proc.cmdline()
    if not cmd:
        return "other"
    if "chromium" in Path(cmd[0]).name:
        kind = next((a.split("=", 1)[1] for a in cmd if a.startswith("--type=")), "browser")
        return "chromium " + kind.replace("-process", "")
    return "playwright" if "node" in Path(cmd[0]).name else "other"


def pin(proc: psutil.Process, cpus: list[int]) -> None:
    """Every thread of ``proc`` on ``cpus`` (threads and processes it starts later inherit it)."""
    with contextlib.suppress(psutil.NoSuchProcess, ProcessLookupError):
        for thread in proc.threads():
            with contextlib.suppress(ProcessLookupError):
                os.sched_setaffinity(thread.id, cpus)


def split_cpus(browser_cpus: list[int], bridge_pid: int) -> None:
    """The browsers on ``browser_cpus``, the bridge and this process (the camera) on the others:
    the operator's device and the robot each on processors of their own, as they would be."""
    robot = sorted(set(range(os.cpu_count() or 1)) - set(browser_cpus))
    for proc in psutil.Process().children(recursive=True):
        if process_kind(proc) != "other":
            pin(proc, browser_cpus)
    pin(psutil.Process(bridge_pid), robot)
    pin(psutil.Process(), robot)
    print(f"browsers on CPU {browser_cpus}, the bridge and the camera on CPU {robot}")


def cpu_seconds(bridge_pid: int) -> Counter:
    """User + system CPU time of the bridge and of this process's browsers (Playwright's driver, its
    Chromiums and their children, by kind; not the graph's other processes)."""
    total: Counter = Counter()
    with contextlib.suppress(psutil.NoSuchProcess):
        t = psutil.Process(bridge_pid).cpu_times()
        total["bridge"] += t.user + t.system
    for proc in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            kind = process_kind(proc)
            if kind != "other":
                t = proc.cpu_times()
                total[kind] += t.user + t.system
    return total


def watch(
    browsers: list, base: str, scenario: Scenario, seconds: float, hz: float, bridge_pid: int,
    app_files: dict[str, str] | None = None,
) -> dict[str, float]:  # fmt: skip
    """The scenario's pages for ``seconds``: its figures printed, the headline ones returned."""
    pages = [
        open_viewer(browsers[i % scenario.browsers], base, f"bench{i}" if i else "bench", scenario, app_files)
        for i in range(scenario.viewers)
    ]
    app = "window.restockApp"
    for page in pages:
        page.evaluate(
            f"{app}.frameLog.length = 0; {app}.framesDropped = 0; {app}.framesReplaced = 0;"
            f" if ({app}.xrWork) {app}.xrWork.length = 0"
        )
    xr_before = [page.evaluate(f"{app}.xrFrames || 0") for page in pages]
    load = os.getloadavg()[0]
    cpu0 = cpu_seconds(bridge_pid)
    time.sleep(seconds)
    cpu1 = cpu_seconds(bridge_pid)
    cpu = {k: (cpu1[k] - cpu0[k]) / seconds for k in sorted(cpu1)}
    logs = [page.evaluate(f"{app}.frameLog") for page in pages]
    metas = [page.evaluate(f"{app}.rtcMeta") for page in pages]
    xr = [(page.evaluate(f"{app}.xrFrames || 0") - b) / seconds for page, b in zip(pages, xr_before, strict=True)]
    xr_work = [w for page in pages for w in page.evaluate(f"{app}.xrWork || []")]
    # Dropped in the worker for a newer frame, or (XR) decoded and replaced before an XR frame drew it.
    dropped = [page.evaluate(f"{app}.framesDropped + ({app}.framesReplaced || 0)") for page in pages]
    for page in pages:
        page.context.close()
    if scenario.path == "webrtc":
        logs = [join_rtc(log, meta) for log, meta in zip(logs, metas, strict=True)]
    return report(scenario, logs, dropped, hz, (xr, xr_work), (load, os.getloadavg()[0]), cpu)


def join_rtc(log: list[dict], metas: list[dict]) -> list[dict]:
    """Each shown WebRTC frame with the bridge's stamps of its packet: the browser's RTP time is
    the bridge's plus the sender's random offset, which is the one difference every frame shares."""
    offsets = Counter((f["rtp"] - m["rtp"]) % 2**32 for f in log for m in metas)
    if not offsets:
        return []
    offset = offsets.most_common(1)[0][0]
    by_rtp = {m["rtp"]: m for m in metas}
    joined = [{**by_rtp[r], **f} for f in log if (r := (f["rtp"] - offset) % 2**32) in by_rtp]
    return joined


def report(scenario: Scenario, logs: list[list[dict]], dropped: list[int], hz: float,
           xr: tuple[list[float], list[float]], load: tuple[float, float], cpu: dict[str, float]) -> dict[str, float]:  # fmt: skip
    fps = []
    for log in logs:
        drawn = np.array([f["drawn"] for f in log])
        fps.append((len(drawn) - 1) / (drawn[-1] - drawn[0]) if len(drawn) > 1 else 0.0)
    frames = [f for log in logs for f in log]
    if not frames:
        print(f"{scenario}: no frame drawn")
        return {"fps": 0.0, "load": load[0]}
    numbers = [f["number"] for f in frames]
    captured = (max(f["capture"] for f in frames) - min(f["capture"] for f in frames)) * hz + 1
    rates, work = xr
    gpu = cpu.get("chromium gpu", 0.0)
    xr_line = (
        f"; XR frame loop {' + '.join(f'{x:.0f}' for x in rates)}/s, Chromium's gpu process "
        f"{gpu * 1000 / max(sum(rates), 1.0):.1f} ms CPU an XR frame"
        if scenario.view == "xr"
        else ""
    )
    browser = sum(v for k, v in cpu.items() if k != "bridge")
    parts = ", ".join(f"{k.removeprefix('chromium ')} {v:.2f}" for k, v in cpu.items() if k != "bridge" and v >= 0.005)
    print(
        f"{scenario}: {' + '.join(f'{x:.1f}' for x in fps)} fps drawn (camera {hz:g} Hz), {sum(dropped)} dropped "
        f"in the page{xr_line}; encodes per camera frame {(max(numbers) - min(numbers) + 1) / captured:.2f}; "
        f"CPU: bridge {cpu.get('bridge', 0.0):.2f}, browser {browser:.2f} cores ({parts}); "
        f"load average {load[0]:.1f} -> {load[1]:.1f}"
    )
    total = [(f["drawn"] - f["capture"]) * 1000 for f in frames]
    print(f"  capture -> drawn: {percentiles(total)}")
    stages: dict[tuple[str, str], list[float]] = {}
    for f in frames:
        for a, b in stage_pairs(f):
            stages.setdefault((a, b), []).append((f[b] - f[a]) * 1000)
    for (a, b), ms in stages.items():
        print(f"    {STAGE_NAMES.get((a, b), f'{a} -> {b}')}: {percentiles(ms)}")
    if work:
        print(f"    XR frame callback's own time (main thread, every XR frame): {percentiles(work)}")
    return {
        "fps": min(fps),
        "p50": float(np.percentile(total, 50)),
        "p99": float(np.percentile(total, 99)),
        "load": load[0],
    }


def app_files_at(rev: str) -> dict[str, str]:
    """The operator app's scripts as they were at git revision ``rev``: those that differ from now."""
    import subprocess

    web = "restock/teleop/web/app"
    files = {}
    # Not the camera's worker (frames.js): Playwright's fulfilment of a worker's script leaves the
    # worker without frames (this Playwright and Chromium), so both variants run today's.
    for path in sorted(p for p in (ROOT / web).glob("*.js") if p.name != "frames.js"):
        old = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{rev}:{web}/{path.name}"], capture_output=True, text=True, check=False
        )
        if old.returncode == 0 and old.stdout != path.read_text():
            files[path.name] = old.stdout
    worker = f"{web}/frames.js"
    old = subprocess.run(["git", "-C", str(ROOT), "diff", "--quiet", rev, "--", worker], check=False)
    if old.returncode != 0:
        print(f"note: {worker} differs at {rev}; both variants run today's")
    return files


def bare_xr(browser, base: str, seconds: float, bridge_pid: int) -> None:
    """The emulated headset alone: an immersive session whose XR frames draw nothing (the runtime
    still clears its layer each frame and the page's compositor shows it), none of the app's work.
    What the bench's software GL costs per XR frame before the app draws anything."""
    page = new_page(browser, IWER, INSTALL_QUEST3)
    page.set_viewport_size({"width": XR_WINDOW[0], "height": XR_WINDOW[1]})
    page.goto(base + "/")  # a secure context; nobody logs in, so the app does nothing
    idle = timer_lateness(page, 2.0)
    page.evaluate(
        """async () => {
        const session = await navigator.xr.requestSession("immersive-vr");
        const attributes = { antialias: false, alpha: false, depth: false, stencil: false };
        const gl = document.createElement("canvas").getContext("webgl", { xrCompatible: true, ...attributes });
        session.updateRenderState({ baseLayer: new XRWebGLLayer(session, gl, attributes) });
        window.bareFrames = 0;
        const frame = () => { window.bareFrames += 1; session.requestAnimationFrame(frame); };
        session.requestAnimationFrame(frame);
    }"""
    )
    time.sleep(1.0)
    n0, cpu0, load = page.evaluate("window.bareFrames"), cpu_seconds(bridge_pid), os.getloadavg()[0]
    late = timer_lateness(page, seconds)
    n1, cpu1 = page.evaluate("window.bareFrames"), cpu_seconds(bridge_pid)
    page.context.close()
    rate = (n1 - n0) / seconds
    gpu, renderer = ((cpu1[k] - cpu0[k]) / seconds for k in ("chromium gpu", "chromium renderer"))
    print(
        f"the emulated headset alone (XR frames that draw nothing, window {XR_WINDOW[0]}x{XR_WINDOW[1]}): "
        f"XR frame loop {rate:.0f}/s, Chromium's gpu process {gpu:.2f} cores ({gpu * 1000 / max(rate, 1.0):.1f} ms "
        f"an XR frame), renderer {renderer:.2f}; load average {load:.1f}\n"
        f"  the page's main thread, a 4 ms timer fires late by: {late} (before the session: {idle})"
    )


def timer_lateness(page, seconds: float) -> str:
    """How late a 4 ms timer fires on the page's main thread, over ``seconds``: how long the main
    thread is held (by its own work, or waiting on another process)."""
    ms = page.evaluate(
        """(seconds) => new Promise((resolve) => {
        const late = [];
        const end = performance.now() + seconds * 1000;
        let due = performance.now() + 4;
        const tick = () => {
            const now = performance.now();
            late.push(now - due);
            if (now > end) return resolve(late);
            due = now + 4;
            setTimeout(tick, 4);
        };
        setTimeout(tick, 4);
    })""",
        seconds,
    )
    return percentiles(ms)


def camera_to_browser(
    base: str, node, store, args: argparse.Namespace, scenarios: list[Scenario], bridge_pid: int
) -> None:
    """Each scenario in turn, --rounds times; with --before, each also with the app of that revision
    (before and now alternating, which goes first swapped every round), then medians over rounds."""
    from playwright.sync_api import sync_playwright

    camera_id = store.cameras[0].id
    frames = camera_frames(store, camera_id)
    image_quality(frames, JPEG_QUALITY, RTC_BITRATE, args.camera_hz)
    variants: list[tuple[str, dict[str, str] | None]] = [("now", None)]
    if args.before:
        old = app_files_at(args.before)
        print(f"before: the operator app's {', '.join(sorted(old)) or 'scripts (no difference!)'} at {args.before}")
        variants.insert(0, (f"before ({args.before})", old))
    stop = threading.Event()
    thread = publish_camera(node, camera_id, frames, args.camera_hz, stop)
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    try:
        with sync_playwright() as pw:
            browsers = [
                pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                for _ in range(max(s.browsers for s in scenarios))
            ]
            if args.browser_cpus:
                split_cpus([int(c) for c in args.browser_cpus.split(",")], bridge_pid)
            if args.xr_harness:
                bare_xr(browsers[0], base, args.seconds, bridge_pid)
            for r in range(args.rounds):
                for scenario in scenarios:
                    for name, files in variants if r % 2 == 0 else variants[::-1]:
                        if len(variants) > 1 or args.rounds > 1:
                            print(f"round {r + 1}, {name}:")
                        figures = watch(browsers, base, scenario, args.seconds, args.camera_hz, bridge_pid, files)
                        results.setdefault((str(scenario), name), []).append(figures)
            for browser in browsers:
                browser.close()
    finally:
        stop.set()
        thread.join(2)
    if len(variants) > 1 or args.rounds > 1:
        summary(results, args.rounds)


def summary(results: dict[tuple[str, str], list[dict[str, float]]], rounds: int) -> None:
    """Medians over the rounds, each scenario's variants side by side."""
    print(f"medians over {rounds} round(s) (capture -> drawn; fps: the slowest viewer's):")
    for (scenario, name), runs in results.items():

        def med(key: str, runs: list[dict[str, float]] = runs) -> float:
            return float(np.median([r.get(key, float("nan")) for r in runs]))

        p99s = ", ".join(f"{r.get('p99', float('nan')):.1f}" for r in runs)
        loads = [r["load"] for r in runs]
        print(
            f"  {scenario}, {name}: {med('fps'):.1f} fps, p50 {med('p50'):.1f} ms, p99 {med('p99'):.1f} ms "
            f"(rounds: {p99s}); load {min(loads):.1f}-{max(loads):.1f}"
        )


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
    ap.add_argument(
        "--scenarios",
        default=",".join(f"{v}:{n}:{p}" for v, n in (("desktop", 1), ("xr", 1), ("desktop", 2)) for p in PATHS),
        help="camera -> browser runs, VIEW:VIEWERS:PATH[:BROWSERS] (VIEW desktop or xr, PATH frames or webrtc;"
        " BROWSERS: the viewers' pages in that many Chromiums, default 1), comma-separated",
    )
    ap.add_argument("--no-pose", action="store_true", help="skip the operator pose part")
    ap.add_argument(
        "--xr-window", default="1280x720", help="the emulated headset's window, WxH: both eyes' framebuffer"
    )
    ap.add_argument("--rounds", type=int, default=1, help="every scenario this many times, in turn")
    ap.add_argument(
        "--browser-cpus", default="", help="CPUs for the browsers (e.g. 1), the bridge and the camera on the others"
    )
    ap.add_argument(
        "--before", default="", help="git revision: each scenario also with the operator app of then, interleaved"
    )
    ap.add_argument(
        "--xr-harness", action="store_true", help="first the emulated headset alone (XR frames that draw nothing)"
    )
    args = ap.parse_args(argv)
    global XR_WINDOW
    XR_WINDOW = tuple(int(v) for v in args.xr_window.split("x"))
    print("command:", " ".join([Path(sys.executable).name, *sys.argv]))

    also = ("sim", "arm_controller") if args.arm else ()
    stream_fps = min(60.0, max(30.0, args.camera_hz))
    bridge_params = {"stream_fps": stream_fps, "jpeg_quality": JPEG_QUALITY, "rtc_bitrate": RTC_BITRATE}
    passwords = {"bench": PASSWORD, "bench1": PASSWORD}
    with bridge_process(passwords, also, args.store, "sim" if args.arm else "robot", **bridge_params) as bridge:
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
        if not args.no_pose:
            asyncio.run(drive(base, ctx, args.seconds, args.rate, sent))
        time.sleep(0.5)
        if len(targets) != len(sent):
            print(f"warning: {len(sent)} poses sent, {len(targets)} PoseStamped received: matched in order anyway")
        k = min(len(targets), len(sent))
        lat = [(targets[i] - sent[i]) * 1000 for i in range(k)]
        if not args.no_pose:
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

            scenarios = [Scenario.parse(s) for s in args.scenarios.split(",")]
            store = load_store(store_file(args.store))
            camera_to_browser(base, node, store, args, scenarios, bridge.pid())
    finally:
        executor.shutdown(timeout_sec=2)
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
