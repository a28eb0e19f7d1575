"""What to ask of the gripper for one store's items, and what its measured opening says.

The executor's grasp and release checks: fingers closing on an item stop at its width, so the
measured opening tells a grip from a miss, a hand that let go from one still holding, and a
command not yet carried out from one that was. Pure: the store's item sizes and lane widths in,
openings (m) out.
"""

from __future__ import annotations

from dataclasses import dataclass

from restock.motion.envelope import finger_room
from restock.store.arm_shape import ArmShape
from restock.store.description import Store

# A grasp command not yet carried out leaves the fingers within this of the pick opening (m).
UNMOVED_TOLERANCE = 0.003


@dataclass(frozen=True)
class Grip:
    store: Store
    max_opening: float
    min_hold_fraction: float  # of the item's width: fingers stopped wider than this hold it
    grasp_margin: float  # open this much wider than the item before a pick (m)
    release_margin: float  # open this much wider than the item to let go (m)

    def pick_opening(self, sku: str) -> float:
        """Open this wide before a pick, and to let an item go back into the stock."""
        return min(self.store.skus[sku].across + self.grasp_margin, self.max_opening)

    def holds(self, sku: str, opening: float | None) -> bool:
        """After closing on ``sku``: the fingers stopped on it (not shut on nothing)."""
        return opening is not None and opening > self.min_hold_fraction * self.store.skus[sku].across

    def let_go(self, sku: str, opening: float) -> bool:
        """After opening to the pick opening (putting an item back): the fingers left it."""
        return opening >= self.store.skus[sku].across + 0.5 * self.grasp_margin

    def grasp_unmoved(self, sku: str, opening: float) -> bool:
        """The fingers are still at the pick opening: the grasp command has not been carried out yet."""
        return opening >= self.pick_opening(sku) - UNMOVED_TOLERANCE

    def release_opening(self, lane_id: str) -> float:
        """Open this wide to let go in a lane: the item's width and a margin, never so wide that the
        fingers leave the lane's back slot."""
        lane = self.store.lane_by_id[lane_id]
        room = finger_room(lane, self.store, ArmShape.of(self.store.robot))
        return float(min(lane.sku.across + self.release_margin, room, self.max_opening))

    def released_above(self, lane_id: str) -> float:
        """An opening that says the fingers have let go: halfway from the item's width to the release
        opening. Fingers on an item stop at its width, so any fraction of the release opening below
        that width would read a hand still holding as released (the arm then pulled back with the
        item and it fell: 10 drops in a 1,000-container day)."""
        across = self.store.lane_by_id[lane_id].sku.across
        return across + 0.5 * (self.release_opening(lane_id) - across)

    def released(self, lane_id: str, opening: float | None) -> bool:
        """After opening in a lane: the hand let go (no reading counts as let go)."""
        return opening is None or opening >= self.released_above(lane_id)
