"""The node graph described once (config/graph.yaml), expanded per profile, robot and camera.

Both the launch files and the project's own bring-up read :func:`node_instances`, so a
robot launched with ``ros2 launch`` and a store brought up by ``restock up`` are the same graph.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from restock.params import ConfigError
from restock.paths import config_file
from restock.store.description import Store
from restock.yamlfile import load_yaml_file

Profile = Literal["sim", "robot", "teleop"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProfileSettings(_Strict):
    use_sim_time: bool


class NodeEntry(_Strict):
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    executable: str
    params: list[str] = []
    profiles: Annotated[list[Profile], Field(min_length=1)]
    required: bool = False
    restart: Literal["never", "on-failure", "always"] = "never"
    max_restarts: Annotated[int, Field(ge=0)] = 5
    per_camera: bool = False
    remappings: dict[str, str] = {}


class GraphFile(_Strict):
    version: Literal[1]
    profiles: dict[Profile, ProfileSettings]
    external_inputs: list[str] = []
    nodes: Annotated[list[NodeEntry], Field(min_length=1)]


@dataclass(frozen=True)
class NodeInstance:
    """One process of the graph: what to run and with which ROS arguments."""

    name: str
    kind: str  # the graph entry it comes from (shelf_camera for shelf_camera_cam_left)
    executable: str
    namespace: str
    params_files: tuple[Path, ...]
    params: dict[str, object] = field(default_factory=dict)
    remappings: dict[str, str] = field(default_factory=dict)
    required: bool = False
    restart: str = "never"
    max_restarts: int = 5

    def ros_args(self) -> list[str]:
        args = ["--ros-args", "-r", f"__node:={self.name}"]
        if self.namespace not in ("", "/"):
            args += ["-r", f"__ns:={self.namespace}"]
        for src, dst in self.remappings.items():
            args += ["-r", f"{src}:={dst}"]
        for path in self.params_files:
            args += ["--params-file", str(path)]
        for key, value in self.params.items():
            args += ["-p", f"{key}:={_ros_literal(value)}"]
        return args


def _ros_literal(value: object) -> str:
    """A -p value as rcl parses it (YAML): strings that YAML would read as another type are quoted."""
    if isinstance(value, str):
        parsed = yaml.safe_load(value) if value else None
        return value if isinstance(parsed, str) else f"'{value}'"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def load_graph(path: Path | None = None) -> GraphFile:
    path = path or config_file("graph.yaml")
    try:
        data = load_yaml_file(path, ConfigError)
        return GraphFile.model_validate(data)
    except OSError as err:
        raise ConfigError(f"{path}: cannot read ({err.strerror})") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    except ValidationError as err:
        first = err.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{path}: {key}: {first['msg']}") from None


def node_instances(
    profile: Profile,
    store: Store,
    store_path: Path,
    namespace: str = "/",
    only: Iterable[str] | None = None,
    extra_params: dict[str, dict[str, object]] | None = None,
    graph: GraphFile | None = None,
) -> list[NodeInstance]:
    """Expand the graph for one profile and store: one instance per node, per camera where asked.

    ``only`` keeps the named entries (by kind or instance name); ``extra_params`` maps a kind or
    instance name to parameters that override the files (the tests use it).
    """
    graph = graph or load_graph()
    settings = graph.profiles[profile]
    keep = set(only) if only is not None else None
    extra_params = extra_params or {}
    out: list[NodeInstance] = []
    for entry in graph.nodes:
        if profile not in entry.profiles:
            continue
        cameras = [c.id for c in store.cameras] if entry.per_camera else [None]
        for camera_id in cameras:
            name = f"{entry.name}_{camera_id}" if camera_id else entry.name
            if keep is not None and entry.name not in keep and name not in keep:
                continue
            params: dict[str, object] = {
                "store_file": str(Path(store_path).resolve()),
                "use_sim_time": settings.use_sim_time,
            }
            if camera_id:
                params["camera_id"] = camera_id
            params.update(extra_params.get(entry.name, {}))
            params.update(extra_params.get(name, {}))
            out.append(
                NodeInstance(
                    name=name,
                    kind=entry.name,
                    executable=entry.executable,
                    namespace=namespace,
                    params_files=tuple(config_file(p) for p in entry.params),
                    params=params,
                    remappings=dict(entry.remappings),
                    required=entry.required,
                    restart=entry.restart,
                    max_restarts=entry.max_restarts,
                )
            )
    if keep is not None:
        unknown = keep - {i.name for i in out} - {i.kind for i in out}
        if unknown:
            raise ConfigError(f"no node named {sorted(unknown)} in profile {profile!r}")
    return out
