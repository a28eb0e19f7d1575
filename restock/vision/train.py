"""`restock train-detector`: train the shelf detector with Ultralytics, offline, and export ONNX.

Training only (the ``train`` extra: ultralytics, torch, torchvision, onnx, onnxslim); the camera
nodes never import this. The model is built from its YAML (``yolo11n.yaml``) with no pretrained
weights; Ultralytics is kept off the network (YOLO_OFFLINE, no auto-install, settings sync off,
its config folder inside the project with a local font in place of the Arial.ttf it would
download). Several datasets are merged: the simulator's (``restock make-dataset``), a store's
own YOLO dataset (a folder with data.yaml, or images/ + labels/), and operator labels from
teleop (images/*.jpg + labels/*.txt); all must use :data:`restock.vision.classes.CLASSES`, or
be read through ``--class-map`` (a public set of shelf photos: restock.vision.foreign).

``--from shipped`` fine-tunes what ships (restock/vision/models/shelf_detector.pt, rebuilt from the
ONNX by restock.vision.rebuild) instead of starting from random weights, for ``--minutes``, with
:data:`FINE_TUNE_RECIPE` for what the command line leaves unset. A
foreign dataset gives its *train* split only (its val/test stay held out for eval-detector), and
our classes it does not label get pseudo-labels: the shipped detector's confident boxes
(``--pseudo-conf``) of ``--pseudo-classes`` (containers by default, its reliable classes) not
overlapping the dataset's own boxes, so its unlabelled containers are not taught as background.

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
from restock.vision.classes import CLASS_ID, CLASSES, CONTAINER_KINDS
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


def _few_images(folders: list[Path], listing: Path, n: int = 16) -> Path:
    """A list file of ``n`` images spread over ``folders`` (Ultralytics reads image lists)."""
    images = sorted(p for f in folders for p in f.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    picked = images[:: max(1, len(images) // n)][:n]
    listing.parent.mkdir(parents=True, exist_ok=True)
    listing.write_text("".join(f"{p.absolute()}\n" for p in picked))  # links kept: labels sit beside them
    return listing


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
        # Ultralytics needs a val set; without one it validates on a few training images (a whole
        # folder, validated three times at the end, cost minutes of CPU a run).
        val = [_few_images(train, out_yaml.with_name(out_yaml.stem + "_val.txt"))]
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
    model.add_callback("on_fit_epoch_end", _progress(args))
    if getattr(args, "from_", None):
        # Fine-tuning: no bias warm-up at lr 0.1 (it would undo the shipped biases in one epoch).
        extra = {"warmup_epochs": 1.0, "warmup_bias_lr": 0.0, **extra}
    extra = {**extra, **recipe_overrides(args)}
    if getattr(args, "keep", "best") == "last":
        extra["val"] = False  # no per-epoch validation to pick by: its time goes to training
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
    # "last" where validation is not on the data that matters (a foreign set's val stays held out).
    best = Path(model.trainer.last if getattr(args, "keep", "best") == "last" else model.trainer.best)
    if not best.exists():
        raise TrainError(f"training produced no weights at {best}")
    return model, device, train_s, best


# train-detector --from: what a store's 20-minute CPU fine-tune on ~100 photos needs (measured on
# one public set, README "Real photos"): the backbone frozen, AdamW at 0.002 from the first step,
# an optimizer step every batch. Each option given on the command line wins.
FINE_TUNE_RECIPE = {"freeze": 10, "lr0": 0.002, "warmup_epochs": 0.0, "nbs": "batch"}


def apply_fine_tune_recipe(args: argparse.Namespace) -> None:
    """Fill the options the command line left unset with :data:`FINE_TUNE_RECIPE`."""
    for key, value in FINE_TUNE_RECIPE.items():
        if getattr(args, key, None) is None:
            setattr(args, key, args.batch if value == "batch" else value)


def recipe_overrides(args: argparse.Namespace) -> dict:
    """Ultralytics options a fine-tune may set: frozen layers, optimizer and learning rate, warm-up."""
    out: dict = {}
    if getattr(args, "freeze", 0):
        out["freeze"] = args.freeze
    if getattr(args, "lr0", 0.0):
        # Ultralytics' optimizer=auto ignores lr0; naming the optimizer makes it count.
        out.update(optimizer="AdamW", lr0=args.lr0)
    if getattr(args, "warmup_epochs", None) is not None:
        # Ultralytics ramps the weights' rate up from 0 over these epochs: half of a 2-epoch fine-tune.
        out["warmup_epochs"] = args.warmup_epochs
    if getattr(args, "nbs", 0):
        # Ultralytics steps the optimizer once per nbs images (64: every 4th batch of 16); a short
        # fine-tune on CPU gets 4x the steps with nbs = batch.
        out["nbs"] = args.nbs
    return out


def _progress(args: argparse.Namespace):
    """One line per epoch: epoch, time spent of the budget, validation mAP50."""
    t0 = time.monotonic()
    budget = f" of {args.hours * 3600:.0f}" if args.hours > 0 else ""

    def report(trainer) -> None:
        m = trainer.metrics or {}
        epoch = f"epoch {trainer.epoch + 1}" if trainer.epoch < trainer.epochs else "final (best weights)"
        if "metrics/accuracy_top1" in m:  # a classifier
            val = f"val accuracy {m['metrics/accuracy_top1']:.4f}"
        else:
            val = f"val mAP50 {m.get('metrics/mAP50(B)', float('nan')):.3f}, mAP50-95 {m.get('metrics/mAP50-95(B)', float('nan')):.3f}"
        print(f"[train] {epoch}: {time.monotonic() - t0:.0f}{budget} s, {val}", flush=True)

    return report


def prepare_sources(args: argparse.Namespace, run_dir: Path) -> tuple[list[Path], list[dict]]:
    """The training sources, foreign ones (other class names) mapped into ours by ``--class-map``
    with pseudo-labels; returns the sources to merge and what was done to the foreign ones."""
    from restock.vision.foreign import ForeignDataError, ForeignDataset, dataset_names, write_training_copy

    sources, foreign = [], []
    for i, src in enumerate(Path(s) for s in args.data):
        try:
            names = dataset_names(src)
        except ForeignDataError:
            names = CLASSES  # teleop labels: images/ + labels/ in our classes
        if tuple(names) == CLASSES[: len(names)]:
            sources.append(src)
            continue
        if not args.class_map:
            raise TrainError(f"{src}: classes {list(names)} are not restock's {list(CLASSES)}; give --class-map")
        try:
            dataset = ForeignDataset.open(src, args.class_map)
            teacher = None
            if args.pseudo_classes:
                from restock.vision.detector import OnnxDetector

                teacher = OnnxDetector(args.pseudo_model, conf_threshold=args.pseudo_conf)
            pseudo = frozenset(CLASS_ID[c] for c in args.pseudo_classes.split(",") if c)
            out = run_dir / f"{args.name}_foreign{i}"
            print(f"[train] {src}: {dataset.class_map.describe()}", flush=True)
            counts = write_training_copy(dataset, out, "train", teacher, pseudo, args.pseudo_conf,
                                         shifted_copies=args.shifted_copies, seed=args.seed)  # fmt: skip
        except (ForeignDataError, KeyError) as err:
            raise TrainError(f"{src}: {err}") from None
        print(f"[train] {src}: train split mapped into {out}: {counts}", flush=True)
        sources.append(out)
        foreign.append({"source": str(src), "class_map": dataset.class_map.describe(), **counts})
    return sources, foreign


def train(args: argparse.Namespace, command: str) -> dict:
    config_dir = offline_ultralytics(args.config_dir)
    run_dir = Path(args.project).resolve()
    data_yaml = run_dir / f"{args.name}_data.yaml"
    sources, foreign = prepare_sources(args, run_dir)
    data = merge_datasets(sources, data_yaml)
    if args.from_:
        apply_fine_tune_recipe(args)
    if args.keep == "auto":
        # A foreign set's val/test are held out, so validation runs on other data: keep the last weights.
        args.keep = "last" if foreign else "best"

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
        "foreign": foreign,
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
    native = [s for s in sources if not s.name.startswith(f"{args.name}_foreign")]
    write_model_card(export.with_suffix(".md"), summary, native)
    (run_dir / args.name / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def export_onnx(trained, args: argparse.Namespace, dynamic: bool) -> Path:
    """The trained model as ONNX at args.export (the file the nodes load), its checkpoint beside it."""
    onnx_path = Path(trained.export(format="onnx", imgsz=args.imgsz, simplify=True, dynamic=dynamic, device="cpu"))
    export = Path(args.export)
    export.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(onnx_path, export)
    if getattr(trained, "ckpt_path", None):  # the weights beside it: what the next --from shipped starts from
        shutil.copyfile(trained.ckpt_path, export.with_suffix(".pt"))
    return export


def run_facts(args: argparse.Namespace, model, train_s: float, device: str) -> dict:
    """What every model card says of the run: model, image size, epochs, time, device."""
    return {
        "model": args.model,
        "imgsz": args.imgsz,
        "epochs_run": int(getattr(model.trainer, "epoch", args.epochs - 1)) + 1,
        "train_seconds": round(train_s, 1),
        "device": device,
        "from": getattr(args, "from_", None),
        "recipe": {**recipe_overrides(args), "keep": getattr(args, "keep", "best")},
    }


def write_model_card(path: Path, summary: dict, sources: list[Path]) -> None:
    manifests = []
    for src in sources:
        m = (src if src.is_dir() else src.parent) / "manifest.json"
        if m.is_file():
            manifests.append(json.loads(m.read_text()))
    origin = (
        f"fine-tuned from {summary['model']} (`--from {summary['from']}`)"
        if summary.get("from")
        else f"trained from scratch\n({summary['model']}, no pretrained weights)"
    )
    own_val = str(summary["data"]["val"][0]).endswith("_val.txt")
    lines = [
        f"# Shelf detector: {path.with_suffix('.onnx').name}",
        "",
        f"YOLO detector of lane fronts for restock's shelf cameras, {origin} with Ultralytics, exported to ONNX",
        f"({summary['imgsz']}x{summary['imgsz']} input, opset default, NMS done by restock.vision.detector).",
        *classes_section(CLASSES),
    ]
    for m in manifests:
        lines.append(
            f"- simulator, store {m.get('store')}: images {m.get('images')}, labels {m.get('labels_per_class')}; "
            f"seeds { ({k: f'{v[0]}..{v[-1]}' for k, v in m.get('seeds', {}).items() if v}) }; "
            f"`{m.get('command', 'restock make-dataset')}`"
        )
    for f in summary.get("foreign", []):
        lines.append(
            f"- {f['source']} (train split only: {f['images']} images of {f['photos']} photos): {f['class_map']}; "
            f"labels {f['labels']}; pseudo-labels from the shipped model {f['pseudo_labels']}"
        )
    for src in sources:
        if not ((src if src.is_dir() else src.parent) / "manifest.json").is_file():
            lines.append(f"- {src}")
    lines += [
        "",
        "## Metrics (validation split, Ultralytics)",
        "",
        *(["- no val split in the data: 16 of its training images (not a held-out figure)"] if own_val else []),
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
        f"- recipe (Ultralytics options set): {summary.get('recipe') or 'defaults'}",
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
    parser.add_argument(
        "--from", dest="from_", default=None,
        help=f"fine-tune: 'shipped' ({export.with_suffix('.pt').name} beside the shipped model) or a checkpoint .pt",
    )  # fmt: skip
    parser.add_argument("--minutes", type=float, default=0.0, help="time budget in minutes (sets --hours)")
    parser.add_argument("--freeze", type=int, default=None, help="freeze the first N layers (10: YOLO11n's backbone)")
    parser.add_argument("--lr0", type=float, default=None, help="AdamW learning rate (0: Ultralytics' automatic)")
    parser.add_argument("--warmup-epochs", type=float, default=None, help="warm-up epochs (0: none)")
    parser.add_argument("--nbs", type=int, default=None, help="images per optimizer step (0: Ultralytics' 64)")
    parser.add_argument("--keep", choices=["auto", "best", "last"], default="auto",
                        help="weights kept: best on validation, or last (auto: last when a foreign set trains)")  # fmt: skip
    parser.set_defaults(shipped_checkpoint=str(export.with_suffix(".pt")))


def run_training(prog: str, train_fn, args: argparse.Namespace, argv: list[str] | None) -> dict | None:
    """Run ``train_fn(args, command)``; a bad dataset or a missing training extra is one clear line."""
    command = f"restock {prog} " + shlex.join(argv if argv is not None else sys.argv[1:])
    if args.minutes > 0:
        args.hours = args.minutes / 60
    if args.from_:
        args.model = args.shipped_checkpoint if args.from_ == "shipped" else args.from_
        if not Path(args.model).is_file():
            print(f"restock {prog}: no checkpoint {args.model} (python -m restock.vision.rebuild makes it)",
                  file=sys.stderr)  # fmt: skip
            return None
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
    parser.add_argument(
        "--class-map", default=None, help="foreign datasets' classes onto ours: 'empty=empty_front,...'"
    )
    parser.add_argument(
        "--pseudo-classes", default=",".join(CONTAINER_KINDS),
        help="our classes a foreign dataset leaves unlabelled that get the shipped model's boxes ('' for none)",
    )  # fmt: skip
    parser.add_argument("--pseudo-conf", type=float, default=0.5, help="score of a pseudo-label")
    parser.add_argument("--pseudo-model", type=Path, default=DEFAULT_MODEL, help="the ONNX model giving pseudo-labels")
    parser.add_argument("--shifted-copies", type=int, default=0,
                        help="per foreign photo, this many more copies under a random camera and light")  # fmt: skip
    args = parser.parse_args(argv)
    summary = run_training("train-detector", train, args, argv)
    if summary is None:
        return 2
    print(json.dumps({k: summary[k] for k in ("val_map50", "val_map50_per_class", "onnx", "train_seconds")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
