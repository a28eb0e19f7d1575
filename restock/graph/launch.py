"""Launch descriptions built from the same graph description `restock up` reads.

Needs `launch` and `launch_ros` (a full ROS 2 install); they are imported only here, so the
rest of restock runs without them.
"""

from __future__ import annotations

from typing import Any

from restock.graph.description import NodeInstance
from restock.paths import DEFAULT_STORE, store_file


def launch_node(inst: NodeInstance) -> Any:
    """The launch_ros Node action for one instance of the graph (what `restock up` starts as a process)."""
    from launch_ros.actions import Node

    return Node(
        package="restock",
        executable=inst.executable,
        name=inst.name,
        namespace=inst.namespace,
        parameters=[*map(str, inst.params_files), inst.params],
        remappings=list(inst.remappings.items()),
        respawn=inst.restart != "never",
        output="screen",
    )


def launch_description(profile: str) -> Any:
    from launch.actions import DeclareLaunchArgument, OpaqueFunction
    from launch.substitutions import LaunchConfiguration

    from launch import LaunchDescription

    def nodes(context: Any) -> list[Any]:
        from restock.graph.description import node_instances
        from restock.store.description import load_store

        path = store_file(LaunchConfiguration("store").perform(context))
        namespace = LaunchConfiguration("namespace").perform(context)
        return [launch_node(inst) for inst in node_instances(profile, load_store(path), path, namespace)]  # type: ignore[arg-type]

    return LaunchDescription(
        [
            DeclareLaunchArgument("store", default_value=DEFAULT_STORE, description="store description file"),
            DeclareLaunchArgument("namespace", default_value="/", description="robot namespace"),
            OpaqueFunction(function=nodes),
        ]
    )
