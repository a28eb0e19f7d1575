"""`restock train-detector`: train the shelf detector with Ultralytics, offline, and export ONNX.

Training only (the ``train`` extra: ultralytics, torch, torchvision, onnx, onnxslim); the camera
nodes never import this. The model is built from its YAML (``yolo11n.yaml``) with no pretrained
weights; Ultralytics is kept off the network (YOLO_OFFLINE, no auto-install, settings sync off,
its config folder inside the project with a local font in place of the Arial.ttf it would
download). Several datasets are merged: the simulator's (``restock make-dataset``), a store's
own YOLO dataset (a folder with data.yaml, or images/ + labels/), and operator labels from
teleop (images/*.jpg + labels/*.txt); all must use :data:`restock.vision.classes.CLASSES`.

The result: ``--export`` (default: the shipped restock/vision/models/shelf_detector.onnx) and a
model card beside it (shelf_detector.md: data, classes, metrics, the command).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import sys
import time
from pathlib import Path

import yaml

from restock.paths import SOURCE_ROOT
from restock.vision.classes import CLASSES
from restock.vision.detector import DEFAULT_MODEL

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


class TrainError(ValueError):
    """A dataset or option that cannot be trained on; the message says which and why."""


def offline_ultralytics(config_dir: Path | None = None) -> Path:
    """Set Ultralytics' environment so it never reaches the network; call before importing it."""
    config_dir = Path(config_dir or os.environ.get("YOLO_CONFIG_DIR") or SOURCE_ROOT / "var" / "ultralytics")
    config_dir.mkdir(parents=True, exist_ok=True)
    os.environ["YOLO_CONFIG_DIR"] = str(config_dir)
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "0"
    os.environ.setdefault("YOLO_VERBOSE", "True")
    font = config_dir / "Ultralytics" / "Arial.ttf"
    if not font.exists():
        import matplotlib

        src = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
        font.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, font)
        shutil.copyfile(src, font.parent / "Arial.Unicode.ttf")
    settings = config_dir / "Ultralytics" / "settings.json"
    data = json.loads(settings.read_text()) if settings.exists() else {}
    data.update({"sync": False, "hub": False, "clearml": False, "comet": False, "dvc": False, "mlflow": False,
                 "neptune": False, "raytune": False, "tensorboard": False, "wandb": False})  # fmt: skip
    settings.write_text(json.dumps(data, indent=2))
    return config_dir


def _check_names(names: object, where: Path) -> None:
    if isinstance(names, dict):
        names = [names[k] for k in sorted(names)]
    if list(names or []) != list(CLASSES[: len(names or [])]) or not names:  # type: ignore[arg-type]
        raise TrainError(f"{where}: classes {names} are not restock's {list(CLASSES)} (restock/vision/classes.py)")


def _image_dirs_of(source: Path) -> tuple[list[Path], list[Path], list[Path]]:
    """(train, val, test) image folders of one dataset source."""
    if source.is_file() and source.suffix in (".yaml", ".yml"):
        data_yaml = source
    elif (source / "data.yaml").is_file():
        data_yaml = source / "data.yaml"
    elif (source / "images").is_dir():
        # teleop labels or a bare store dataset: images/ (+ labels/ beside it), all for training
        if not any(p.suffix.lower() in IMAGE_SUFFIXES for p in (source / "images").rglob("*")):
            raise TrainError(f"{source}/images has no images")
        return [source / "images"], [], []
    else:
        raise TrainError(f"{source}: neither a data.yaml, a folder with data.yaml, nor a folder with images/")
    try:
        data = yaml.safe_load(data_yaml.read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise TrainError(f"{data_yaml}: cannot read: {err}") from None
    _check_names(data.get("names"), data_yaml)
    root = Path(data.get("path") or data_yaml.parent)
    if not root.is_absolute():
        root = (data_yaml.parent / root).resolve()

    def dirs(key: str) -> list[Path]:
        value = data.get(key)
        if not value:
            return []
        items = value if isinstance(value, list) else [value]
        out = []
        for item in items:
            p = Path(item)
            p = p if p.is_absolute() else root / p
            if not p.exists():
                raise TrainError(f"{data_yaml}: {key}: {p} does not exist")
            out.append(p)
        return out

    return dirs("train"), dirs("val"), dirs("test")


def merge_datasets(sources: list[Path], out_yaml: Path) -> dict:
    """One Ultralytics data YAML over several sources (train lists merged); returns its content."""
    train, val, test = [], [], []
    for src in sources:
        t, v, te = _image_dirs_of(src)
        train += t
        val += v
        test += te
    if not train:
        raise TrainError(f"no training images in {[str(s) for s in sources]}")
    if not val:
        val = train[:1]  # Ultralytics needs a val set; without one it validates on training data
    data = {
        "train": [str(p.resolve()) for p in train],
        "val": [str(p.resolve()) for p in val],
        "names": dict(enumerate(CLASSES)),
    }
    if test:
        data["test"] = [str(p.resolve()) for p in test]
    out_yaml.parent.mkdir(parents=True, exist_ok=True)
    out_yaml.write_text(yaml.safe_dump(data, sort_keys=False))
    return data


def _device(requested: str) -> str:
    if requested != "auto":
        return requested
    import torch

    return "0" if torch.cuda.is_available() else "cpu"


def fit(args: argparse.Namespace, data: str, **extra: object):
    """Ultralytics training with the options every `restock train-*` shares; returns the model,
    the device, the training seconds and the best weights."""
    from ultralytics import YOLO  # the training extra; imported only here

    device = _device(args.device)
    model = YOLO(args.model)  # a YAML: architecture only, random weights
    t0 = time.monotonic()
    model.train(
        data=data,
        epochs=args.epochs,
        time=args.hours if args.hours > 0 else None,
        imgsz=args.imgsz,
        batch=args.batch,
        device=device,
        workers=args.workers,
        project=str(Path(args.project).resolve()),
        name=args.name,
        exist_ok=True,
        # A YAML starts from random weights; a .pt (an earlier run) continues from its weights.
        pretrained=args.model if args.model.endswith(".pt") else False,
        amp=device != "cpu",
        plots=False,
        seed=args.seed,
        deterministic=False,
        verbose=True,
        **extra,
    )
    train_s = time.monotonic() - t0
    best = Path(model.trainer.best)
    if not best.exists():
        raise TrainError(f"training produced no weights at {best}")
    return model, device, train_s, best


def train(args: argparse.Namespace, command: str) -> dict:
    config_dir = offline_ultralytics(args.config_dir)
    run_dir = Path(args.project).resolve()
    data_yaml = run_dir / f"{args.name}_data.yaml"
    data = merge_datasets([Path(s) for s in args.data], data_yaml)

    model, device, train_s, best = fit(
        args, str(data_yaml), patience=max(args.epochs, 100), cache=args.cache or False, cls_pw=args.cls_pw
    )
    from ultralytics import YOLO  # the training extra; imported only here

    trained = YOLO(str(best))
    metrics = trained.val(data=str(data_yaml), split="val", imgsz=args.imgsz, batch=args.batch, device=device,
                          plots=False, verbose=False)  # fmt: skip
    per_class = {}
    for i, ap50 in zip(metrics.box.ap_class_index, metrics.box.ap50, strict=False):
        per_class[CLASSES[int(i)]] = round(float(ap50), 4)
    export = export_onnx(trained, args, dynamic=False)
    summary = {
        **run_facts(args, model, train_s, device),
        "data": data,
        "val_map50": round(float(metrics.box.map50), 4),
        "val_map50_95": round(float(metrics.box.map), 4),
        "val_map50_per_class": per_class,
        "onnx": str(export),
        "onnx_bytes": export.stat().st_size,
        "weights": str(best),
        "config_dir": str(config_dir),
        "command": command,
    }
    write_model_card(export.with_suffix(".md"), summary, [Path(s) for s in args.data])
    (run_dir / args.name / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def export_onnx(trained, args: argparse.Namespace, dynamic: bool) -> Path:
    """The trained model as ONNX at args.export (the file the nodes load)."""
    onnx_path = Path(trained.export(format="onnx", imgsz=args.imgsz, simplify=True, dynamic=dynamic, device="cpu"))
    export = Path(args.export)
    export.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(onnx_path, export)
    return export


def run_facts(args: argparse.Namespace, model, train_s: float, device: str) -> dict:
    """What every model card says of the run: model, image size, epochs, time, device."""
    return {
        "model": args.model,
        "imgsz": args.imgsz,
        "epochs_run": int(getattr(model.trainer, "epoch", args.epochs - 1)) + 1,
        "train_seconds": round(train_s, 1),
        "device": device,
    }


def write_model_card(path: Path, summary: dict, sources: list[Path]) -> None:
    manifests = []
    for src in sources:
        m = (src if src.is_dir() else src.parent) / "manifest.json"
        if m.is_file():
            manifests.append(json.loads(m.read_text()))
    lines = [
        f"# Shelf detector: {path.with_suffix('.onnx').name}",
        "",
        "YOLO detector of lane fronts for restock's shelf cameras, trained from scratch",
        f"({summary['model']}, no pretrained weights) with Ultralytics, exported to ONNX",
        f"({summary['imgsz']}x{summary['imgsz']} input, opset default, NMS done by restock.vision.detector).",
        *classes_section(CLASSES),
    ]
    for m in manifests:
        lines.append(
            f"- simulator, store {m.get('store')}: images {m.get('images')}, labels {m.get('labels_per_class')}; "
            f"seeds { ({k: f'{v[0]}..{v[-1]}' for k, v in m.get('seeds', {}).items() if v}) }; "
            f"`{m.get('command', 'restock make-dataset')}`"
        )
    for src in sources:
        if not ((src if src.is_dir() else src.parent) / "manifest.json").is_file():
            lines.append(f"- {src}")
    lines += [
        "",
        "## Metrics (validation split, Ultralytics)",
        "",
        f"- mAP50 {summary['val_map50']}, mAP50-95 {summary['val_map50_95']}",
        f"- mAP50 per class: {summary['val_map50_per_class']}",
        "- held-out test split and second store: see `restock eval-detector` figures below",
        *training_section(summary),
    ]
    path.write_text("\n".join(lines))


def classes_section(names: tuple[str, ...] | list[str]) -> list[str]:
    """A model card's class list, by output index, and the heading of its data section."""
    return ["", "## Classes", "", *[f"- {i}: {name}" for i, name in enumerate(names)], "", "## Data", ""]


def training_section(summary: dict) -> list[str]:
    """The model card's closing lines: how long it trained, on what, by which command."""
    return [
        "",
        "## Training",
        "",
        f"- {summary['epochs_run']} epochs, {summary['train_seconds']} s on {summary['device']}",
        f"- command: `{summary['command']}`",
        "",
    ]


def add_training_args(parser: argparse.ArgumentParser, *, model: str, model_help: str, epochs: int, imgsz: int,
                      batch: int, name: str, export: Path) -> None:  # fmt: skip
    """The options every `restock train-*` command shares (Ultralytics, offline, ONNX export)."""
    parser.add_argument("--model", default=model, help=model_help)
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--hours", type=float, default=0.0, help="stop after this much training time (0: no limit)")
    parser.add_argument("--imgsz", type=int, default=imgsz)
    parser.add_argument("--batch", type=int, default=batch)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--device", default="auto", help="auto (a GPU when there is one), cpu, 0, ...")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--project", default=str(SOURCE_ROOT / "var" / "train"), help="where runs are written")
    parser.add_argument("--name", default=name)
    parser.add_argument("--export", default=str(export), help="where the ONNX model (and its card) go")
    parser.add_argument("--config-dir", default=None, help="Ultralytics config folder (default var/ultralytics)")


def run_training(prog: str, train_fn, args: argparse.Namespace, argv: list[str] | None) -> dict | None:
    """Run ``train_fn(args, command)``; a bad dataset or a missing training extra is one clear line."""
    command = f"restock {prog} " + shlex.join(argv if argv is not None else sys.argv[1:])
    try:
        return train_fn(args, command)
    except TrainError as err:
        print(f"restock {prog}: {err}", file=sys.stderr)
    except ModuleNotFoundError as err:
        print(
            f"restock {prog}: {err.name} is not installed; training needs the extra: "
            "pip install 'restock[train]' (ultralytics, torch, torchvision, onnx, onnxslim)",
            file=sys.stderr,
        )
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="restock train-detector", description=__doc__.split("\n")[0])
    parser.add_argument("data", nargs="+", help="datasets: data.yaml files or folders (sim, store, teleop labels)")
    add_training_args(
        parser, model="yolo11n.yaml", model_help="Ultralytics model YAML (no pretrained weights)", epochs=30,
        imgsz=320, batch=16, name="shelf_detector", export=DEFAULT_MODEL,
    )  # fmt: skip
    parser.add_argument("--cache", choices=["ram", "disk"], default=None)
    parser.add_argument("--cls-pw", type=float, default=0.0, help="class weights 1/frequency**cls_pw (0: off, 1: full)")
    args = parser.parse_args(argv)
    summary = run_training("train-detector", train, args, argv)
    if summary is None:
        return 2
    print(json.dumps({k: summary[k] for k in ("val_map50", "val_map50_per_class", "onnx", "train_seconds")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
