"""The robot: camera, planner, arm and teleop nodes beside the hardware drivers (camera driver, ros2_control).

Built from config/graph.yaml by restock.graph.launch, the same description `restock up --profile robot` reads.
Usage: ros2 launch restock robot.launch.py store:=corner_store.yaml namespace:=/
"""

from restock.graph.launch import launch_description


def generate_launch_description():  # launch's entry point
    return launch_description("robot")
