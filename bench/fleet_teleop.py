"""Through the fleet service against the direct bridge, in one run on loopback, in turn: operator
pose -> JointTrajectory (issue 19's goal: p99 <= 50 ms) and camera -> page (goal: >= 20 frames/s).

    .venv/bin/python bench/fleet_teleop.py [--rounds 3] [--seconds 10] [--rate 60] [--camera-hz 30] [--no-browser]

A throwaway PostgreSQL cluster and one `restock fleet serve` process (HTTPS/WSS); the robot's graph
as processes on a DDS domain of its own (`restock up`: the teleop bridge linked out to the fleet
with its robot credential, the simulator and the arm controller). The same graph is driven by both
paths in turn, --rounds times:
- direct: an operator logged in to the bridge itself takes the lease and streams poses (grip held)
  with heartbeats at --rate;
- fleet: an operator logged in to the fleet service, holding the robot's handoff there, streams the
  same poses as relayed commands (service -> the robot's link -> the bridge's rules).
Each pose's send is timed to its teleop/ee_target PoseStamped and to the first JointTrajectory after
it, on this process's subscribers (one clock); the bridge's own stage stamps of each stretch
(restock/teleop/trace.py: operator -> service, service, service -> robot link, link -> bridge rules,
rules -> published) are printed from its log. Camera: this process publishes 640x480 rgb8 frames at
--camera-hz stamped at capture; WebSocket clients count the frames reaching them a second through
each path, then headless Chromium shows them in turn, each for --seconds: the operator app on the
bridge (desktop) and the fleet console's camera view (the same frame worker, through the relay),
with bench/teleop_latency.py's per-stage figures. The simulator's own renders of that camera (5 Hz,
stamped on the sim clock) are left out of the latencies.
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
from teleop_latency import Scenario, cpu_seconds, publish_camera, report, wait_page  # noqa: E402
from teleop_latency import watch as watch_page  # noqa: E402

from restock import records, topics  # noqa: E402
from restock.day.operator_stand_in import messages  # noqa: E402
from restock.teleop.protocol import unpack_frame  # noqa: E402
from restock.testing.browser import CHROMIUM, CHROMIUM_ARGS, log_in, new_page  # noqa: E402

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

    def latencies(self, sent: list[float], t0: int, j0: int) -> dict[str, list[float]]:
        """Pose -> PoseStamped (in order), pose -> the first JointTrajectory after its target, and that
        target -> its JointTrajectory (the arm controller and DDS), ms."""
        targets = self.targets[t0:]
        k = min(len(targets), len(sent))
        out: dict[str, list[float]] = {
            "target": [(targets[i] - sent[i]) * 1000 for i in range(k)],
            "traj": [],
            "arm": [],
        }
        tarr = np.array(targets[:k])
        for t in self.trajectories[j0:]:
            i = int(np.searchsorted(tarr, t, side="right")) - 1
            if 0 <= i < k and t - tarr[i] < 0.1:
                out["traj"].append((t - sent[i]) * 1000)
                out["arm"].append((t - tarr[i]) * 1000)
        return out


async def stream_poses(send, seconds: float, rate: float, sent: list[float]) -> None:  # type: ignore[no-untyped-def]
    n, start = int(seconds * rate), time.perf_counter()
    for i in range(n):
        await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
        sent.append(time.perf_counter())
        # seq and the send's wall time (epoch ms): the bridge's trace times the operator -> service stage
        await send({**circle_pose(i, rate), "seq": i + 1, "sent": time.time() * 1000})
        if i % 6 == 0:
            await send({"type": "heartbeat", "seq": i})


SIM_CLOCK_S = 60.0  # a frame captured further than this from now is the simulator's own (sim clock)


async def watch(ws: aiohttp.ClientWebSocketResponse, seconds: float, ack) -> tuple[float, list[float]]:  # type: ignore[no-untyped-def]
    """Frames a second and capture -> received (ms) for ``seconds``."""
    got: list[float] = []
    async for msg in messages(ws, seconds):
        if msg.type == aiohttp.WSMsgType.BINARY:
            _, _, stamps, _ = unpack_frame(msg.data)
            if abs(time.time() - stamps.capture) < SIM_CLOCK_S:
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


def trace_line(log: str, direct: bool) -> str:
    """The bridge's last stage summary of the path's operator (restock/teleop/trace.py)."""
    lines = [ln for ln in log.splitlines() if "teleop trace " in ln and ("fleet:" in ln) != direct]
    return lines[-1].split("teleop trace ", 1)[1] if lines else "(no trace line in the bridge's log)"


async def run(args: argparse.Namespace, ros: RosSide, bridge, fleet: str, fleet_ssl) -> dict:  # type: ignore[no-untyped-def]
    """The pose rounds, direct and fleet in turn, then each path's camera to a WebSocket client."""
    out: dict = {"direct": [], "fleet": []}
    bctx = ssl.create_default_context(cafile=str(bridge.cafile))
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=bctx)) as bhttp,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=fleet_ssl)) as fhttp,
    ):
        direct = await login(bhttp, bridge.base, "bench")
        fws = await login(fhttp, fleet, "alice")
        await fws.send_json({"type": "claim"})
        while True:
            msg = await fws.receive_json(timeout=30)
            if msg.get("type") in ("claimed", "error"):
                break
        assert msg["type"] == "claimed", msg

        async def command(body: dict) -> None:
            await fws.send_json({"type": "command", "robot": "ra1", "body": body})

        async def drain(ws: aiohttp.ClientWebSocketResponse) -> None:
            while not ws.closed:  # reading answers the service's pings: an idle path's link stays up
                await ws.receive()

        drains = [asyncio.create_task(drain(ws)) for ws in (direct, fws)]
        for r in range(args.rounds):
            for path, send in (("direct", direct.send_json), ("fleet", command)):
                await send({"type": "claim"} if path == "direct" else {"type": "claim", "request_id": "bench-1"})
                await asyncio.sleep(0.5)
                sent: list[float] = []
                t0, j0 = len(ros.targets), len(ros.trajectories)
                load = os.getloadavg()[0]
                await stream_poses(send, args.seconds, args.rate, sent)
                await asyncio.sleep(0.5)
                await send({"type": "release"})  # the bridge logs this stretch's stages
                await asyncio.sleep(0.5)
                result = ros.latencies(sent, t0, j0)
                result["trace"] = trace_line(bridge.graph.log("teleop_bridge"), path == "direct")
                result["load"] = (load, os.getloadavg()[0])
                out[path].append(result)
                p = {k: np.percentile(v, 99) if v else float("nan") for k, v in result.items() if isinstance(v, list)}
                print(f"round {r + 1} {path:>6}: pose -> JointTrajectory p99 {p['traj']:.1f} ms (-> PoseStamped"
                      f" {p['target']:.1f}, PoseStamped -> JointTrajectory {p['arm']:.1f}); load {load:.1f}", flush=True)  # fmt: skip
        drains[0].cancel()  # each socket read by its watch from here (the other's drain keeps it up)
        await asyncio.gather(drains[0], return_exceptions=True)
        await direct.send_json({"type": "watch", "camera_id": CAMERA})
        out["direct camera"] = await watch(
            direct,
            args.seconds,
            lambda capture: direct.send_json({"type": "frame_shown", "capture": capture, "shown": time.time()}),
        )
        await direct.close()
        drains[1].cancel()
        await asyncio.gather(drains[1], return_exceptions=True)
        await command({"type": "watch", "camera_id": CAMERA})
        out["fleet camera"] = await watch(
            fws,
            args.seconds,
            lambda capture: fws.send_json({"type": "frame_shown", "capture": capture, "shown": time.time()}),
        )
        await fws.close()
    return out


def fleet_page(browser, fleet: str, seconds: float, hz: float, bridge_pid: int) -> None:  # type: ignore[no-untyped-def]
    """The fleet console's camera view through the relay, as teleop_latency's desktop page is measured."""
    page = new_page(browser)
    log_in(page, fleet, "alice", PASSWORD)  # she holds the robot's handoff: the console shows its camera
    app = "window.fleetConsole"
    wait_page(page, f"{app}.framesShown >= 10", "camera frames in the fleet console")
    page.evaluate(f"{app}.frameLog.length = 0; {app}.framesDropped = 0")
    load, cpu0 = os.getloadavg()[0], cpu_seconds(bridge_pid)
    time.sleep(seconds)
    cpu1 = cpu_seconds(bridge_pid)
    log = [f for f in page.evaluate(f"{app}.frameLog") if abs(f["arrived"] - f["capture"]) < SIM_CLOCK_S]
    dropped = page.evaluate(f"{app}.framesDropped")
    page.context.close()
    cpu = {k: (cpu1[k] - cpu0[k]) / seconds for k in sorted(cpu1)}
    report(
        Scenario("fleet console (the relay)", 1, "frames"),
        [log],
        [dropped],
        hz,
        ([], []),
        (load, os.getloadavg()[0]),
        cpu,
    )


def browser_rounds(args: argparse.Namespace, bridge, fleet: str) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        for _ in range(args.rounds):
            watch_page(
                [browser], bridge.base, Scenario("desktop", 1, "frames"), args.seconds, args.camera_hz, bridge.pid()
            )
            fleet_page(browser, fleet, args.seconds, args.camera_hz, bridge.pid())
        browser.close()


def summary(args: argparse.Namespace, result: dict) -> None:
    print(f"over {args.rounds} rounds of {args.seconds:g} s each path, in turn:")
    for path in ("direct", "fleet"):
        rounds = result[path]
        for key, what in (
            ("target", "PoseStamped"),
            ("traj", "JointTrajectory"),
            ("arm", "PoseStamped -> JointTrajectory"),
        ):
            name = f"operator pose -> {what}" if key != "arm" else what
            print(f"{path:>6}: {name} {percentiles([v for r in rounds for v in r[key]])}")
        for i, r in enumerate(rounds):
            print(f"    round {i + 1} (load {r['load'][0]:.1f} -> {r['load'][1]:.1f}) {r['trace']}")
    for path in ("direct", "fleet"):
        fps, lat = result[f"{path} camera"]
        print(f"{path:>6}: camera -> WebSocket client {fps:.1f} frames/s of {args.camera_hz:g} published, capture ->"
              f" received {percentiles(lat)}")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3, help="each path this many times, in turn")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=60.0, help="operator poses a second")
    ap.add_argument("--camera-hz", type=float, default=30.0)
    ap.add_argument("--no-browser", action="store_true", help="skip the pages (operator app, fleet console)")
    args = ap.parse_args(argv)
    print(f"command: .venv/bin/python bench/fleet_teleop.py --rounds {args.rounds} --seconds {args.seconds:g}"
          f" --rate {args.rate:g} --camera-hz {args.camera_hz:g}{' --no-browser' if args.no_browser else ''}")  # fmt: skip
    with fleet_processes(["ra1"], ["alice"], instances=1) as fleet, tempfile.TemporaryDirectory() as tmp:
        assert fleet.cafile is not None
        credential = Path(tmp) / "robot.credential"
        credential.write_text(fleet.credentials["ra1"] + "\n")
        link = {"robot_id": "ra1", "fleet_url": [f"wss://127.0.0.1:{fleet.ports[0]}/robot/ws"],
                "fleet_credential_file": str(credential), "fleet_ca_file": str(fleet.cafile), "stream_fps": 30.0}  # fmt: skip
        base = f"https://127.0.0.1:{fleet.ports[0]}"
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
                result = asyncio.run(run(args, ros, bridge, base, fleet.ssl))
                summary(args, result)
                if not args.no_browser:
                    browser_rounds(args, bridge, base)
            finally:
                stop.set()
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
