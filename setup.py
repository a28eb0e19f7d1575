"""The restock ament_python package: console scripts per node plus the `restock` command."""

from glob import glob
from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "restock"


def tree(folder: str) -> list[tuple[str, list[str]]]:
    """data_files entries installing every file under folder to share/restock/folder, keeping sub-folders."""
    out: dict[str, list[str]] = {}
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            out.setdefault(f"share/{PACKAGE}/{path.parent}", []).append(str(path))
    return sorted(out.items())


# Each node's console script starts in restock.nodes.entry, which imports nothing heavy: SIGINT and
# SIGTERM are handled (exit quietly, status 0) before the node module's imports begin.
NODES = {
    "restock-sim": "restock.nodes.entry:sim",
    "restock-shelf-camera": "restock.nodes.entry:shelf_camera",
    "restock-planner": "restock.nodes.entry:planner",
    "restock-arm-controller": "restock.nodes.entry:arm_controller",
    "restock-teleop-bridge": "restock.nodes.entry:teleop_bridge",
    "restock-recorder": "restock.nodes.entry:recorder",
}

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=["restock", "restock.*"]),
    package_data={"restock": ["teleop/web/index.html", "teleop/web/app/*", "vision/models/*"]},  # not node_modules: test-only
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.py")),
        *tree("config"),
        *tree("sim"),
    ],
    python_requires=">=3.10",
    install_requires=[
        "numpy>=1.26",
        "scipy>=1.11",
        "pyyaml>=6",
        "pydantic>=2.5,<3",
        "pillow>=10",
        "matplotlib>=3.8",
        "mujoco>=3.2",
        "onnxruntime>=1.18",
        "ruckig>=0.12",
        "aiohttp>=3.9",
        "mcap>=1.1",
        "mcap-ros2-support>=0.5",
        "foxglove-sdk>=0.10",
        "psutil>=5.9",  # restock sim samples every process's memory
        "aiortc>=1.9",  # the operator stream's WebRTC path (VP8 through PyAV's libvpx)
        "psycopg[binary]>=3.2",  # the fleet service's PostgreSQL store (restock.fleet)
    ],
    extras_require={
        # Training only (about 6 GB here): the runtime never imports these.
        "train": ["ultralytics==8.4.190", "torch==2.14.1", "torchvision==0.29.1", "onnx", "onnxslim"],
        "test": ["pytest>=8", "hypothesis>=6.100", "ruff>=0.6", "playwright>=1.45"],
    },
    zip_safe=True,
    maintainer="restock maintainers",
    description="ROS 2 control stack for a shelf-restocking robot",
    license="Apache-2.0",
    entry_points={"console_scripts": [f"{name} = {target}" for name, target in NODES.items()] + ["restock = restock.cli:main"]},
)
