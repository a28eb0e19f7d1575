"""Foreign YOLO datasets: other people's labelled shelf photos, read with a class map onto ours.

A public set names its classes its own way (``empty``, ``Empty-space``, ``void``, ``product``) and
often labels only some of ours (an empty-regions-only set says nothing of the containers around
the gaps). ``--class-map 'empty=empty_front,product=bottle'`` maps each foreign name onto one of
:data:`restock.vision.classes.CLASSES`; foreign classes left out are dropped, and the map says
which. Our classes no foreign class maps onto are *unlabelled* in that dataset: a box of theirs
is neither right nor wrong there (evaluation leaves them out of mAP; training fills them with
pseudo-labels from the shipped model, see :func:`write_training_copy`).

Layouts read: Ultralytics' (``data.yaml`` with ``names`` and ``train``/``val``/``test`` paths,
``images/<split>`` + ``labels/<split>``) and Roboflow's export (``<split>/images`` +
``<split>/labels``, ``valid`` for ``val``, paths like ``../train/images`` in data.yaml). Label
lines are ``class cx cy w h`` normalised, or a polygon ``class x1 y1 x2 y2 ...`` (its bounding
box is used); a malformed line is an error naming the file and line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from restock.vision.classes import CLASS_ID, CLASSES

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
SPLIT_ALIASES = {"val": ("val", "valid", "validation"), "valid": ("valid", "val"), "train": ("train",),
                 "test": ("test",)}  # fmt: skip
# Roboflow names each exported copy of a photo NAME_jpg.rf.<hash>.jpg (augmented copies too).
_ROBOFLOW_COPY = re.compile(r"\.rf\.[0-9a-f]{16,}$")


class ForeignDataError(ValueError):
    """A dataset, label file or class map that cannot be read; the message names the file or key."""


@dataclass(frozen=True)
class ClassMap:
    """Foreign class ids onto ours; ``dropped``: the foreign names mapped to nothing."""

    foreign_names: tuple[str, ...]
    to_ours: dict[int, int]
    dropped: tuple[str, ...]

    @property
    def labelled(self) -> frozenset[int]:
        """Our classes this dataset labels (all others are unlabelled in it)."""
        return frozenset(self.to_ours.values())

    def describe(self) -> str:
        pairs = ", ".join(f"{self.foreign_names[f]} -> {CLASSES[o]}" for f, o in sorted(self.to_ours.items()))
        unlabelled = [CLASSES[c] for c in range(len(CLASSES)) if c not in self.labelled]
        return (
            f"class map: {pairs}; dropped (not mapped): {list(self.dropped) or 'none'}; "
            f"unlabelled in this dataset (left out of its figures): {unlabelled}"
        )


def identity_map() -> ClassMap:
    return ClassMap(CLASSES, {i: i for i in range(len(CLASSES))}, ())


def parse_class_map(text: str, foreign_names: Sequence[str]) -> ClassMap:
    """``'empty=empty_front,product=bottle'`` against a dataset's class names.

    A foreign name matches exactly, else case-insensitively; ours must be one of CLASSES. Every
    error names the pair and lists what would have been accepted."""
    names = tuple(str(n) for n in foreign_names)
    lowered: dict[str, list[int]] = {}
    for i, n in enumerate(names):
        lowered.setdefault(n.lower(), []).append(i)
    to_ours: dict[int, int] = {}
    for raw in (p.strip() for p in text.split(",")):
        if not raw:
            continue
        if raw.count("=") != 1:
            raise ForeignDataError(f"class map: {raw!r} is not FOREIGN=OURS (e.g. 'empty=empty_front')")
        theirs, ours = (s.strip() for s in raw.split("="))
        if ours not in CLASS_ID:
            raise ForeignDataError(f"class map: {raw!r}: {ours!r} is not one of restock's classes {list(CLASSES)}")
        ids = [names.index(theirs)] if theirs in names else lowered.get(theirs.lower(), [])
        if len(ids) != 1:
            why = "is not" if not ids else "matches several of"
            raise ForeignDataError(f"class map: {raw!r}: {theirs!r} {why} the dataset's classes {list(names)}")
        if ids[0] in to_ours:
            raise ForeignDataError(f"class map: {theirs!r} is mapped twice")
        to_ours[ids[0]] = CLASS_ID[ours]
    if not to_ours:
        raise ForeignDataError(f"class map {text!r} maps nothing; the dataset's classes are {list(names)}")
    dropped = tuple(n for i, n in enumerate(names) if i not in to_ours)
    return ClassMap(names, to_ours, dropped)


def _data_yaml(root: Path) -> Path | None:
    if root.is_file() and root.suffix in (".yaml", ".yml"):
        return root
    for name in ("data.yaml", "data.yml", "dataset.yaml"):
        if (root / name).is_file():
            return root / name
    return None


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ForeignDataError(f"{path}: cannot read: {err}") from None
    if not isinstance(data, dict):
        raise ForeignDataError(f"{path}: not a mapping of keys (names, train, val ...)")
    return data


def dataset_names(root: Path) -> tuple[str, ...]:
    """A dataset's class names: data.yaml ``names`` (list or {id: name}) or a classes.txt."""
    data_yaml = _data_yaml(root)
    if data_yaml is not None:
        names = _read_yaml(data_yaml).get("names")
        if isinstance(names, dict):
            try:
                return tuple(str(names[k]) for k in sorted(names, key=int))
            except (TypeError, ValueError):
                raise ForeignDataError(f"{data_yaml}: names keys must be class ids, got {list(names)}") from None
        if isinstance(names, list) and names:
            return tuple(str(n) for n in names)
        raise ForeignDataError(f"{data_yaml}: no 'names' list of classes")
    folder = root if root.is_dir() else root.parent
    classes_txt = folder / "classes.txt"
    if classes_txt.is_file():
        return tuple(line.strip() for line in classes_txt.read_text().splitlines() if line.strip())
    raise ForeignDataError(f"{root}: no data.yaml or classes.txt naming its classes")


def split_folder(root: Path, split: str) -> Path:
    """The image folder of ``split`` (val, valid, train, test) in either layout."""
    data_yaml = _data_yaml(root)
    base = data_yaml.parent if data_yaml is not None else root
    tried: list[Path] = []
    if data_yaml is not None:
        data = _read_yaml(data_yaml)
        if data.get("path"):
            p = Path(str(data["path"]))
            base = p if p.is_absolute() else data_yaml.parent / p
        for key in SPLIT_ALIASES.get(split, (split,)):
            entry = data.get(key)
            entry = entry[0] if isinstance(entry, list) and entry else entry
            if not entry:
                continue
            p = Path(str(entry))
            # Roboflow writes ../train/images beside a data.yaml that sits in the dataset's root.
            for cand in (p, base / p, data_yaml.parent / p, data_yaml.parent / str(entry).removeprefix("../")):
                tried.append(cand)
                if cand.is_dir():
                    return cand
    for key in SPLIT_ALIASES.get(split, (split,)):
        for cand in (base / "images" / key, base / key / "images"):
            tried.append(cand)
            if cand.is_dir():
                return cand
    raise ForeignDataError(f"{root}: no image folder for split {split!r} (tried {[str(t) for t in tried[:6]]})")


def split_images(root: Path, split: str) -> list[Path]:
    folder = split_folder(root, split)
    images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise ForeignDataError(f"{folder}: no images")
    return images


def label_path(image: Path) -> Path:
    """labels/ beside images/ (the last 'images' folder in the path), same stem, .txt."""
    parts = list(image.parts)
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            return Path(*parts).with_suffix(".txt")
    return image.with_suffix(".txt")


def source_photo(image: Path) -> str:
    """The photo an image was made from: Roboflow's copies of one photo share it, so they stay in
    one split."""
    return _ROBOFLOW_COPY.sub("", image.stem)


def read_label_file(path: Path, n_classes: int, class_map: ClassMap | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Class ids (N,) and normalised boxes (N, 4: cx cy w h) of a YOLO label file; a missing file
    is an image with no objects. With ``class_map`` ids are ours and unmapped classes are dropped.
    ForeignDataError names the file and line of anything malformed."""
    if not path.is_file():
        return np.zeros(0, np.int64), np.zeros((0, 4))
    ids: list[int] = []
    boxes: list[tuple[float, float, float, float]] = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        where = f"{path}:{lineno}"
        if len(fields) < 5 or (len(fields) > 5 and len(fields) % 2 == 0):
            raise ForeignDataError(f"{where}: {line.strip()!r} is neither 'class cx cy w h' nor a polygon")
        try:
            cls = int(fields[0])
            values = [float(v) for v in fields[1:]]
        except ValueError:
            raise ForeignDataError(f"{where}: {line.strip()!r} has a field that is not a number") from None
        if not 0 <= cls < n_classes:
            raise ForeignDataError(f"{where}: class {cls} is not in 0..{n_classes - 1}")
        if not all(np.isfinite(values)) or min(values) < -0.01 or max(values) > 1.01:
            raise ForeignDataError(f"{where}: coordinates {fields[1:]} are not normalised to 0..1")
        if len(values) == 4:
            cx, cy, w, h = values
        else:  # polygon: its bounding box
            xs, ys = values[0::2], values[1::2]
            cx, cy, w, h = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2, max(xs) - min(xs), max(ys) - min(ys)
        if w <= 0 or h <= 0:
            raise ForeignDataError(f"{where}: box {fields[1:]} has no area")
        if class_map is not None:
            if cls not in class_map.to_ours:
                continue
            cls = class_map.to_ours[cls]
        ids.append(cls)
        boxes.append((cx, cy, w, h))
    return np.asarray(ids, np.int64), np.asarray(boxes, float).reshape(-1, 4)


def to_pixels(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """Normalised cx cy w h -> pixel x1 y1 x2 y2."""
    cx, cy, w, h = boxes[:, 0] * width, boxes[:, 1] * height, boxes[:, 2] * width, boxes[:, 3] * height
    return np.column_stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])


@dataclass(frozen=True)
class ForeignDataset:
    """A dataset folder read through a class map (the identity for one in our own classes)."""

    root: Path
    class_map: ClassMap

    @classmethod
    def open(cls, root: Path, class_map_text: str | None) -> ForeignDataset:
        names = dataset_names(root)
        if class_map_text:
            return cls(root, parse_class_map(class_map_text, names))
        if tuple(names) != CLASSES[: len(names)]:
            raise ForeignDataError(
                f"{root}: classes {list(names)} are not restock's {list(CLASSES)}; give --class-map "
                "FOREIGN=OURS,... (e.g. 'empty=empty_front')"
            )
        return cls(root, identity_map())

    def images(self, splits: Sequence[str]) -> list[Path]:
        out: list[Path] = []
        for split in splits:
            out += split_images(self.root, split)
        return out

    def labels(self, image: Path) -> tuple[np.ndarray, np.ndarray]:
        return read_label_file(label_path(image), len(self.class_map.foreign_names), self.class_map)


def pseudo_labels(
    teacher, rgb: np.ndarray, classes: frozenset[int], truth: np.ndarray, conf: float, max_iou: float = 0.3
) -> tuple[np.ndarray, np.ndarray]:
    """The teacher's boxes (normalised cx cy w h) of ``classes`` scoring ``conf`` or more that do
    not overlap a truth box (IoU above ``max_iou``: the dataset said what is there)."""
    from restock.vision.detector import box_iou

    h, w = rgb.shape[:2]
    dets = teacher.detect(rgb)
    keep = np.isin(dets.class_ids, sorted(classes)) & (dets.scores >= conf)
    boxes, ids = dets.boxes[keep], dets.class_ids[keep]
    if len(boxes) and len(truth):
        keep = box_iou(boxes, to_pixels(truth, w, h)).max(axis=1) <= max_iou
        boxes, ids = boxes[keep], ids[keep]
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2 / w, (boxes[:, 1] + boxes[:, 3]) / 2 / h
    bw, bh = (boxes[:, 2] - boxes[:, 0]) / w, (boxes[:, 3] - boxes[:, 1]) / h
    return ids.astype(np.int64), np.column_stack([cx, cy, bw, bh]).reshape(-1, 4)


def write_training_copy(
    dataset: ForeignDataset,
    out: Path,
    split: str = "train",
    teacher=None,
    pseudo_classes: frozenset[int] = frozenset(),
    pseudo_conf: float = 0.5,
    log=print,
    shifted_copies: int = 0,
    seed: int = 0,
) -> dict:
    """The ``split`` of a foreign dataset as a YOLO dataset in our classes, all for training:
    ``out/images/train`` (links to the photos), ``out/labels/train`` (mapped labels plus, for
    ``pseudo_classes`` the dataset does not label, the ``teacher``'s confident boxes) and
    ``out/data.yaml``. ``shifted_copies``: that many more copies of each photo under a random
    camera and light (restock.vision.imaging; photometric only, so the same labels hold), for a
    set of one store's photos to teach less of that store's look. Returns counts for the model card."""
    from PIL import Image

    from restock.vision.dataset import write_data_yaml
    from restock.vision.imaging import apply_shift, random_shift

    images = dataset.images([split])
    img_dir, lbl_dir = out / "images" / "train", out / "labels" / "train"
    img_dir.mkdir(parents=True, exist_ok=True)
    lbl_dir.mkdir(parents=True, exist_ok=True)
    pseudo = frozenset(c for c in pseudo_classes if c not in dataset.class_map.labelled) if teacher else frozenset()
    counts = {"images": len(images) * (1 + shifted_copies), "photos": len({source_photo(p) for p in images}),
              "labels": dict.fromkeys(CLASSES, 0), "pseudo_labels": dict.fromkeys(CLASSES, 0)}  # fmt: skip
    for k, image in enumerate(images):
        link = img_dir / image.name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(image.resolve())
        ids, boxes = dataset.labels(image)
        lines = [f"{c} {b[0]:.6f} {b[1]:.6f} {b[2]:.6f} {b[3]:.6f}" for c, b in zip(ids, boxes, strict=True)]
        for c in ids:
            counts["labels"][CLASSES[c]] += 1
        rgb = np.asarray(Image.open(image).convert("RGB")) if pseudo or shifted_copies else None
        if pseudo and rgb is not None:
            p_ids, p_boxes = pseudo_labels(teacher, rgb, pseudo, boxes, pseudo_conf)
            lines += [f"{c} {b[0]:.6f} {b[1]:.6f} {b[2]:.6f} {b[3]:.6f}" for c, b in zip(p_ids, p_boxes, strict=True)]
            for c in p_ids:
                counts["pseudo_labels"][CLASSES[c]] += 1
        text = "\n".join(lines) + ("\n" if lines else "")
        (lbl_dir / f"{image.stem}.txt").write_text(text)
        for j in range(shifted_copies if rgb is not None else 0):
            rng = np.random.default_rng([seed, k, j])
            shifted = apply_shift(rgb, random_shift(rng), rng)
            Image.fromarray(shifted).save(img_dir / f"{image.stem}_shift{j}.jpg", quality=95)
            (lbl_dir / f"{image.stem}_shift{j}.txt").write_text(text)
        if (k + 1) % 100 == 0:
            log(f"[foreign] {k + 1}/{len(images)} images mapped")
    write_data_yaml(out, ("train",))
    return counts
