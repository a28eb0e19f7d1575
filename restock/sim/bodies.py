"""The simulator's scene: the MuJoCo bodies the world shows and hides, and what each one is. No rclpy.

The model (restock.sim.mjcf) holds a fixed pool of mocap bodies: spare containers of every SKU,
unfamiliar items, obstruction boxes and customers' hands, parked out of sight in a hidden geom
group. :class:`Bodies` hands them out and takes them back, places them and says what a body is
(:class:`ObjectInfo`); ``dirty`` tells the cameras that the kinematics must be recomputed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import mujoco
import numpy as np

from restock.sim.mjcf import HIDDEN_GROUP, PARK_Z, Layout
from restock.store.description import Store

ItemKind = Literal["container", "unfamiliar", "obstruction"]
ObjectKind = Literal[
    "container", "unfamiliar_item", "obstruction", "hand", "robot", "shelf", "case", "stock", "floor", "other"
]


@dataclass(frozen=True)
class ObjectInfo:
    """What one object (a MuJoCo body) is right now."""

    id: int  # the body id; segmentation pixels carry it
    kind: ObjectKind
    sku: str | None = None  # containers
    container_kind: str | None = None  # bottle, can, carton
    lane_id: str | None = None  # in a lane's column
    slot: int | None = None  # index from the lane's front (0: what a customer sees)
    stock_location: str | None = None
    held: bool = False
    corridor: bool = False  # an obstruction in the arm's corridor

    @property
    def label(self) -> str | None:
        """The vision class name (restock.vision.classes) of this object, or None for scenery."""
        if self.kind == "container":
            return self.container_kind
        if self.kind in ("unfamiliar_item", "obstruction", "hand"):
            return self.kind
        return None


@dataclass
class Item:
    """A body in use as a thing on a shelf, in the back room, in the corridor or in the gripper."""

    kind: ItemKind
    body: int  # body id
    mocap: int
    pitch: float  # length along the lane (m)
    height: float
    across: float
    sku: str | None = None
    yaw: float = 0.0
    stuck: str | None = None  # in a lane, "jammed" or "tipped": it did not slide home and lies at ``pose``
    pose: tuple[tuple[float, float, float], tuple[float, float, float, float]] | None = None

    @property
    def what(self) -> str:
        """The SKU id of a container, else its kind: how lanes are written in checkpoints and ground truth."""
        return self.sku if self.kind == "container" else self.kind  # type: ignore[return-value]


class Bodies:
    """The pools of spare bodies and the placing, hiding and naming of bodies.

    ``rng`` is the world's (foreign items draw their shapes and colours from it).
    """

    def __init__(
        self, store: Store, model: mujoco.MjModel, data: mujoco.MjData, layout: Layout, rng: np.random.Generator
    ) -> None:
        self.store = store
        self.model = model
        self.data = data
        self.rng = rng
        self.dirty = True  # the bodies moved since the cameras last computed the kinematics
        self.free: dict[str, list[int]] = {sku: [self.body(n) for n in names] for sku, names in layout.items.items()}
        self.free_unfamiliar = [self.body(n) for n in layout.unfamiliar]
        self.unfamiliar_bodies = np.array(self.free_unfamiliar)
        self.free_obstruction = [self.body(n) for n in layout.obstructions]
        self.free_hands = [self.body(n) for n in layout.hands]
        self.geoms: dict[int, list[int]] = {}
        for g in range(model.ngeom):
            self.geoms.setdefault(int(model.geom_bodyid[g]), []).append(g)
        self.static_kind: dict[int, ObjectKind] = {0: "floor"}
        for name, kind in (("case", "case"), ("shelves", "shelf"), ("stock_rack", "stock")):
            self.static_kind[self.body(name)] = kind
        for name in ("carriage", "lift", "upper_arm", "forearm", "tool", "finger_l", "finger_r"):
            self.static_kind[self.body(name)] = "robot"

    def body(self, name: str) -> int:
        bid = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_BODY, name)
        if bid < 0:
            raise KeyError(f"no body {name!r} in the model")
        return int(bid)

    def new_container(self, sku_id: str) -> Item:
        pool = self.free[sku_id]
        if not pool:
            raise RuntimeError(f"no spare {sku_id} body left in the model")
        body = pool.pop()
        sku = self.store.skus[sku_id]
        return Item("container", body, int(self.model.body_mocapid[body]), sku.along, sku.height, sku.across, sku_id)

    def new_unfamiliar(self) -> Item:
        if not self.free_unfamiliar:
            raise RuntimeError("all unfamiliar-item bodies are in use")
        body = self.free_unfamiliar.pop()
        # Each placement is a different-looking thing: shape sizes and colours from the seed.
        g_a, g_b = self.geoms[body][:2]
        across = float(self.rng.uniform(0.035, 0.06))
        height = float(self.rng.uniform(0.06, 0.13))
        m = self.model
        m.geom_size[g_a] = [across / 2, across / 2, height * 0.35]
        m.geom_pos[g_a] = [0, 0, -height * 0.15]
        m.geom_size[g_b] = [across * 0.45, 0, 0]
        m.geom_pos[g_b] = [0, 0, height * 0.25]
        m.geom_rgba[g_a, :3] = self.rng.uniform(0.05, 1.0, 3)
        m.geom_rgba[g_b, :3] = self.rng.uniform(0.05, 1.0, 3)
        return Item("unfamiliar", body, int(m.body_mocapid[body]), across, height, across)

    def new_obstruction(self, size: tuple[float, float, float]) -> Item:
        if not self.free_obstruction:
            raise RuntimeError("all obstruction bodies are in use")
        body = self.free_obstruction.pop()
        g_box, g_tape = self.geoms[body][:2]
        sx, sy, sz = size
        self.model.geom_size[g_box] = [sx / 2, sy / 2, sz / 2]
        self.model.geom_size[g_tape] = [sx / 2 + 0.001, min(0.012, sy / 4), sz / 2 + 0.001]
        return Item("obstruction", body, int(self.model.body_mocapid[body]), sy, sz, sx)

    def show(self, body: int, pos: Sequence[float], quat: Sequence[float] = (1, 0, 0, 0)) -> None:
        """Place a body (its mocap) and make it visible."""
        mocap = int(self.model.body_mocapid[body])
        self.data.mocap_pos[mocap] = pos
        self.data.mocap_quat[mocap] = quat
        self.unhide(body)

    def unhide(self, body: int) -> None:
        for g in self.geoms[body]:
            self.model.geom_group[g] = 0
        self.dirty = True

    def park(self, body: int) -> None:
        mocap = int(self.model.body_mocapid[body])
        self.data.mocap_pos[mocap] = [0, 0, PARK_Z]
        for g in self.geoms[body]:
            self.model.geom_group[g] = HIDDEN_GROUP
        self.dirty = True

    def release(self, item: Item) -> None:
        """Park an item's body and give it back to its pool."""
        self.park(item.body)
        if item.kind == "container":
            self.free[item.sku].append(item.body)  # type: ignore[index]
        elif item.kind == "unfamiliar":
            self.free_unfamiliar.append(item.body)
        else:
            self.free_obstruction.append(item.body)

    def info(self, item: Item, **where: object) -> ObjectInfo:
        """What an item is, with where it is (lane_id and slot, stock_location, held)."""
        if item.kind == "container":
            sku = self.store.skus[item.sku]  # type: ignore[index]
            return ObjectInfo(item.body, "container", sku=item.sku, container_kind=sku.kind, **where)  # type: ignore[arg-type]
        kind: ObjectKind = "unfamiliar_item" if item.kind == "unfamiliar" else "obstruction"
        return ObjectInfo(item.body, kind, **where)  # type: ignore[arg-type]


Log = Callable[..., None]  # the world's log(kind, lane_id=None, sku=None, detail=""): one SimEvent at sim time now


@dataclass(frozen=True)
class Shared:
    """What the world lends each of its pieces: the store, the scene's bodies, the world's seeded
    rng (one stream, so the order of draws is part of a seeded run), its event log and its clock."""

    store: Store
    bodies: Bodies
    rng: np.random.Generator
    log: Log
    clock: Callable[[], float]  # sim time now (epoch s)


class Piece:
    """A part of the world (shelves, customers, incidents, robot), built on what it shares."""

    def __init__(self, shared: Shared) -> None:
        self.shared = shared
        self.store = shared.store
        self.bodies = shared.bodies
        self.rng = shared.rng
        self.log = shared.log
        self.clock = shared.clock
