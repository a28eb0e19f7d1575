"""The shelf detector at run time: an Ultralytics YOLO model exported to ONNX, run with ONNX Runtime.

No torch, no Ultralytics here: pre-processing (letterbox), the model, and post-processing
(confidence threshold, class-aware non-maximum suppression, boxes back to image pixels) are
numpy + Pillow + ONNX Runtime, so the camera nodes stay light.

The ONNX output of a YOLOv8/11 detection head is ``(1, 4 + n_classes, n_anchors)``: box centre
and size in input pixels, then per-class scores (already sigmoid).
"""

from __future__ import annotations

import ast
import functools
import platform
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from restock.vision.classes import CLASSES

LETTERBOX_FILL = 114  # Ultralytics pads with grey 114; train and run time must agree.
# The trained detector (float32, 416x416): what training, the PyTorch rebuild and the model card start from.
DEFAULT_MODEL = Path(__file__).parent / "models" / "shelf_detector.onnx"
# What the cameras run: the same weights at 416x320 in INT8 (restock.vision.quantize; card beside it).
RUNTIME_MODEL = Path(__file__).parent / "models" / "shelf_detector_int8.onnx"
LETTERBOX_GRAPH = Path(__file__).parent / "models" / "letterbox.onnx"  # restock.vision.quantize writes it


def int8_is_exact_here(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether ONNX Runtime's INT8 kernels compute exactly on this CPU. On x86 without VNNI its u8s8
    products go through 16-bit sums that can saturate (its quantisation guide): the INT8 model's
    scores would be wrong there, not just slower. Other CPUs (ARM's dot products) do not saturate."""
    if platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686"):
        return True
    try:
        text = cpuinfo.read_text()
    except OSError:
        return False
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return "avx512_vnni" in flags or "avx_vnni" in flags


def cameras_model() -> Path:
    """The detector the cameras run here: INT8 where it is exact, else the float model it came from."""
    return RUNTIME_MODEL if int8_is_exact_here() else DEFAULT_MODEL


class DetectorError(RuntimeError):
    """A model that cannot be used, or a frame it cannot take; the message says which and why."""


@dataclass(frozen=True)
class Detections:
    """Boxes (N, 4) as x1 y1 x2 y2 in image pixels, scores (N,), class ids (N,)."""

    boxes: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray
    names: tuple[str, ...] = field(default=CLASSES)

    def __len__(self) -> int:
        return len(self.scores)

    @classmethod
    def empty(cls, names: tuple[str, ...] = CLASSES) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64), names)

    def of_class(self, class_id: int) -> Detections:
        keep = self.class_ids == class_id
        return Detections(self.boxes[keep], self.scores[keep], self.class_ids[keep], self.names)


@dataclass(frozen=True)
class Letterbox:
    """How an image was fitted into the model input: scale, then padding (left, top)."""

    scale: float
    pad_x: float
    pad_y: float

    def to_image(self, boxes: np.ndarray, width: int, height: int) -> np.ndarray:
        out = boxes.astype(np.float32).copy()
        out[:, [0, 2]] = (out[:, [0, 2]] - self.pad_x) / self.scale
        out[:, [1, 3]] = (out[:, [1, 3]] - self.pad_y) / self.scale
        out[:, [0, 2]] = out[:, [0, 2]].clip(0, width)
        out[:, [1, 3]] = out[:, [1, 3]].clip(0, height)
        return out


def letterbox(rgb: np.ndarray, input_h: int, input_w: int) -> tuple[np.ndarray, Letterbox]:
    """Resize keeping the aspect ratio and pad to (input_h, input_w); returns NCHW float32 in [0, 1].

    The resize is OpenCV's INTER_LINEAR (bilinear, half-pixel centres, no antialiasing), as
    Ultralytics resizes when it trains, run as a small ONNX Runtime graph (models/letterbox.onnx):
    Pillow's antialiased bilinear took several times longer on a 640x480 frame.
    """
    h, w = rgb.shape[:2]
    scale = min(input_h / h, input_w / w)
    nh, nw = round(h * scale), round(w * scale)
    pad_y, pad_x = (input_h - nh) // 2, (input_w - nw) // 2
    size = np.array([1, 3, nh, nw], np.int64)
    pads = np.array([0, 0, pad_y, pad_x, 0, 0, input_h - nh - pad_y, input_w - nw - pad_x], np.int64)
    frame = np.ascontiguousarray(rgb)[None]
    tensor = _letterbox_session().run(None, {"frame": frame, "size": size, "pads": pads})[0]
    return tensor, Letterbox(scale, float(pad_x), float(pad_y))


@functools.cache
def _letterbox_session():
    # One per process, one thread: it runs on the camera's own thread, beside the models.
    return onnx_session(LETTERBOX_GRAPH, threads=1)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix (len(a), len(b)) of x1 y1 x2 y2 boxes."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    w = (np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])).clip(0)
    h = (np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])).clip(0)
    inter = w * h
    area_a = ((a[:, 2] - a[:, 0]).clip(0) * (a[:, 3] - a[:, 1]).clip(0))[:, None]
    area_b = ((b[:, 2] - b[:, 0]).clip(0) * (b[:, 3] - b[:, 1]).clip(0))[None, :]
    union = area_a + area_b - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices of the boxes kept by greedy non-maximum suppression, best first."""
    order = np.argsort(-scores, kind="stable")
    overlaps = box_iou(boxes[order], boxes[order]) > iou_threshold  # one matrix, then a cheap loop
    suppressed = np.zeros(len(order), bool)
    keep: list[int] = []
    for i in range(len(order)):
        if suppressed[i]:
            continue
        keep.append(int(order[i]))
        suppressed |= overlaps[i]
    return np.asarray(keep, np.int64)


def postprocess(
    output: np.ndarray,
    conf_threshold: float = 0.25,
    iou_threshold: float = 0.5,
    max_detections: int = 300,
    names: tuple[str, ...] = CLASSES,
) -> Detections:
    """Raw head output (1, 4 + C, N) -> detections in model-input pixels (class-aware NMS)."""
    out = np.asarray(output)
    if out.ndim != 3 or out.shape[0] != 1 or out.shape[1] != 4 + len(names):
        raise DetectorError(f"model output shape {out.shape} is not (1, 4 + {len(names)} classes, anchors)")
    # The best class score of every anchor along the output's contiguous rows, the class itself
    # only for the few anchors over the threshold (a tenth of them at the node's 0.05).
    class_scores = out[0, 4:]  # (C, N)
    best = class_scores.max(axis=0)
    kept = np.flatnonzero(best >= conf_threshold)
    if not len(kept):
        return Detections.empty(names)
    xywh, scores, class_ids = out[0, :4][:, kept].T, best[kept], class_scores[:, kept].argmax(axis=0)
    boxes = np.column_stack(
        [
            xywh[:, 0] - xywh[:, 2] / 2,
            xywh[:, 1] - xywh[:, 3] / 2,
            xywh[:, 0] + xywh[:, 2] / 2,
            xywh[:, 1] + xywh[:, 3] / 2,
        ]
    )
    # Class-aware NMS, one class at a time: boxes of two classes never suppress each other, and
    # the IoU matrices are a class's candidates squared, not all of them (~250 at the node's 0.05).
    kept_parts = [
        np.flatnonzero(members)[nms(boxes[members], scores[members], iou_threshold)]
        for members in (class_ids == c for c in np.unique(class_ids))
    ]
    kept = np.concatenate(kept_parts)
    kept = kept[np.lexsort((kept, -scores[kept]))][:max_detections]  # best first, ties in anchor order
    return Detections(boxes[kept].astype(np.float32), scores[kept].astype(np.float32), class_ids[kept], names)


def onnx_session(path: Path, threads: int = 0):
    """An ONNX Runtime CPU session for one of the camera's models; DetectorError if it cannot load.

    ``threads`` > 0 fixes the intra-op threads. Idle pool threads do not spin: the camera node
    runs two models and a DDS thread on the same cores, and a spinning pool steals their time.
    """
    import onnxruntime as ort  # imported here so pure post-processing tests need no runtime

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads > 0:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as err:  # ORT raises its own exception types for a corrupt or wrong file
        raise DetectorError(f"model file {path} cannot be loaded by ONNX Runtime: {err}") from None


def _names_from_metadata(meta: dict[str, str]) -> tuple[str, ...] | None:
    text = meta.get("names")
    if not text:
        return None
    try:
        parsed = ast.literal_eval(text)  # Ultralytics writes a dict repr {0: 'bottle', ...}
    except (ValueError, SyntaxError):
        return None
    if isinstance(parsed, dict):
        return tuple(str(parsed[k]) for k in sorted(parsed))
    if isinstance(parsed, list | tuple):
        return tuple(str(n) for n in parsed)
    return None


class OnnxDetector:
    """Load an exported model once; :meth:`detect` takes an RGB uint8 (H, W, 3) frame."""

    def __init__(
        self,
        model_path: str | Path = DEFAULT_MODEL,
        conf_threshold: float = 0.25,
        iou_threshold: float = 0.5,
        threads: int = 0,
    ) -> None:
        self.path = Path(model_path)
        if not self.path.is_file():
            raise DetectorError(f"model file {self.path} does not exist (train one: restock train-detector)")
        self.session = onnx_session(self.path, threads)
        inputs = self.session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            raise DetectorError(f"model {self.path} does not take one NCHW image input")
        self.input_name = inputs[0].name
        _, _, h, w = inputs[0].shape
        if not isinstance(h, int) or not isinstance(w, int):
            raise DetectorError(f"model {self.path} has a dynamic input size; export it with a fixed imgsz")
        self.input_h, self.input_w = h, w
        meta = self.session.get_modelmeta().custom_metadata_map
        self.names = _names_from_metadata(meta) or CLASSES
        if self.names[: len(CLASSES)] != CLASSES[: len(self.names)]:
            raise DetectorError(f"model {self.path} has classes {list(self.names)}, expected {list(CLASSES)}")
        self.conf_threshold = conf_threshold
        self.iou_threshold = iou_threshold
        self.description = f"{self.path.name} ({self.input_w}x{self.input_h}, {len(self.names)} classes)"

    def raw(self, tensor: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: tensor})[0]

    def detect(self, rgb: np.ndarray, checked: bool = False) -> Detections:
        """Boxes in image pixels; ``checked``: the caller already ran :func:`check_frame` on this frame."""
        if not checked:
            check_frame(rgb)
        return self.detect_letterboxed(*self.letterbox(rgb), rgb.shape[1], rgb.shape[0])

    def letterbox(self, rgb: np.ndarray) -> tuple[np.ndarray, Letterbox]:
        """The model's input tensor for a checked frame (the half of :meth:`detect` before the model)."""
        return letterbox(rgb, self.input_h, self.input_w)

    def detect_letterboxed(self, tensor: np.ndarray, lb: Letterbox, width: int, height: int) -> Detections:
        """The model and its post-processing on :meth:`letterbox`'s tensor of a width x height frame."""
        dets = postprocess(self.raw(tensor), self.conf_threshold, self.iou_threshold, names=self.names)
        return Detections(lb.to_image(dets.boxes, width, height), dets.scores, dets.class_ids, dets.names)


def check_frame(rgb: np.ndarray) -> None:
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        shape = getattr(rgb, "shape", None)
        dtype = getattr(rgb, "dtype", None)
        raise DetectorError(f"expected an RGB uint8 (H, W, 3) frame, got shape {shape} dtype {dtype}")
    if rgb.shape[0] < 16 or rgb.shape[1] < 16:
        raise DetectorError(f"frame of {rgb.shape[1]}x{rgb.shape[0]} is too small")
