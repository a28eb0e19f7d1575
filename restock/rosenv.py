"""The environment every ROS process of ours runs in: DDS confined to this machine.

Used by `restock up`, `restock sim`, the tests, the benchmarks and CI; a robot deployment
across machines passes ``confine=False`` through ``restock up --network`` with its own
FASTDDS_DEFAULT_PROFILES_FILE (see README.md).
"""

from __future__ import annotations

import fcntl
import os
import sys
from pathlib import Path
from typing import Any

from restock.paths import SOURCE_ROOT, config_file

LOCALHOST_PROFILE = "fastdds_localhost.xml"


def ros_environment(
    domain_id: int | None = None, confine: bool = True, base: dict[str, str] | None = None
) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    env["RMW_IMPLEMENTATION"] = "rmw_fastrtps_cpp"
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("RCUTILS_COLORIZED_OUTPUT", "0")
    prefix = str(Path(sys.prefix))
    if prefix not in env.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        env["AMENT_PREFIX_PATH"] = os.pathsep.join(p for p in (prefix, env.get("AMENT_PREFIX_PATH", "")) if p)
    if confine:
        env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
        env["FASTDDS_DEFAULT_PROFILES_FILE"] = str(config_file(LOCALHOST_PROFILE))
        env.pop("ROS_STATIC_PEERS", None)
    if (SOURCE_ROOT / "package.xml").exists():
        # Run from a checkout: node processes import the same code as this process.
        paths = [str(SOURCE_ROOT), *(p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p)]
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    if domain_id is not None:
        if not 0 <= domain_id <= 101:
            raise ValueError(f"ROS_DOMAIN_ID {domain_id} is outside 0..101")
        env["ROS_DOMAIN_ID"] = str(domain_id)
    return env


def apply_to_this_process(domain_id: int | None = None) -> None:
    """Set the confined environment on this process (before rclpy.init)."""
    os.environ.update(ros_environment(domain_id))


def claim_domain_id(first: int = 10, last: int = 100) -> tuple[int, Any]:
    """A ROS_DOMAIN_ID no other run of ours on this machine holds (an flock per id, held until exit).

    Two store days or test runs on one domain would hear each other; the lock keeps them apart.
    """
    for domain in range(first, last + 1):
        handle = open(f"/tmp/restock-domain-{domain}.lock", "w")  # noqa: SIM115  (held for the run)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        return domain, handle
    raise RuntimeError(f"every ROS_DOMAIN_ID in {first}..{last} is held by another test run")
