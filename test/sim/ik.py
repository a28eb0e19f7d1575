"""A small closed-form IK for the tests (the arm helper's restock.motion is not used here on purpose)."""

from __future__ import annotations

import math

from restock.store.description import Store


def ik(store: Store, x: float, y: float, z: float, yaw: float, elbow_up: bool = True) -> dict[str, float]:
    """Joint positions putting the grasp centre at (x, y, z) with tool yaw, the rail at x."""
    r = store.robot
    wx = -r.tool_length * math.cos(yaw)
    wy = y - r.rail_y - r.tool_length * math.sin(yaw)
    d2 = wx * wx + wy * wy
    c2 = (d2 - r.upper_arm**2 - r.forearm**2) / (2 * r.upper_arm * r.forearm)
    if not -1 <= c2 <= 1:
        raise ValueError(f"({x}, {y}) is out of reach")
    q2 = math.acos(c2) * (1 if elbow_up else -1)
    q1 = math.atan2(wy, wx) - math.atan2(r.forearm * math.sin(q2), r.upper_arm + r.forearm * math.cos(q2))
    q3 = yaw - q1 - q2
    q3 = math.atan2(math.sin(q3), math.cos(q3))
    return {"rail_x": x, "lift_z": z - r.base_height, "shoulder": q1, "elbow": q2, "wrist": q3}
