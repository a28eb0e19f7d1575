"""The teleop bridge alone, for an operator station.

Built from config/graph.yaml by restock.graph.launch, the same description `restock up --profile teleop` reads.
Usage: ros2 launch restock teleop.launch.py store:=corner_store.yaml namespace:=/
"""

from restock.graph.launch import launch_description


def generate_launch_description():  # launch's entry point
    return launch_description("teleop")
