"""Parameter declarations: a bad value or a bad file stops a node, naming the file and the key."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import FrozenInstanceError, dataclass
from pathlib import Path

import pytest

from restock.motion.arm_settings import ArmControllerSettings
from restock.params import (
    ConfigError,
    NodeSettings,
    ParamSpec,
    load_params_file,
    param_specs,
    precheck_args,
    setting,
    settings_from,
)
from restock.planning.core import CoreConfig
from restock.planning.planner_settings import PlannerSettings
from restock.recording.settings import RecorderSettings
from restock.sim.sim_settings import SimSettings
from restock.teleop.bridge_settings import TeleopBridgeSettings
from restock.vision.camera_settings import ShelfCameraSettings

SPECS = (
    ParamSpec("horizon_s", float, 3600.0, "planning horizon", min=60.0, max=86400.0),
    ParamSpec("mode", str, "auto", "mode", choices=("auto", "manual")),
    ParamSpec("retries", int, 2, "retries", min=0, max=5),
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return path


def test_good_file_is_read(tmp_path: Path) -> None:
    path = write(tmp_path, "planner:\n  ros__parameters:\n    horizon_s: 600\n    mode: manual\n")
    assert load_params_file(path, "planner", "/", SPECS) == {"horizon_s": 600.0, "mode": "manual"}


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ("planner:\n  ros__parameters:\n    horizon_s: 5.0\n", "horizon_s"),
        ("planner:\n  ros__parameters:\n    horizon_s: soon\n", "horizon_s"),
        ("planner:\n  ros__parameters:\n    mode: fast\n", "mode"),
        ("planner:\n  ros__parameters:\n    retries: 1.5\n", "retries"),
        ("planner:\n  ros__parameters:\n    horizn_s: 600\n", "horizn_s"),
        ("/**:\n  ros__parameters:\n    retries: 9\n", "retries"),
        ("planner:\n  parameters: {}\n", "ros__parameters"),
    ],
)
def test_bad_value_names_file_and_key(tmp_path: Path, body: str, key: str) -> None:
    path = write(tmp_path, body)
    with pytest.raises(ConfigError) as err:
        load_params_file(path, "planner", "/", SPECS)
    assert str(path) in str(err.value) and key in str(err.value)


def test_bad_yaml_names_file(tmp_path: Path) -> None:
    path = write(tmp_path, "planner:\n  ros__parameters:\n    horizon_s: [1,\n")
    with pytest.raises(ConfigError, match=str(path)):
        precheck_args(["x", "--ros-args", "--params-file", str(path)], "planner", SPECS)


def test_sections_for_other_nodes_are_ignored(tmp_path: Path) -> None:
    path = write(tmp_path, "other:\n  ros__parameters:\n    anything: 1\n")
    assert load_params_file(path, "planner", "/", SPECS) == {}


@pytest.mark.parametrize("node", ["planner", "arm_controller", "teleop_bridge", "sim"])
def test_node_process_stops_on_bad_parameter_file(tmp_path: Path, node: str) -> None:
    """A real node process: exit status 2 and a message naming the file and the key."""
    path = write(tmp_path, f"{node}:\n  ros__parameters:\n    no_such_parameter: 1\n")
    exe = Path(sys.executable).parent / f"restock-{node.replace('_', '-')}"
    proc = subprocess.run(
        [str(exe), "--ros-args", "-r", f"__node:={node}", "--params-file", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert str(path) in proc.stderr and "no_such_parameter" in proc.stderr


def test_node_process_stops_on_bad_store_file(tmp_path: Path) -> None:
    store = tmp_path / "store.yaml"
    store.write_text("version: 1\nname: broken\n")
    exe = Path(sys.executable).parent / "restock-planner"
    proc = subprocess.run(
        [str(exe), "--ros-args", "-p", f"store_file:={store}"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert str(store) in proc.stderr and "skus" in proc.stderr


def test_node_process_stops_on_unknown_command_line_parameter(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "restock-arm-controller"
    proc = subprocess.run(
        [str(exe), "--ros-args", "-p", "sped_scale:=0.5", "-p", f"state_dir:={tmp_path}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "command line (-p)" in proc.stderr and "sped_scale: unknown parameter" in proc.stderr


def test_integer_for_a_float_parameter_is_accepted(tmp_path: Path) -> None:
    """-p real_time_factor:=20 is an int to rcl; the declaration says float and takes it."""
    exe = Path(sys.executable).parent / "restock-planner"
    proc = subprocess.run(
        [str(exe), "--ros-args", "-p", "horizon_s:=5", "-p", f"database_path:={tmp_path / 'p.db'}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    # 5 is read as a number (not refused as an INTEGER for a DOUBLE) and then range-checked.
    assert proc.returncode == 2 and "horizon_s: 5.0 is outside the allowed range" in proc.stderr


@dataclass(frozen=True)
class _Settings(NodeSettings):
    horizon_s: float = setting(3600.0, "planning horizon", min=60.0, max=86400.0)
    mode: str = setting("auto", "mode", choices=("auto", "manual"))
    retries: int = setting(2, "retries", min=0, max=5)
    cameras: tuple[str, ...] = setting(("left", "right"), "camera ids")


def test_a_settings_class_declares_its_param_specs() -> None:
    specs = param_specs(_Settings)
    assert [s.name for s in specs] == ["store_file", "lockstep", "horizon_s", "mode", "retries", "cameras"]
    assert specs[2:5] == SPECS  # the same declaration as written by hand
    assert specs[5] == ParamSpec("cameras", list, ["left", "right"], "camera ids", item_type=str)


def test_settings_are_typed_checked_and_frozen() -> None:
    values = {"store_file": "", "lockstep": False, "horizon_s": 600, "mode": "manual", "retries": 3, "cameras": ["c0"]}
    got = settings_from(_Settings, values)
    assert got == _Settings(horizon_s=600.0, mode="manual", retries=3, cameras=("c0",))
    assert isinstance(got.horizon_s, float) and isinstance(got.cameras, tuple)
    with pytest.raises(FrozenInstanceError):
        got.retries = 4  # type: ignore[misc]
    with pytest.raises(ConfigError, match="arm: retries: 9 is outside"):
        settings_from(_Settings, {**values, "retries": 9}, "arm: ")
    with pytest.raises(ConfigError, match="mode: no value"):
        settings_from(_Settings, {k: v for k, v in values.items() if k != "mode"})


def test_a_field_without_setting_is_refused() -> None:
    @dataclass(frozen=True)
    class Bare:
        speed: float = 1.0

    with pytest.raises(TypeError, match=r"Bare\.speed"):
        param_specs(Bare)


@pytest.mark.parametrize(
    "settings_cls",
    [ArmControllerSettings, ShelfCameraSettings, TeleopBridgeSettings, RecorderSettings, PlannerSettings, SimSettings],
)
def test_each_nodes_defaults_are_valid_settings(settings_cls: type) -> None:
    defaults = {s.name: s.default for s in param_specs(settings_cls)}
    assert settings_from(settings_cls, defaults) == settings_cls()


def test_the_pure_pieces_settings_come_from_the_nodes() -> None:
    arm = ArmControllerSettings(trajectory_start_delay_s=0.2, max_grasp_retries=4)
    executor = arm.executor("arm")
    assert (executor.start_delay_s, executor.max_grasp_retries, executor.source) == (0.2, 4, "arm")
    bridge = TeleopBridgeSettings(read_timeout_s=7.0, port=0, jpeg_quality=60)
    config = bridge.server_config(None)
    assert (config.read_timeout_s, config.body_timeout_s, config.port, config.jpeg_quality) == (7.0, 7.0, 0, 60)
    camera = ShelfCameraSettings(confirm_frames=5, conf_threshold=0.2)
    assert camera.filter_config().confirm_frames == 5 and camera.match_config().slot_score == 0.2
    planner = PlannerSettings(task_timeout_s=90.0, forecast_step_s=120.0, alerts=False)
    core = planner.core()
    assert (core.task_timeout_s, core.planner.step_s, core.alerts) == (90.0, 120.0, None)


def test_the_planner_nodes_defaults_are_the_cores() -> None:
    """Each default is written once: the node's settings, left alone, give the core's own config."""
    assert PlannerSettings().core() == CoreConfig()
