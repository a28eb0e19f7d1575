"""The simulated store in Gazebo (gz-sim) instead of the embedded MuJoCo simulator.

The world and the ros_gz_bridge config are generated from the store description at launch
(restock.sim.gazebo, the code behind `restock gazebo-world`), so nothing about the store is
written twice. Needs a full ROS 2 install with ros_gz_sim and ros_gz_bridge.
Usage: ros2 launch restock gazebo.launch.py store:=corner_store.yaml namespace:=/ gui:=false

Customers, staff refills and sim/ground_truth exist only in the embedded simulator.
"""

from pathlib import Path


def generate_launch_description():  # launch's entry point
    from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, OpaqueFunction
    from launch.launch_description_sources import PythonLaunchDescriptionSource
    from launch.substitutions import LaunchConfiguration

    from launch import LaunchDescription

    def setup(context):
        from ament_index_python.packages import get_package_share_directory
        from launch_ros.actions import Node

        from restock.graph.description import node_instances
        from restock.graph.launch import launch_node
        from restock.paths import store_file
        from restock.sim.gazebo import write_world
        from restock.store.description import load_store

        path = store_file(LaunchConfiguration("store").perform(context))
        namespace = LaunchConfiguration("namespace").perform(context)
        gui = LaunchConfiguration("gui").perform(context).lower() in ("1", "true", "yes")
        store = load_store(path)
        out_dir = Path.home() / ".ros" / "restock_gazebo"
        sdf, bridge = write_world(store, out_dir, path.stem)
        gz_launch = Path(get_package_share_directory("ros_gz_sim")) / "launch" / "gz_sim.launch.py"
        actions = [
            IncludeLaunchDescription(
                PythonLaunchDescriptionSource(str(gz_launch)),
                launch_arguments={"gz_args": f"-r {'' if gui else '-s '}{sdf}"}.items(),
            ),
            Node(
                package="ros_gz_bridge",
                executable="parameter_bridge",
                name="gz_bridge",
                namespace=namespace,
                parameters=[{"config_file": str(bridge), "use_sim_time": True}],
                output="screen",
            ),
            Node(
                package="restock",
                executable="restock-sim",
                name="gz_adapter",
                namespace=namespace,
                arguments=["--gz-adapter"],
                parameters=[{"store_file": str(path), "use_sim_time": True}],
                output="screen",
            ),
        ]
        # The rest of the sim profile's graph, exactly as sim.launch.py starts it, minus the embedded sim.
        for inst in node_instances("sim", store, path, namespace):
            if inst.name == "sim":
                continue
            actions.append(launch_node(inst))
        return actions

    return LaunchDescription(
        [
            DeclareLaunchArgument("store", default_value="corner_store.yaml", description="store description file"),
            DeclareLaunchArgument("namespace", default_value="/", description="robot namespace"),
            DeclareLaunchArgument("gui", default_value="false", description="open the Gazebo GUI"),
            OpaqueFunction(function=setup),
        ]
    )
