"""An operator's poses through the fleet service to the robot's link, and the robot's camera frames
back to the operator, on loopback: the service's share of the issue's budgets (pose ->
JointTrajectory p99 <= 50 ms, camera -> console >= 20 fps).

    .venv/bin/python bench/fleet_command.py [--seconds 20] [--rate 60] [--fps 30] [--stream-seconds 15]

A throwaway PostgreSQL cluster and two `restock fleet serve` processes (HTTPS/WSS on 127.0.0.1).
The robot (a RobotLink) is linked to instance a; the operator claims its handoff and streams pose
commands at --rate Hz for --seconds, once through instance a (relayed in the process) and once
through instance b (relayed by NOTIFY through PostgreSQL). Each pose is timed from the operator's
send to the robot's on_command, on one clock (both ends are in this process). What the robot's
bridge then does (rules, IK, the JointTrajectory) is not in this figure: it is the bridge's own
(bench/arm_teleop_latency.py measures the direct path). Camera: on instance a, the operator watches
and the robot sends 640x480 JPEG frames at --fps in the bridge's frame format (a frame is skipped
while the last is still being written, as the bridge's stream does); frames a second received and
capture -> received latency.
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import sys
import time
from pathlib import Path

import aiohttp
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from fleet_bench import PASSWORD, fleet_processes  # noqa: E402

from restock import records  # noqa: E402
from restock.convert import encode_jpeg  # noqa: E402
from restock.fleet.link import RobotLink  # noqa: E402
from restock.teleop.protocol import FrameStamps, pack_frame, unpack_frame  # noqa: E402


async def camera(robot: RobotLink, ws: aiohttp.ClientWebSocketResponse, fps: float, seconds: float) -> dict:
    """The robot sends 640x480 JPEG frames at fps (dropped when the last is still going); the operator
    watching receives them: frames a second and capture -> received latency."""
    await ws.send_json({"type": "command", "robot": "ra1", "body": {"type": "watch", "camera_id": "cam_left"}})
    await asyncio.sleep(0.5)
    rng = np.random.default_rng(1)
    base = np.repeat(np.linspace(0, 255, 640, dtype=np.uint8)[None, :, None], 480, axis=0).repeat(3, axis=2)
    jpegs = [encode_jpeg(np.clip(base + rng.integers(0, 40, base.shape), 0, 255).astype(np.uint8)) for _ in range(10)]
    latencies: list[float] = []
    received = 0

    async def watch() -> None:
        nonlocal received
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.BINARY:
                _, _, stamps, _ = unpack_frame(msg.data)
                latencies.append(time.time() - stamps.capture)
                received += 1

    reader = asyncio.create_task(watch())
    start, n = time.perf_counter(), int(seconds * fps)
    for i in range(n):
        await asyncio.sleep(max(0.0, start + i / fps - time.perf_counter()))
        now = time.time()
        await robot.send_frame(pack_frame(0, i, FrameStamps(now, now, now), jpegs[i % len(jpegs)]))
    await asyncio.sleep(0.5)
    reader.cancel()
    return {"camera": latencies, "camera fps": [received / seconds], "camera kB": [len(jpegs[0]) / 1000]}


async def stream(
    ports: list[int], ctx: ssl.SSLContext, cred: str, seconds: float, rate: float, fps: float, stream_s: float
) -> dict[str, list[float]]:
    got: dict[int, float] = {}
    robot = RobotLink(f"wss://127.0.0.1:{ports[0]}/robot/ws", cred, ctx,
                      on_command=lambda op, body: got.setdefault(body.get("seq", -1), time.perf_counter()))  # fmt: skip
    task = asyncio.create_task(robot.run())
    robot.send_handoff(records.HandoffRequest(request_id="h1", source="bench", kind="other", stamp=time.time()))
    while robot.connects == 0 or robot.outbox:
        await asyncio.sleep(0.01)
    out: dict[str, list[float]] = {}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as http:
        for label, port in (("same instance", ports[0]), ("other instance (NOTIFY)", ports[1])):
            base = f"https://127.0.0.1:{port}"
            r = await http.post(f"{base}/api/login", json={"operator": "alice", "password": PASSWORD})
            auth = {"Authorization": f"Bearer {(await r.json())['token']}"}
            await http.post(f"{base}/api/claim", json={}, headers=auth)  # a second claim of the same: refused, fine
            ticket = (await (await http.post(f"{base}/api/ticket", headers=auth)).json())["ticket"]
            ws = await http.ws_connect(f"wss://127.0.0.1:{port}/ws?ticket={ticket}")
            got.clear()
            sent: dict[int, float] = {}
            n = int(seconds * rate)
            start = time.perf_counter()
            for seq in range(n):
                await asyncio.sleep(max(0.0, start + seq / rate - time.perf_counter()))
                body = {
                    "type": "pose",
                    "seq": seq,
                    "position": [0.1, 1.2, -0.3],
                    "orientation": [0, 0, 0, 1],
                    "grip": True,
                }
                sent[seq] = time.perf_counter()
                await ws.send_json({"type": "command", "robot": "ra1", "body": body})
            await asyncio.sleep(1.0)
            out[label] = [got[s] - sent[s] for s in sent if s in got]
            out[label + " lost"] = [float(n - len(out[label]))]
            if port == ports[0]:  # the camera stream is watched where the robot is linked
                out.update(await camera(robot, ws, fps, stream_s))
            await ws.close()
    await robot.stop()
    task.cancel()
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--rate", type=float, default=60.0)
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--stream-seconds", type=float, default=15.0)
    args = ap.parse_args()
    print(f"command: .venv/bin/python bench/fleet_command.py --seconds {args.seconds:g} --rate {args.rate:g}"
          f" --fps {args.fps:g} --stream-seconds {args.stream_seconds:g}")  # fmt: skip
    with fleet_processes(["ra1"], ["alice"]) as fleet:
        result = asyncio.run(stream(fleet.ports, fleet.ssl, fleet.credentials["ra1"], args.seconds, args.rate, args.fps,
                                    args.stream_seconds))  # fmt: skip
    for label in ("same instance", "other instance (NOTIFY)"):
        ms = np.array(result[label]) * 1000
        print(f"pose -> robot link via {label}: median {np.median(ms):.1f} ms, p99 {np.percentile(ms, 99):.1f} ms, "
              f"max {ms.max():.1f} ms, n={len(ms)}, lost {result[label + ' lost'][0]:.0f}")  # fmt: skip
    ms = np.array(result["camera"]) * 1000
    print(f"camera -> operator via the robot's instance: {result['camera fps'][0]:.1f} frames/s of {args.fps:g} sent"
          f" ({result['camera kB'][0]:.0f} kB JPEG, 640x480), capture -> received median {np.median(ms):.1f} ms,"
          f" p99 {np.percentile(ms, 99):.1f} ms")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
