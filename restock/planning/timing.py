"""How long the robot takes: rail travel from the store description, handling from measured cycles.

One container is one round trip: pick at the SKU's back-room location, travel the rail to the
lane, place, travel back. Rail travel is a trapezoidal (acceleration-limited) profile with the
rail joint's limits; the rest (lift, arm swing, grasp, release) is ``handling_s`` per
container, a figure the planner updates from the arm controller's measured cycle times.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from restock.store.description import Store


def rail_travel_s(distance: float | np.ndarray, v_max: float, a_max: float) -> np.ndarray:
    """Time for a rest-to-rest move of ``distance`` m with a trapezoidal velocity profile."""
    d = np.abs(np.asarray(distance, dtype=float))
    d_ramp = v_max * v_max / a_max  # distance to reach v_max and stop again
    short = 2.0 * np.sqrt(d / a_max)
    long = d / v_max + v_max / a_max
    return np.where(d < d_ramp, short, long)


@dataclass
class RobotTiming:
    """Seconds for a task: ``setup_s`` once plus ``cycle_s[lane]`` per container."""

    rail_v: float
    rail_a: float
    handling_s: float = 12.0  # lift, swing, grasp, place and back per container (measured cycles update it)
    setup_s: float = 3.0  # start-up of a task: fetch the task, check the lane, first approach

    @classmethod
    def for_store(cls, store: Store, handling_s: float = 12.0, setup_s: float = 3.0) -> RobotTiming:
        rail = store.robot.joint("rail_x")
        return cls(rail_v=rail.max_velocity, rail_a=rail.max_acceleration, handling_s=handling_s, setup_s=setup_s)

    def cycle_s(self, lane_x: float | np.ndarray, stock_x: float | np.ndarray) -> np.ndarray:
        """Seconds per container between a stock location and a lane (round trip)."""
        return self.handling_s + 2.0 * rail_travel_s(np.asarray(lane_x) - np.asarray(stock_x), self.rail_v, self.rail_a)

    def task_s(self, lane_x: float, stock_x: float, quantity: int, from_x: float | None = None) -> float:
        approach = 0.0 if from_x is None else float(rail_travel_s(stock_x - from_x, self.rail_v, self.rail_a))
        return self.setup_s + approach + quantity * float(self.cycle_s(lane_x, stock_x))

    def observe_cycle(self, measured_s: float, lane_x: float, stock_x: float, quantity: int, gain: float = 0.2) -> None:
        """Move ``handling_s`` towards a measured task duration (exponential average)."""
        if quantity <= 0 or not math.isfinite(measured_s) or measured_s <= 0:
            return
        travel = 2.0 * float(rail_travel_s(lane_x - stock_x, self.rail_v, self.rail_a))
        per_container = max(0.5, (measured_s - self.setup_s) / quantity - travel)
        self.handling_s = (1 - gain) * self.handling_s + gain * per_container
