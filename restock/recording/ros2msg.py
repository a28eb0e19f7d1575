"""ROS 2 message definitions as MCAP's ``ros2msg`` schema text, built from the installed .msg files.

The schema is the type's own definition followed by every type it uses, each after a
``MSG: pkg/Type`` separator: the layout rosbag2 writes and Foxglove and the mcap readers expect.
"""

from __future__ import annotations

import os
import re
import sys
from functools import cache
from pathlib import Path

SEPARATOR = "=" * 80
_PRIMITIVES = {
    "bool", "byte", "char", "float32", "float64", "int8", "uint8", "int16", "uint16",
    "int32", "uint32", "int64", "uint64", "string", "wstring", "duration", "time",
}  # fmt: skip


def _share_dirs() -> list[Path]:
    dirs = [Path(p) / "share" for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    dirs.append(Path(sys.prefix) / "share")
    return dirs


@cache
def msg_file(type_name: str) -> Path:
    """The .msg file of ``pkg/msg/Type`` or ``pkg/Type``."""
    pkg, _, name = type_name.replace("/msg/", "/").partition("/")
    for share in _share_dirs():
        path = share / pkg / "msg" / f"{name}.msg"
        if path.exists():
            return path
    raise FileNotFoundError(f"no definition of {type_name} under {[str(d) for d in _share_dirs()]}")


def _field_types(text: str, pkg: str) -> list[str]:
    out = []
    for line in text.splitlines():
        tokens = line.split("#", 1)[0].split()
        if len(tokens) < 2 or "=" in tokens[1]:
            continue  # blank, comment, or a constant
        base = re.sub(r"\[.*\]$", "", tokens[0])  # arrays
        base = re.sub(r"<=\d+", "", base)  # bounded strings
        if base in _PRIMITIVES:
            continue
        if base == "Header":
            base = "std_msgs/Header"
        out.append(base if "/" in base else f"{pkg}/{base}")
    return out


@cache
def schema_text(type_name: str) -> str:
    """The ros2msg schema of ``pkg/msg/Type`` with its dependencies, depth first, each once."""
    root = type_name.replace("/msg/", "/")
    seen: list[str] = []

    def visit(name: str) -> None:
        for dep in _field_types(msg_file(name).read_text(), name.split("/")[0]):
            dep = dep.replace("/msg/", "/")
            if dep not in seen and dep != root:
                seen.append(dep)
                visit(dep)

    visit(root)
    parts = [msg_file(root).read_text().strip()]
    for dep in seen:
        parts.append(f"{SEPARATOR}\nMSG: {dep}\n{msg_file(dep).read_text().strip()}")
    return "\n".join(parts) + "\n"


def type_name_of(msg_class: type) -> str:
    """``sensor_msgs/msg/Image`` for the rclpy class."""
    module = msg_class.__module__.split(".")
    return f"{module[0]}/msg/{msg_class.__name__}"
