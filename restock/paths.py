"""Where the installed package's shared files are: share/restock through the ament index.

Falls back to the source tree when run from a checkout that is not installed.
"""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path

SOURCE_ROOT = Path(__file__).resolve().parent.parent


@cache
def share_dir() -> Path:
    """share/restock of the installed package, or the checkout this module was imported from."""
    if (SOURCE_ROOT / "package.xml").exists():
        return SOURCE_ROOT  # running from a source checkout (tests, development): its config wins
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

        try:
            return Path(get_package_share_directory("restock"))
        except (PackageNotFoundError, OSError):
            pass  # OSError: AMENT_PREFIX_PATH unset (a venv with ROS from pip)
    except ImportError:
        pass
    venv_share = Path(sys.prefix) / "share" / "restock"
    return venv_share if venv_share.is_dir() else SOURCE_ROOT


def config_file(name: str) -> Path:
    """A file under config/, from the installed share/ (or the source tree)."""
    installed = share_dir() / "config" / name
    return installed if installed.exists() else SOURCE_ROOT / "config" / name


def config_candidates(name: str) -> list[Path]:
    """Where a config file a user names may be, in the order to try: the name as a path (absolute,
    or from the working directory), config/ under the working directory (the checkout the README's
    commands run from, installed or not), the installed share/restock/config, this checkout's config/."""
    path = Path(name).expanduser()
    if path.is_absolute():
        return [path]
    cwd = Path.cwd()
    found = [cwd / path, cwd / "config" / path, share_dir() / "config" / path, SOURCE_ROOT / "config" / path]
    return list(dict.fromkeys(found))


def store_file(name: str) -> Path:
    """A store description by file name (corner_store.yaml) or by path."""
    path = Path(name)
    if path.exists():
        return path
    if not name.endswith(".yaml"):
        name += ".yaml"
    return config_file(f"stores/{name}")


DEFAULT_STORE = "corner_store.yaml"
