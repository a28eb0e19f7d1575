"""The shelf detector's classes: what a camera must tell apart to decide each lane.

Containers are detected by *kind* (bottle, can, carton), not by SKU, so one model serves
every store description; which SKU a container is comes from its colours compared with the
store's SKU colours (:mod:`restock.vision.lanes`). ``empty_front`` is the visible front slot
of a lane with nothing in it: positive evidence of a gap, so a lane with no detection at all
(hidden by a hand, out of focus) stays unknown instead of empty.

This list is the contract of every YOLO dataset the project reads or writes (simulator
renders, a store's own photos, operator labels from teleop): a label line is
``class_id cx cy w h`` with coordinates normalised to the image, class_id an index here.
Append new classes at the end; never reorder (shipped models and datasets use the indices).
"""

from __future__ import annotations

CLASSES: tuple[str, ...] = (
    "bottle",  # 0: a known container, by kind
    "can",  # 1
    "carton",  # 2
    "empty_front",  # 3: a lane's front slot with no container in it
    "unfamiliar_item",  # 4: an item that is no SKU of the store (or an operator said "foreign_item")
    "hand",  # 5: a customer's hand or arm in view
    "obstruction",  # 6: something blocking a lane front (a box, a bag, a fallen item lying across)
)

CLASS_ID: dict[str, int] = {name: i for i, name in enumerate(CLASSES)}
CONTAINER_KINDS: tuple[str, ...] = ("bottle", "can", "carton")
CONTAINER_IDS: frozenset[int] = frozenset(CLASS_ID[k] for k in CONTAINER_KINDS)
EMPTY_FRONT, UNFAMILIAR_ITEM, HAND, OBSTRUCTION = (
    CLASS_ID["empty_front"],
    CLASS_ID["unfamiliar_item"],
    CLASS_ID["hand"],
    CLASS_ID["obstruction"],
)

# The label an operator gives an unfamiliar item when it is nothing the store sells.
FOREIGN_ITEM_LABEL = "foreign_item"


def class_for_label(label: str, sku_kinds: dict[str, str]) -> int:
    """The class id for an operator's label: a SKU id (mapped to its kind) or ``foreign_item``.

    ``sku_kinds`` maps the store's SKU ids to their kind, e.g.
    ``{sku_id: sku.kind for sku_id, sku in store.skus.items()}``. A class name itself
    (``"hand"``, ``"obstruction"``...) is accepted too. Raises ValueError for anything else.
    """
    if label == FOREIGN_ITEM_LABEL:
        return UNFAMILIAR_ITEM
    if label in sku_kinds:
        return CLASS_ID[sku_kinds[label]]
    if label in CLASS_ID:
        return CLASS_ID[label]
    raise ValueError(
        f"label {label!r} is neither a SKU of this store ({sorted(sku_kinds)}), "
        f"{FOREIGN_ITEM_LABEL!r}, nor a class ({list(CLASSES)})"
    )


def yolo_label_line(class_id: int, box_xyxy: tuple[float, float, float, float], width: int, height: int) -> str:
    """One YOLO label line for a pixel box (x1, y1, x2, y2) in an image of width x height.

    The box is clipped to the image; a box with no area left raises ValueError.
    """
    if not 0 <= class_id < len(CLASSES):
        raise ValueError(f"class id {class_id} is not in 0..{len(CLASSES) - 1}")
    x1, y1, x2, y2 = box_xyxy
    x1, x2 = max(0.0, min(x1, x2)), min(float(width), max(x1, x2))
    y1, y2 = max(0.0, min(y1, y2)), min(float(height), max(y1, y2))
    if x2 - x1 <= 0 or y2 - y1 <= 0:
        raise ValueError(f"box {box_xyxy} has no area inside a {width}x{height} image")
    cx, cy = (x1 + x2) / 2 / width, (y1 + y2) / 2 / height
    w, h = (x2 - x1) / width, (y2 - y1) / height
    return f"{class_id} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}"
