"""The Gazebo world from the store description: valid SDF 1.9 (`ign sdf -k`), the contract's joints and topics."""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy.spatial.transform import Rotation

from restock import topics
from restock.paths import SOURCE_ROOT
from restock.sim.gazebo import main as gazebo_main
from restock.sim.gazebo import world_sdf
from restock.store.description import load_store

STORES = ("corner_store", "station_kiosk")


def _pose(el: ET.Element) -> np.ndarray:
    return np.array([float(v) for v in el.find("pose").text.split()])  # type: ignore[union-attr]


# `ign sdf -k` takes ~15 s on the corner store's ~300 container models.
@pytest.mark.parametrize("stem", [pytest.param("corner_store", marks=pytest.mark.slow), "station_kiosk"])
def test_world_passes_ign_sdf_check(stem: str, tmp_path: Path) -> None:
    ign = shutil.which("ign")
    assert ign, "ign (Debian's ignition-tools + libsdformat12) is missing: run scripts/setup.sh"
    assert gazebo_main(["--store", stem, "--out", str(tmp_path)]) == 0
    sdf = tmp_path / f"{stem}.sdf"
    result = subprocess.run([ign, "sdf", "-k", str(sdf)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "Valid" in result.stdout, result.stdout + result.stderr
    assert ET.parse(sdf).getroot().get("version") == "1.9"


@pytest.mark.parametrize("stem", STORES)
def test_world_has_the_robot_contract_cameras_and_containers(stem: str) -> None:
    store = load_store(SOURCE_ROOT / "config" / "stores" / f"{stem}.yaml")
    world = ET.fromstring(world_sdf(store)).find("world")
    assert world is not None
    robot = next(m for m in world.findall("model") if m.get("name") == "robot")
    joints = {j.get("name"): j for j in robot.findall("joint")}
    expected = {
        "rail_x": ("prismatic", "1 0 0"),
        "lift_z": ("prismatic", "0 0 1"),
        "shoulder": ("revolute", "0 0 1"),
        "elbow": ("revolute", "0 0 1"),
        "wrist": ("revolute", "0 0 1"),
    }
    for name, (kind, axis) in expected.items():
        assert joints[name].get("type") == kind
        assert joints[name].findtext("axis/xyz") == axis
        lim = store.robot.joint(name)
        assert float(joints[name].findtext("axis/limit/lower")) == pytest.approx(lim.lower)
        assert float(joints[name].findtext("axis/limit/upper")) == pytest.approx(lim.upper)
    assert {"finger_l", "finger_r"} <= set(joints)
    containers = [m for m in world.findall("model") if m.get("name", "").startswith(("r1_", "r2_", "r3_"))]
    assert len(containers) == sum(lv.lane.capacity for lv in store.lanes)
    cams = {s.get("name"): link for link in world.iter("link") for s in link.findall("sensor")}
    assert set(cams) == {c.id for c in store.cameras}
    for cam in store.cameras:
        pose = _pose(cams[cam.id])
        assert np.allclose(pose[:3], cam.position)
        forward = Rotation.from_euler("xyz", pose[3:]).apply([1.0, 0.0, 0.0])
        want = np.array(cam.look_at) - np.array(cam.position)
        assert np.allclose(forward, want / np.linalg.norm(want), atol=1e-4)
        assert cams[cam.id].findtext("sensor/topic") == "/" + topics.camera_image(cam.id)
        assert cams[cam.id].findtext("sensor/gz_frame_id") == f"{cam.id}_optical_frame"  # as the embedded sim


@pytest.mark.parametrize("stem", STORES)
def test_bridge_config_carries_the_embedded_sims_topics(stem: str, tmp_path: Path) -> None:
    store = load_store(SOURCE_ROOT / "config" / "stores" / f"{stem}.yaml")
    gazebo_main(["--store", stem, "--out", str(tmp_path), "--no-mjcf"])
    entries = yaml.safe_load((tmp_path / f"{stem}_bridge.yaml").read_text())
    ros = {e["ros_topic_name"]: e for e in entries}
    assert ros[topics.CLOCK]["direction"] == "GZ_TO_ROS"
    assert ros[topics.JOINT_TRAJECTORY]["ros_type_name"] == "trajectory_msgs/msg/JointTrajectory"
    assert ros[topics.JOINT_TRAJECTORY]["direction"] == "ROS_TO_GZ"
    for cam in store.cameras:
        assert ros[topics.camera_image(cam.id)]["gz_type_name"] == "gz.msgs.Image"
        assert ros[topics.camera_info(cam.id)]["gz_type_name"] == "gz.msgs.CameraInfo"


@pytest.mark.parametrize("stem", STORES)
def test_shipped_assets_are_up_to_date(stem: str, tmp_path: Path) -> None:
    gazebo_main(["--store", stem, "--out", str(tmp_path)])
    for name in (f"{stem}.sdf", f"{stem}_bridge.yaml", f"{stem}.mjcf.xml"):
        shipped = SOURCE_ROOT / "sim" / name
        assert shipped.read_text() == (tmp_path / name).read_text(), (
            f"sim/{name} is stale: run `restock gazebo-world --store {stem} --out sim`"
        )
