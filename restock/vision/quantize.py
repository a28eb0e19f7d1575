"""The camera's runtime detector: the shipped weights exported at the camera's frame shape, in INT8.

The shipped ``shelf_detector.onnx`` (416x416, float32) is the reference that training, the
PyTorch rebuild and the model card's figures start from. A shelf camera sends 640x480 frames:
letterboxed into 416x416 a quarter of the model's input is grey padding, so its convolutions
run on 416x320 (the same scale, 4 px of padding) instead. And its convolutions run in INT8
(ONNX Runtime static QDQ quantisation: per-channel int8 weights, uint8 activations calibrated
on renders and real photos, percentile ranges by default), which the CPU's integer dot-product
instructions run faster than float32. The detection head's last convolutions and its box decoding
stay float: they write box coordinates (0..416 px) and class scores (0..1) side by side, which
one 8-bit scale cannot hold both of.

    python -m restock.vision.quantize CALIB_DIR [CALIB_DIR ...] [--weights shelf_detector.pt]
        [--imgsz 320 416] [--out restock/vision/models/shelf_detector_int8.onnx] [--per-dir 64]
        [--method percentile|minmax|entropy]

Needs the training extra (Ultralytics exports the weights; ``onnx`` for the quantiser). The
calibration folders hold images (training splits only: never a held-out test split); each
gives at most ``--per-dir`` of them, evenly spaced in name order.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from restock.vision.detector import DEFAULT_MODEL, LETTERBOX_FILL, LETTERBOX_GRAPH, RUNTIME_MODEL, letterbox

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
METHODS = {
    "minmax": lambda m: m.MinMax,
    "percentile": lambda m: m.Percentile,
    "entropy": lambda m: m.Entropy,
}
# Inside the detection head, only the convolution blocks before each branch's last 1x1
# convolution are quantised (cv2.i.0/1: box branch, cv3.i.0/1: class branch).
_HEAD_QUANTISED = re.compile(r"/cv[23]\.\d+/cv[23]\.\d+\.[01]/")


def calibration_images(dirs: list[Path], per_dir: int) -> list[Path]:
    """Up to ``per_dir`` images of each folder (searched recursively), evenly spaced in name order."""
    chosen: list[Path] = []
    for folder in dirs:
        found = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not found:
            raise ValueError(f"calibration folder {folder} holds no images")
        step = max(1, len(found) // per_dir)
        chosen.extend(found[::step][:per_dir])
    return chosen


def head_nodes_kept_float(model) -> list[str]:
    """Names of the detection head's nodes left in float: its last convolutions and the box decoding."""
    producer = {out: node for node in model.graph.node for out in node.output}
    last = producer[model.graph.output[0].name].name  # e.g. /model.23/Concat_3
    prefix = last[: last.index("/", 1) + 1]  # the head module, /model.23/
    return [n.name for n in model.graph.node if n.name.startswith(prefix) and not _HEAD_QUANTISED.search(n.name)]


def letterbox_graph(out: Path) -> Path:
    """Write the letterbox as an ONNX graph (restock.vision.detector runs it): an RGB uint8 frame
    (1, H, W, 3), the resized size (1, 3, h, w) and the pads -> the model's float32 NCHW input.

    Linear resize with half-pixel centres and no antialiasing, which is OpenCV's INTER_LINEAR,
    the resize Ultralytics trains with, in ONNX Runtime's float NCHW kernel (no OpenCV at run time).
    """
    import onnx
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("Transpose", ["frame"], ["chw"], perm=[0, 3, 1, 2]),
        helper.make_node("Cast", ["chw"], ["chw_float"], to=TensorProto.FLOAT),
        helper.make_node(
            "Resize",
            ["chw_float", "", "", "size"],
            ["resized"],
            mode="linear",
            coordinate_transformation_mode="half_pixel",
        ),
        helper.make_node("Mul", ["resized", "one_255th"], ["scaled"]),
        helper.make_node("Pad", ["scaled", "pads", "fill"], ["tensor"], mode="constant"),
    ]
    graph = helper.make_graph(
        nodes,
        "restock_letterbox",
        [
            helper.make_tensor_value_info("frame", TensorProto.UINT8, [1, "height", "width", 3]),
            helper.make_tensor_value_info("size", TensorProto.INT64, [4]),
            helper.make_tensor_value_info("pads", TensorProto.INT64, [8]),
        ],
        [helper.make_tensor_value_info("tensor", TensorProto.FLOAT, [1, 3, "input_h", "input_w"])],
        [
            helper.make_tensor("one_255th", TensorProto.FLOAT, [], [1.0 / 255.0]),
            helper.make_tensor("fill", TensorProto.FLOAT, [], [LETTERBOX_FILL / 255.0]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)], producer_name="restock")
    model.ir_version = 9  # readable by ONNX Runtime 1.18, the oldest the package accepts
    onnx.checker.check_model(model)
    onnx.save(model, str(out))
    return out


def export_float(weights: Path, imgsz: tuple[int, int], out: Path) -> Path:
    """The Ultralytics checkpoint exported to ONNX at a fixed (height, width)."""
    from ultralytics import YOLO

    from restock.vision.train import offline_ultralytics

    offline_ultralytics()
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / weights.name  # Ultralytics writes the export beside its checkpoint
        shutil.copyfile(weights, local)
        exported = YOLO(str(local)).export(format="onnx", imgsz=list(imgsz), simplify=True, dynamic=False, device="cpu")
        shutil.copyfile(exported, out)
    return out


def quantise(float_model: Path, images: list[Path], out: Path, method: str = "percentile") -> dict:
    """Static QDQ INT8 of ``float_model`` calibrated on ``images``; metadata (class names) kept."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    source = onnx.load(str(float_model))
    (inp,) = source.graph.input
    h, w = (d.dim_value for d in inp.type.tensor_type.shape.dim[2:])

    class Frames(CalibrationDataReader):
        def __init__(self) -> None:
            self._paths = iter(images)

        def get_next(self) -> dict[str, np.ndarray] | None:
            path = next(self._paths, None)
            if path is None:
                return None
            rgb = np.asarray(Image.open(path).convert("RGB"))
            return {inp.name: letterbox(rgb, h, w)[0]}

    # Min/max are folded in every `chunk` images, so memory stays bounded; ONNX Runtime (1.32) fails
    # with "No data is collected" when the count is a multiple of the chunk (nothing left to fold).
    chunk = 16 if len(images) % 16 else 15
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(float_model), str(pre))
        kept_float = head_nodes_kept_float(onnx.load(str(pre)))
        quantize_static(
            str(pre),
            str(out),
            Frames(),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            calibrate_method=METHODS[method](CalibrationMethod),
            nodes_to_exclude=kept_float,
            extra_options={"CalibMaxIntermediateOutputs": chunk},
        )
    quantised = onnx.load(str(out))
    note = (
        f"int8 QDQ static (per-channel weights, {method} on {len(images)} images), {len(kept_float)} head nodes float"
    )
    meta = {p.key: p.value for p in source.metadata_props} | {"restock_quantisation": note}
    del quantised.metadata_props[:]
    for key, value in meta.items():
        quantised.metadata_props.add(key=key, value=value)
    onnx.save(quantised, str(out))
    return {"input": f"{w}x{h}", "calibration_images": len(images), "head_nodes_float": len(kept_float), "note": note}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m restock.vision.quantize", description=__doc__.split("\n")[0])
    parser.add_argument("calib", type=Path, nargs="*", help="folders of calibration images (training splits)")
    parser.add_argument("--weights", type=Path, default=DEFAULT_MODEL.with_suffix(".pt"), help="Ultralytics checkpoint")
    parser.add_argument("--imgsz", type=int, nargs=2, default=(320, 416), metavar=("H", "W"), help="model input")
    parser.add_argument("--out", type=Path, default=RUNTIME_MODEL)
    parser.add_argument("--per-dir", type=int, default=64, help="calibration images per folder")
    parser.add_argument("--method", choices=sorted(METHODS), default="percentile", help="activation range calibration")
    parser.add_argument(
        "--letterbox-graph", action="store_true", help=f"only write the letterbox graph ({LETTERBOX_GRAPH.name})"
    )
    parser.add_argument("--keep-float", type=Path, default=None, help="also keep the float export at this path")
    args = parser.parse_args(argv)
    if args.letterbox_graph:
        print(f"wrote {letterbox_graph(LETTERBOX_GRAPH)}")
        return 0
    if not args.calib:
        parser.error("give at least one folder of calibration images")
    t0 = time.monotonic()
    try:
        images = calibration_images(args.calib, args.per_dir)
        with tempfile.TemporaryDirectory() as tmp:
            float_model = export_float(args.weights, tuple(args.imgsz), Path(tmp) / "float.onnx")
            if args.keep_float:
                shutil.copyfile(float_model, args.keep_float)
            facts = quantise(float_model, images, args.out, args.method)
    except (ValueError, OSError) as err:
        print(f"quantize: {err}", file=sys.stderr)
        return 2
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes) in {time.monotonic() - t0:.0f} s: {facts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
