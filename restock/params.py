"""Node parameters as a declaration: type, default, description and allowed range in one place.

Pure Python (no rclpy): the node base declares these with ROS descriptors, and the same
specs check parameter files before the node starts, so a bad value or a bad YAML file
stops the node with the file, the key and the allowed range.

A node's parameters may be declared as a frozen dataclass whose fields are :func:`setting`
(the generate_parameter_library habit): :func:`param_specs` reads the ParamSpecs off it for the
node base, and :func:`settings_from` gives the node a typed, checked instance, so it reads
``self.settings.speed_scale`` (a float) instead of casting ``self.p["speed_scale"]``.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from restock.yamlfile import load_yaml_file

ParamValue = bool | int | float | str | list[str] | list[float]


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names where (file and key) and why."""


@dataclass(frozen=True)
class ParamSpec:
    name: str
    type: type  # bool, int, float, str, or list (of str/float, see item_type)
    default: Any
    description: str
    min: float | None = None
    max: float | None = None
    choices: tuple[Any, ...] | None = None
    item_type: type | None = None  # for lists
    read_only: bool = True

    def check(self, value: Any, where: str) -> ParamValue:
        """Return the value coerced to the declared type, or raise ConfigError naming ``where``."""
        key = f"{where}{self.name}"
        if self.type is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if self.type is list:
            if not isinstance(value, list):
                raise ConfigError(f"{key}: expected a list, got {value!r}")
            item = self.item_type or str
            out = []
            for i, v in enumerate(value):
                if item is float and isinstance(v, int) and not isinstance(v, bool):
                    v = float(v)
                if not isinstance(v, item) or (isinstance(v, bool) and item is not bool):
                    raise ConfigError(f"{key}[{i}]: expected {item.__name__}, got {v!r}")
                out.append(v)
            return out
        if not isinstance(value, self.type) or (isinstance(value, bool) and self.type is not bool):
            raise ConfigError(f"{key}: expected {self.type.__name__}, got {value!r} ({type(value).__name__})")
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{key}: {value} is not a finite number")
        if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
            raise ConfigError(f"{key}: {value} is outside the allowed range [{self.min}, {self.max}]")
        if self.choices is not None and value not in self.choices:
            raise ConfigError(f"{key}: {value!r} is not one of {list(self.choices)}")
        return value


S = TypeVar("S")


def setting(
    default: Any,
    description: str,
    *,
    min: float | None = None,
    max: float | None = None,
    choices: tuple[Any, ...] | None = None,
    read_only: bool = True,
) -> Any:
    """One field of a settings dataclass: its default, and the rest of its ParamSpec.

    The field's annotation is the type: bool, int, float, str, or tuple[str, ...] / tuple[float, ...]
    for a list parameter (a tuple default; the settings hold a tuple).
    """
    meta = {"description": description, "min": min, "max": max, "choices": choices, "read_only": read_only}
    return dataclasses.field(default=default, metadata=meta)


@dataclass(frozen=True)
class NodeSettings:
    """What every restock node that reads the store has; a node's settings class extends it."""

    store_file: str = setting("", "Store description file (config/stores/*.yaml); empty: the default store")
    lockstep: bool = setting(
        False,
        "Run in lockstep with the simulator (restock.graph.lockstep): count messages, run sim-time jobs from /clock, and answer each step on lockstep/acks",
        read_only=True,
    )


def param_specs(settings_cls: type) -> tuple[ParamSpec, ...]:
    """The ParamSpecs a settings dataclass declares, in field order (a base class's first)."""
    hints = typing.get_type_hints(settings_cls)
    specs = []
    for f in dataclasses.fields(settings_cls):
        kind, default, item = hints[f.name], f.default, None
        if typing.get_origin(kind) is tuple:
            kind, default, item = list, list(f.default), typing.get_args(kind)[0]
        if kind not in (bool, int, float, str, list) or "description" not in f.metadata:
            raise TypeError(f"{settings_cls.__name__}.{f.name}: declare it with setting() as bool/int/float/str/tuple")
        m = f.metadata
        specs.append(
            ParamSpec(f.name, kind, default, m["description"], m["min"], m["max"], m["choices"], item, m["read_only"])
        )
    return tuple(specs)


def settings_from(settings_cls: type[S], values: Mapping[str, ParamValue], where: str = "") -> S:
    """The typed settings from parameter values, each checked against its spec (ConfigError names the key)."""
    kwargs: dict[str, Any] = {}
    for spec in param_specs(settings_cls):
        if spec.name not in values:
            raise ConfigError(f"{where}{spec.name}: no value")
        value = spec.check(values[spec.name], where)
        kwargs[spec.name] = tuple(value) if isinstance(value, list) else value
    return settings_cls(**kwargs)


def params_files_from_args(args: Sequence[str]) -> list[Path]:
    """The files given with ``--params-file`` in a ROS argument list."""
    files = []
    for i, arg in enumerate(args):
        if arg == "--params-file" and i + 1 < len(args):
            files.append(Path(args[i + 1]))
    return files


def node_name_from_args(args: Sequence[str], default: str) -> str:
    """The node name after ``-r __node:=NAME`` remapping, else ``default``."""
    name = default
    for i, arg in enumerate(args):
        if arg in ("-r", "--remap") and i + 1 < len(args) and args[i + 1].startswith("__node:="):
            name = args[i + 1].split(":=", 1)[1]
    return name


def namespace_from_args(args: Sequence[str]) -> str:
    ns = "/"
    for i, arg in enumerate(args):
        if arg in ("-r", "--remap") and i + 1 < len(args) and args[i + 1].startswith("__ns:="):
            ns = args[i + 1].split(":=", 1)[1]
    return ns


def _matching_sections(data: dict, node_name: str, namespace: str) -> list[str]:
    full = f"{namespace.rstrip('/')}/{node_name}"
    names = {node_name, full, full.lstrip("/"), "/**", "**"}
    return [k for k in data if k in names]


def load_params_file(path: Path, node_name: str, namespace: str, specs: Iterable[ParamSpec]) -> dict[str, ParamValue]:
    """Check one ROS parameter file for this node: YAML syntax, layout, unknown keys, types, ranges."""
    try:
        data = load_yaml_file(path, ConfigError)  # budgets, duplicate keys, UTF-8 named by line
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the parameter file ({err.strerror})") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of node names to ros__parameters")
    by_name = {s.name: s for s in specs}
    values: dict[str, ParamValue] = {}
    for section in _matching_sections(data, node_name, namespace):
        body = data[section]
        if not isinstance(body, dict) or "ros__parameters" not in body:
            raise ConfigError(f"{path}: {section}: expected a 'ros__parameters' mapping")
        params = body["ros__parameters"]
        if not isinstance(params, dict):
            raise ConfigError(f"{path}: {section}.ros__parameters: expected a mapping")
        for key, value in _flatten(params):
            where = f"{path}: {section}.ros__parameters."
            if key in ("use_sim_time",):
                if not isinstance(value, bool):
                    raise ConfigError(f"{where}{key}: expected bool, got {value!r}")
                continue
            spec = by_name.get(key)
            if spec is None:
                # Each file is given to one kind of node only, so a wildcard section is checked too.
                raise ConfigError(f"{where}{key}: unknown parameter (this node has {sorted(by_name)})")
            values[key] = spec.check(value, where)
    return values


def _flatten(params: dict, prefix: str = "") -> list[tuple[str, Any]]:
    out = []
    for k, v in params.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            out.extend(_flatten(v, f"{name}."))
        else:
            out.append((name, v))
    return out


def precheck_args(args: Sequence[str], default_node_name: str, specs: Iterable[ParamSpec]) -> None:
    """Check every --params-file before rclpy reads them (rclpy's own error names no key)."""
    specs = list(specs)
    name = node_name_from_args(args, default_node_name)
    ns = namespace_from_args(args)
    for path in params_files_from_args(args):
        load_params_file(path, name, ns, specs)
