"""The simulated store: the MuJoCo simulator with every node of the stack on sim time.

Built from config/graph.yaml by restock.graph.launch, the same description `restock up --profile sim` reads.
Usage: ros2 launch restock sim.launch.py store:=corner_store.yaml namespace:=/
"""

from restock.graph.launch import launch_description


def generate_launch_description():  # launch's entry point
    return launch_description("sim")
