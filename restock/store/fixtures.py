"""The store's fixed boxes the arm could touch, sized from its description: the case's frame (side
walls, top, sign, plinth), the rail and the back-room rack. One source for the simulator's geometry
(restock.sim.mjcf) and the safety envelope's keep-out solids (restock.motion.envelope). Pure.

The case's frame reaches 4 cm behind the case's back plane, so it is in the arm's way where a
keep-out box drawn at the back plane would not be.
"""

from __future__ import annotations

from dataclasses import dataclass

from restock.store.description import Store

FRAME_OVERHANG = 0.04  # m: the frame's reach behind the back plane and past the shelves' front


@dataclass(frozen=True)
class Solid:
    """An axis-aligned box."""

    name: str
    centre: tuple[float, float, float]
    half: tuple[float, float, float]

    @property
    def lo(self) -> tuple[float, float, float]:
        return (self.centre[0] - self.half[0], self.centre[1] - self.half[1], self.centre[2] - self.half[2])

    @property
    def hi(self) -> tuple[float, float, float]:
        return (self.centre[0] + self.half[0], self.centre[1] + self.half[1], self.centre[2] + self.half[2])


def case_top_z(store: Store) -> float:
    """Height of the underside of the case's top."""
    return max(r.height + r.clearance for r in store.case.rows) + 0.05


def case_frame(store: Store) -> list[Solid]:
    """Side walls, top, sign and plinth of the case (its back is open: the robot loads from behind)."""
    case = store.case
    depth = max(r.depth for r in case.rows)
    front_y = case.back_y + depth
    top_z = case_top_z(store)
    half_w = (case.x_max - case.x_min) / 2
    xmid = (case.x_min + case.x_max) / 2
    ymid, half_d = case.back_y + depth / 2, depth / 2 + FRAME_OVERHANG
    low = min(r.height for r in case.rows)
    return [
        Solid("case_wall_l", (case.x_min - 0.03, ymid, top_z / 2), (0.02, half_d, top_z / 2)),
        Solid("case_wall_r", (case.x_max + 0.03, ymid, top_z / 2), (0.02, half_d, top_z / 2)),
        Solid("case_top", (xmid, ymid, top_z + 0.03), (half_w + 0.05, half_d, 0.03)),
        Solid("case_sign", (xmid, front_y + 0.04, top_z), (half_w + 0.05, 0.01, 0.06)),
        Solid("case_plinth", (xmid, ymid, (low - 0.05) / 2), (half_w + 0.05, half_d, (low - 0.05) / 2)),
    ]


def rail(store: Store) -> Solid:
    joint = store.robot.joint("rail_x")
    return Solid(
        "rail",
        ((joint.upper + joint.lower) / 2, store.robot.rail_y, 0.02),
        ((joint.upper - joint.lower) / 2 + 0.15, 0.04, 0.02),
    )


def stock_rack(store: Store) -> list[Solid]:
    """A 2 cm board under each stock height (its top at that height) and the rack's back."""
    xs = [loc.x for loc in store.stock.locations]
    half_w, x = (max(xs) - min(xs) + 0.4) / 2, (max(xs) + min(xs)) / 2
    y = store.stock.y
    boards = [
        Solid(f"rack_{k}", (x, y - 0.2, z - 0.01), (half_w, 0.2, 0.01))
        for k, z in enumerate(sorted({loc.z for loc in store.stock.locations}))
    ]
    return [*boards, Solid("rack_back", (x, y - 0.41, 0.6), (half_w, 0.01, 0.6))]
