"""The arm's solid parts and where on a container it grips: one source for the simulator's geometry
(restock.sim.mjcf) and the safety envelope's body model (restock.motion.envelope). Pure.

Frames are those of :mod:`restock.motion.kinematics`: every part hangs off the arm plane, the
horizontal plane through the grasp centre (z = base_height + lift_z), at the heights below; "along"
is along the tool from the wrist axis, "across" is across it.

- upper arm and forearm: horizontal capsules along their links, above the arm plane;
- wrist shaft: a vertical cylinder on the wrist axis, above the arm plane;
- palm: a bar across the tool that carries the fingers, behind the held container;
- fingers: two plates reaching forward from the palm along the tool, either side of the container,
  their inner faces ``opening / 2`` from the tool axis (``opening`` is the gap between them, what
  the gripper reports).

So only the fingers and the held container enter a lane's back slot; the palm, the wrist and the
links stay behind the case's back plane, and the arm never reaches over the containers beside the
lane (a cooler's shelves leave little room above its tallest container). The grip height: at a
container's centre, raised where the fingers would brush the lane's dividers
(:func:`grasp_offsets`), the same at the back-room pick and at the lane (the container does not move
in the hand).
"""

from __future__ import annotations

from dataclasses import dataclass

from restock.store.description import Robot, Store

# The fingers pass this far over the lane dividers (m).
FINGER_CLEARANCE = 0.008
# The fingers must close over at least this much of a container's height (m).
MIN_GRIP = 0.03
# Behind the held container's back the palm keeps this gap (m).
PALM_GAP = 0.004


@dataclass(frozen=True)
class ArmShape:
    """Sizes (m) of the arm's parts; heights are above the arm plane."""

    upper_arm_radius: float = 0.03
    upper_arm_z: float = 0.045
    forearm_radius: float = 0.025
    forearm_z: float = 0.1
    wrist_radius: float = 0.018
    wrist_z: tuple[float, float] = (0.02, 0.15)
    palm_half: tuple[float, float, float] = (0.015, 0.061, 0.0125)  # along, across, up
    palm_centre: tuple[float, float] = (-0.015, 0.0325)  # along, up
    finger_half: tuple[float, float, float] = (0.05, 0.003, 0.02)  # along, across, up
    finger_centre: float = 0.05  # along

    @classmethod
    def of(cls, robot: Robot) -> ArmShape:
        """The shape of ``robot``: fingers from 6 cm behind the grasp centre to 4 cm past it, the
        palm behind them spanning their widest opening (5 mm to spare) and reaching back past the
        wrist axis."""
        lt = robot.tool_length
        finger_back, finger_front = lt - 0.06, lt + 0.04
        palm_back = min(finger_back - 0.03, -0.01)
        across = robot.gripper.max_opening / 2 + 2 * cls.finger_half[1] + 0.005
        return cls(
            palm_half=((finger_back - palm_back) / 2, across, cls.palm_half[2]),
            palm_centre=((finger_back + palm_back) / 2, cls.finger_half[2] + cls.palm_half[2]),
            finger_centre=(finger_back + finger_front) / 2,
        )

    @property
    def finger_back(self) -> float:
        """Where the fingers start (the palm's front), along the tool from the wrist axis."""
        return self.finger_centre - self.finger_half[0]

    def max_depth(self, tool_length: float) -> float:
        """The deepest container (along the tool) the fingers hold without it touching the palm."""
        return 2 * (tool_length - self.finger_back - PALM_GAP)


def grasp_offsets(store: Store) -> dict[str, float]:
    """How far above a container's centre the grasp centre sits, per SKU (m): 0, or enough for the
    fingers to pass over the dividers of the SKU's lanes."""
    fingers_low = ArmShape.of(store.robot).finger_half[2]
    offsets = dict.fromkeys(store.skus, 0.0)
    for lv in store.lanes:
        need = lv.row.divider_height + FINGER_CLEARANCE + fingers_low - lv.sku.height / 2
        offsets[lv.lane.sku] = max(offsets[lv.lane.sku], need)
    return offsets


def grip_problems(store: Store) -> list[tuple[str, str]]:
    """(key, why) for every SKU the arm cannot hold: too deep for its fingers, or too short to hold
    over its lanes' dividers."""
    shape = ArmShape.of(store.robot)
    deepest = shape.max_depth(store.robot.tool_length)
    found = []
    for sku_id, offset in grasp_offsets(store).items():
        sku = store.skus[sku_id]
        if sku.along > deepest + 1e-9:
            found.append(
                (
                    f"skus.{sku_id}",
                    f"{sku_id} is {sku.along} m deep: the gripper's fingers hold containers up to {deepest:.3f} m deep",
                )
            )
        grip = sku.height / 2 - (offset - shape.finger_half[2])
        if grip < MIN_GRIP - 1e-9:
            found.append(
                (
                    f"skus.{sku_id}",
                    f"{sku_id} ({sku.height} m tall) cannot be held over its lanes' dividers: the fingers would"
                    f" close over {max(grip, 0.0):.3f} m of it, at least {MIN_GRIP} m is needed (lower dividers)",
                )
            )
    return found
