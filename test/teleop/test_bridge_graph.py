"""The bridge node as a real process on real DDS: handoff in, operator's targets and resolution out."""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import threading

import aiohttp
import numpy as np
import pytest
from PIL import Image as PILImage
from sensor_msgs.msg import Image
from teleop_client import connect, handoff, login, next_json, pose_msg
from teleop_ros import RosSide, bridge_params, bridge_url, wait

from restock import topics
from restock.convert import encode_jpeg
from restock.paths import store_file
from restock.store.description import load_store

pytestmark = [pytest.mark.graph, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


@pytest.mark.parametrize("store", ["corner_store.yaml", "station_kiosk.yaml"])
def test_operator_drives_the_target_and_labels_through_the_node(ros_graph, ros_node, tmp_path, operators_file, store):
    graph = ros_graph(only=["teleop_bridge"], store=store, params=bridge_params(tmp_path, operators_file))
    base = bridge_url(graph)
    ros = RosSide(ros_node)
    lane = load_store(store_file(store)).lanes[0]
    crop = base64.b64encode(encode_jpeg(np.full((64, 48, 3), 30, np.uint8))).decode()
    camera = load_store(store_file(store)).cameras[0]
    stamp = 1234.5  # the frame the camera node found the item in (bbox is in its pixels)
    request = handoff(
        "h-graph", lane_id=lane.id, image_jpeg_b64=crop, camera_id=camera.id, bbox=[10, 20, 110, 220], frame_stamp=stamp
    )
    image_pub = ros_node.create_publisher(Image, topics.camera_image(camera.id), 2)
    stop = threading.Event()

    def camera_frames() -> None:  # frames S-1, S, S+1 over and over, each its own grey
        i = 0
        while not stop.wait(1 / 15):
            k = i % 3
            msg = Image(
                height=480, width=640, encoding="rgb8", step=640 * 3, data=bytes([60 + 60 * k]) * (640 * 480 * 3)
            )
            msg.header.stamp.sec, msg.header.stamp.nanosec = int(stamp) + k - 1, 500_000_000
            image_pub.publish(msg)
            i += 1

    frames = threading.Thread(target=camera_frames, daemon=True)
    frames.start()
    ctx = ssl.create_default_context(cafile=str(tmp_path / "teleop" / "tls" / "teleop-selfsigned.crt"))

    async def operator() -> None:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as http:
            ws = await connect(http, base, await login(http, base, "alice"))
            for _ in range(200):  # until DDS discovery has carried the request to the bridge
                ros.raise_handoff(request)
                state = await next_json(ws, "state")
                if state["queue"] and state["queue"][0]["has_frame"]:  # a repeat adds the frame once it is in
                    break
            assert [q["request_id"] for q in state["queue"]] == ["h-graph"]
            await ws.send_json({"type": "claim", "request_id": "h-graph"})
            for i in range(20):
                await ws.send_json(pose_msg((0.0, 1.0 + 0.005 * i, -0.2), trigger=0.5))
                await ws.send_json({"type": "heartbeat"})
                await asyncio.sleep(0.03)
            await asyncio.to_thread(wait, lambda: len(ros.targets) >= 20, 20, "20 PoseStamped targets")
            await ws.send_json(
                {"type": "resolve", "request_id": "h-graph", "action": "labelled", "label": "foreign_item"}
            )
            assert (await next_json(ws, "ack"))["sample"]
            await ws.send_json({"type": "release"})
            await asyncio.to_thread(
                wait, lambda: ros.statuses and ros.statuses[-1].control == "autonomy" and len(ros.resolutions) == 1
            )

    try:
        asyncio.run(operator())
    finally:
        stop.set()
        frames.join(2)
        ros.close()
    first, last = ros.targets[0], ros.targets[-1]
    assert first.header.frame_id == "store"
    assert (first.pose.position.x, first.pose.position.y, first.pose.position.z) == pytest.approx(lane.loading_point())
    # hand up 9.5 cm (a stall past the heartbeat timeout re-anchors and loses a 5 mm step: allowed)
    assert last.pose.position.z - first.pose.position.z == pytest.approx(0.095, abs=0.015)
    assert ros.grippers[-1] == pytest.approx(0.5 * load_store(store_file(store)).robot.gripper.max_opening)
    assert any(s.control == "operator" and s.engaged and s.operator == "alice" for s in ros.statuses)
    (res,) = ros.resolutions
    assert (res.request_id, res.label, res.operator) == ("h-graph", "foreign_item", "alice")
    (meta,) = (tmp_path / "teleop" / "samples" / "meta").iterdir()
    assert json.loads(meta.read_text())["image_source"] == "frame"  # the full frame, with the camera's box
    (image,) = (tmp_path / "teleop" / "samples" / "images").iterdir()
    pixels = np.asarray(PILImage.open(image))
    assert pixels.shape == (480, 640, 3) and abs(pixels.mean() - 120) < 3  # frame S's grey, not its neighbours'


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        (["plain_http:=true", "host:=0.0.0.0"], "plain HTTP is allowed on loopback only"),
        (["tls_cert:=/nonexistent.crt"], "give both or neither"),
        (["tls_cert:=/nonexistent.crt", "tls_key:=/nonexistent.key"], "cannot load the TLS certificate"),
        (["heartbeat_timeout_s:=5.0"], "heartbeat_timeout_s out of range"),
    ],
)
def test_bad_server_configuration_stops_the_node_naming_why(tmp_path, params, reason):
    import os
    import subprocess
    import sys

    args = [sys.executable, "-m", "restock.nodes.teleop_bridge", "--ros-args", "-p", f"state_dir:={tmp_path}"]
    for p in params:
        args += ["-p", p]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, env=os.environ)
    assert done.returncode == 2, done.stderr
    assert reason in done.stderr


def test_the_bridge_reads_config_operators_yaml_of_the_folder_it_runs_from(tmp_path):
    """The README's operators file: config/operators.yaml where `restock up` runs, installed or not
    (a broken one stops the node naming the file, which shows which file it read)."""
    import os
    import subprocess
    import sys

    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "operators.yaml").write_text("operators: [not, a, mapping]\n")
    args = [sys.executable, "-m", "restock.nodes.teleop_bridge", "--ros-args", "-p", f"state_dir:={tmp_path}"]
    args += ["-p", "plain_http:=true", "-p", "port:=0"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, env=os.environ, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert f"{tmp_path / 'config' / 'operators.yaml'}: expected a mapping" in done.stderr
