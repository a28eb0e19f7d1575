"""PyTorch weights of a shipped model, rebuilt from its ONNX file (training extra only).

The ONNX files hold every weight: Ultralytics fuses each convolution with its batch norm before
export, so the graph keeps one weight and one bias per convolution, under the module's own name
(``model.0.conv.weight``, ``model.0.conv.bias`` ...). This rebuilds the architecture from its YAML,
fused, loads the initializers into it by name and shape, and checks it against ONNX Runtime on real
frames (max abs difference of the raw outputs).

To fine-tune, the fused model is *unfused* again: each convolution gets a batch norm whose running
statistics are the per-channel mean and variance of the convolution's output on calibration frames,
with scale and shift chosen so the pair computes exactly the fused convolution in eval mode
(``gamma = sqrt(var + eps)``, ``beta = mean + bias``). In train mode a batch of similar frames
normalises with nearly the same statistics, so training starts from what ships instead of from
batch norms that rescale every channel. The result is an ordinary Ultralytics checkpoint
(``--from shipped`` in ``restock train-detector``).

``python -m restock.vision.rebuild RENDERS`` writes restock/vision/models/shelf_detector.pt from
the shipped ONNX and calibration renders; ``--lane-front CROPS`` likewise lane_front.pt from
lane-front crops (``restock train-lane-front``'s crop folders); each prints the differences it checked.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from restock.vision.classes import CLASSES
from restock.vision.detector import DEFAULT_MODEL, letterbox, onnx_session
from restock.vision.lane_front import DEFAULT_LANE_FRONT_MODEL

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
DEFAULT_CHECKPOINT = DEFAULT_MODEL.with_suffix(".pt")
LANE_FRONT_YAML = DEFAULT_LANE_FRONT_MODEL.parent / "lane_front_cls.yaml"


class RebuildError(ValueError):
    """An ONNX file whose weights do not fit the architecture; the message says which tensor."""


def onnx_weights(path: Path) -> dict[str, np.ndarray]:
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    return {init.name: numpy_helper.to_array(init) for init in graph.initializer}


def _architecture(yaml: str, nc: int):
    """The Ultralytics model class a YAML builds: a classifier for a Classify head."""
    from ultralytics.nn.tasks import ClassificationModel, DetectionModel

    text = Path(yaml).read_text() if Path(yaml).is_file() else ""
    return (ClassificationModel if "Classify" in text else DetectionModel)(yaml, nc=nc, verbose=False)


def fused_model(onnx_path: Path, yaml: str = "yolo11n.yaml", names: tuple[str, ...] = CLASSES):
    """The architecture from ``yaml``, fused, with every weight from the ONNX file; RebuildError
    names the first tensor that is missing or of another shape."""
    import torch

    model = _architecture(yaml, len(names))
    model.fuse(verbose=False)
    weights = onnx_weights(onnx_path)
    state = model.state_dict()
    loaded = {}
    for key, tensor in state.items():
        if key not in weights:
            raise RebuildError(f"{onnx_path}: no initializer {key!r} for {tuple(tensor.shape)}")
        value = weights[key]
        if tuple(value.shape) != tuple(tensor.shape):
            raise RebuildError(f"{onnx_path}: {key} is {value.shape} in ONNX, {tuple(tensor.shape)} in {yaml}")
        loaded[key] = torch.from_numpy(value.copy()).to(tensor.dtype)
    model.load_state_dict(loaded, strict=True)
    model.names = dict(enumerate(names))
    return model.eval()


def frames(folder: Path, limit: int) -> list[np.ndarray]:
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    paths = paths[:: max(1, len(paths) // limit)][:limit]  # spread over the folder (crops sit by class)
    if not paths:
        raise RebuildError(f"{folder}: no images to calibrate or check on")
    return [np.asarray(Image.open(p).convert("RGB")) for p in paths]


def tensors(rgbs: list[np.ndarray], size: int) -> np.ndarray:
    """The frames letterboxed exactly as the camera node feeds them (N, 3, size, size)."""
    return np.concatenate([letterbox(rgb, size, size)[0] for rgb in rgbs])


def crop_tensors(rgbs: list[np.ndarray], size: int) -> np.ndarray:
    """Lane-front crops as LaneFrontClassifier feeds them (N, 3, size, size), resized if need be."""
    fit = [
        rgb if rgb.shape[:2] == (size, size) else np.asarray(Image.fromarray(rgb).resize((size, size))) for rgb in rgbs
    ]
    return np.stack(fit).transpose(0, 3, 1, 2).astype(np.float32) / 255.0


def max_abs_diff(model, onnx_path: Path, batch: np.ndarray) -> dict[str, float]:
    """Largest difference between the torch model's output and ONNX Runtime's over a batch: a
    detector's box coordinates (input pixels) and class scores (0..1) apart; a classifier's
    class probabilities."""
    import torch

    session = onnx_session(onnx_path)
    name = session.get_inputs()[0].name
    boxes = scores = 0.0
    with torch.no_grad():
        for x in batch:
            ours = model(torch.from_numpy(x[None]).to(next(model.parameters()).dtype))
            ours = (ours[0] if isinstance(ours, tuple | list) else ours).float().numpy()
            diff = np.abs(ours - session.run(None, {name: x[None]})[0])
            if diff.ndim == 3:  # detector: (1, 4 + classes, anchors)
                boxes, scores = max(boxes, float(diff[:, :4].max())), max(scores, float(diff[:, 4:].max()))
            else:
                scores = max(scores, float(diff.max()))
    return {"boxes_px": round(boxes, 6), "scores": round(scores, 6)}


def unfused_model(fused, batch: np.ndarray, yaml: str = "yolo11n.yaml"):
    """An unfused model (conv + batch norm) computing what ``fused`` computes in eval mode, its
    batch-norm statistics measured on ``batch`` (see the module docstring)."""
    import torch
    from ultralytics.nn.modules.conv import Conv

    stats: dict[str, tuple] = {}

    def hook(name: str):
        def record(module, inputs, output) -> None:
            # The convolution's output before its bias: what the batch norm will see.
            raw = output - module.bias.view(1, -1, 1, 1)
            stats[name] = (raw.mean(dim=(0, 2, 3)), raw.var(dim=(0, 2, 3), unbiased=False))

        return record

    fused_convs = {n: m for n, m in fused.named_modules() if isinstance(m, Conv)}
    handles = [m.conv.register_forward_hook(hook(n)) for n, m in fused_convs.items()]
    with torch.no_grad():
        fused(torch.from_numpy(batch))
    for h in handles:
        h.remove()

    model = _architecture(yaml, len(fused.names))
    own = dict(model.named_modules())
    with torch.no_grad():
        for name, f in fused_convs.items():
            conv, bn = own[name].conv, own[name].bn
            mean, var = stats[name]
            var = var.clamp_min(1e-6)
            conv.weight.copy_(f.conv.weight)
            bn.running_mean.copy_(mean)
            bn.running_var.copy_(var)
            bn.weight.copy_(torch.sqrt(var + bn.eps))
            bn.bias.copy_(mean + f.conv.bias)
        # Everything else (the head's last convolutions, the DFL) has the same names in both.
        rest = {k: v for k, v in fused.state_dict().items() if k.rsplit(".", 2)[0] not in fused_convs}
        missing = [k for k in rest if k not in model.state_dict()]
        if missing:
            raise RebuildError(f"unfused model has no {missing[:3]}")
        model.load_state_dict(rest, strict=False)
    model.names = dict(fused.names)
    return model.eval()


def save_checkpoint(model, path: Path, source: str, imgsz: int = 416) -> Path:
    """An Ultralytics checkpoint (``YOLO(path)`` loads and trains it), half precision like theirs."""
    import copy
    from datetime import datetime, timezone

    import torch
    import ultralytics

    path.parent.mkdir(parents=True, exist_ok=True)
    ckpt = {
        "model": copy.deepcopy(model).half(),
        "train_args": {"task": getattr(model, "task", None) or _task(model), "imgsz": imgsz, "model": source},
        "date": datetime.now(timezone.utc).isoformat(),
        "version": ultralytics.__version__,
        "license": "AGPL-3.0 (Ultralytics architecture); weights: restock",
    }
    torch.save(ckpt, path)
    return path


def _task(model) -> str:
    from ultralytics.nn.tasks import ClassificationModel

    return "classify" if isinstance(model, ClassificationModel) else "detect"


def rebuild(
    onnx_path: Path, calib: Path, out: Path, n_calib: int = 32, n_check: int = 8, yaml: str = "yolo11n.yaml"
) -> dict:
    """Fused model from ONNX, checked; unfused with measured batch norms, checked; saved."""
    import ast

    import torch

    session = onnx_session(onnx_path)
    meta = session.get_modelmeta().custom_metadata_map
    names = ast.literal_eval(meta["names"])
    size = int(ast.literal_eval(meta["imgsz"])[0])
    classify = meta.get("task") == "classify"
    rgbs = frames(calib, n_calib + n_check)
    to_batch = crop_tensors if classify else tensors
    calib_batch, check_batch = to_batch(rgbs[:n_calib], size), to_batch(rgbs[n_calib:], size)
    if len(check_batch) == 0:
        check_batch = calib_batch[:n_check]
    fused = fused_model(onnx_path, yaml=yaml, names=tuple(names[i] for i in sorted(names)))
    diff_fused = max_abs_diff(fused, onnx_path, check_batch)
    model = unfused_model(fused, calib_batch, yaml=yaml)
    diff_unfused = max_abs_diff(model, onnx_path, check_batch)
    save_checkpoint(model, out, str(onnx_path.name), size)
    reloaded = torch.load(out, map_location="cpu", weights_only=False)["model"].float().eval()
    diff_saved = max_abs_diff(reloaded, onnx_path, check_batch)
    return {
        "onnx": str(onnx_path),
        "checkpoint": str(out),
        "checkpoint_bytes": out.stat().st_size,
        "calibration_frames": len(calib_batch),
        "checked_frames": len(check_batch),
        "max_abs_diff_fused": diff_fused,
        "max_abs_diff_unfused": diff_unfused,
        "max_abs_diff_saved_half": diff_saved,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m restock.vision.rebuild", description=__doc__.split("\n")[0])
    parser.add_argument("calib", type=Path, help="a folder of frames (renders) or crops to measure batch norms on")
    parser.add_argument("--lane-front", action="store_true", help="the lane-front classifier (calib: crops)")
    parser.add_argument("--onnx", type=Path, default=None, help="default: the shipped model")
    parser.add_argument("--out", type=Path, default=None, help="default: the .pt beside the ONNX")
    parser.add_argument("--calib-frames", type=int, default=32)
    args = parser.parse_args(argv)
    from restock.vision.train import offline_ultralytics

    offline_ultralytics()
    onnx_path = args.onnx or (DEFAULT_LANE_FRONT_MODEL if args.lane_front else DEFAULT_MODEL)
    yaml = str(LANE_FRONT_YAML) if args.lane_front else "yolo11n.yaml"
    try:
        result = rebuild(onnx_path, args.calib, args.out or onnx_path.with_suffix(".pt"), args.calib_frames, yaml=yaml)
    except RebuildError as err:
        print(f"rebuild: {err}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
