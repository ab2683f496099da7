"""face-expression-train: train the face + expression detector the way the published method did.

Defaults follow the method: YOLOv5 (n; s selectable) built from Ultralytics' yaml, 50 epochs,
batch 16, horizontal flips, 640 px. The data set may be a Roboflow "YOLOv5 PyTorch" export as
downloaded (``../train/images`` paths, list or dict names, no test split) or any Ultralytics
data.yaml; it is checked, then staged (see ``data_yaml``) so it is never modified. The best
weights are copied to ``models/<name>.pt`` with a JSON beside them that says what produced them.

Examples::

    face-expression-train data/faces                                # YOLOv5n, method defaults
    face-expression-train data/faces --model s --device cuda:0 --epochs 100
    face-expression-train data/faces --model models/face_expression_yolov5n_starter.pt --epochs 20 # fine-tune
    face-expression-train --resume --name face_expression_yolov5n   # continue an interrupted run
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from face_expression.data.spec import DataSpec, check, fingerprint, load, stage
from face_expression.engine import offline
from face_expression.engine.backends import checkpoint_policy, yolo_model
from face_expression.engine.devices import check_device, default_device, ultralytics_device
from face_expression.engine.model_card import SHA256_KEY, file_sha256

MODEL_SIZES = ("n", "s", "m", "l", "x")
DEFAULT_PROJECT = Path("runs") / "face_expression"


@dataclass
class TrainOptions:
    """One training request (face-expression-train's options; defaults follow the method)."""

    data: str | None = None
    model: str = "n"
    epochs: int = 50
    batch: int = 16
    imgsz: int = 640
    fliplr: float = 0.5
    device: str | None = None
    workers: int | None = None
    patience: int = 100
    seed: int = 0
    amp: str = "auto"
    set: list[str] = field(default_factory=list)
    name: str | None = None
    project: Path = DEFAULT_PROJECT
    output: Path | None = None
    force: bool = False
    resume: str | None = None


class TrainError(RuntimeError):
    """A training request that cannot run; the message says what to do."""


def checked_device(device: str) -> str:
    """The Ultralytics device string for ``device``, after checking it exists."""
    try:
        check_device(device)
    except ValueError as exc:
        raise TrainError(str(exc)) from exc
    return ultralytics_device(device)


def model_source(model: str) -> tuple[str, str]:
    """(what YOLO() loads, a short tag for the default name) for 'n'/'s'/yaml/.pt."""
    if model in MODEL_SIZES:
        return f"yolov5{model}.yaml", f"yolov5{model}"
    path = Path(model).expanduser()
    if path.suffix in (".yaml", ".yml"):
        return model, path.stem
    if path.suffix != ".pt":
        raise TrainError(
            f"--model {model!r}: use n or s (YOLOv5 from scratch), a .pt to fine-tune, or a model yaml"
        )
    if not path.is_file():
        raise TrainError(f"--model {path}: file not found")
    return str(path.resolve()), path.stem


def amp_setting(amp: str, device: str) -> bool | str:
    """Mixed precision without Ultralytics' AMP check, which downloads yolo26n.pt.

    'auto' uses bfloat16 where the GPU supports it, else full precision; 'fp16' runs
    Ultralytics' check (needs the weights cached or network).
    """
    if device == "cpu" or amp == "off":
        return False
    if amp == "auto":
        import torch

        return "bf16" if torch.cuda.is_bf16_supported() else False
    return amp


def parse_overrides(items: list[str]) -> dict:
    """KEY=VALUE pairs (YAML-typed values) for any Ultralytics train argument."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise TrainError(f"--set {item!r} must be KEY=VALUE, e.g. --set mosaic=0")
        out[key.strip()] = yaml.safe_load(value)
    return out


def find_last(project: Path, name: str, resume: str) -> Path:
    """The checkpoint to resume: a given last.pt or run folder, else the newest run of ``name``."""
    if resume and resume != "latest":
        p = Path(resume).expanduser()
        p = p / "weights" / "last.pt" if p.is_dir() else p
        if not p.is_file():
            raise TrainError(f"--resume {resume}: no checkpoint at {p}")
        return p
    runs = sorted(project.glob(f"{name}*/weights/last.pt"), key=lambda p: p.stat().st_mtime)
    if not runs:
        raise TrainError(f"nothing to resume: no {project}/{name}*/weights/last.pt; start a training first")
    return runs[-1]


def _jsonable(value: object) -> object:
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return str(value)


def write_metadata(path: Path, trainer, spec: DataSpec | None, names: list[str], source: str) -> dict:
    """The JSON beside the weights: what data, settings and software produced them, how good they are."""
    import torch
    import ultralytics

    metrics = {k: float(v) for k, v in (getattr(trainer, "metrics", None) or {}).items()}
    meta = {
        "model": path.with_suffix(".pt").name,
        SHA256_KEY: file_sha256(path.with_suffix(".pt")),  # checked by the node before it loads the weights
        "architecture": source,
        "task": "detect",
        "class_names": names,
        "data": {
            "yaml": str(spec.yaml_path) if spec else None,
            "fingerprint_sha256": fingerprint(spec) if spec else None,
        },
        "training_args": _jsonable(vars(trainer.args)),
        "final_metrics": metrics,
        "epochs_completed": int(getattr(trainer, "epoch", -1)) + 1,
        "run_dir": str(Path(trainer.save_dir).resolve()),
        "versions": {"ultralytics": ultralytics.__version__, "torch": torch.__version__},
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    path.write_text(json.dumps(meta, indent=2))
    return meta


def _resume(project: Path, name: str, args: TrainOptions, device: str):
    """Continue an interrupted run; returns (model, data spec or None, architecture source)."""
    last = find_last(project, name, args.resume or "latest")
    with yolo_model(last) as model:
        return _resume_model(model, last, device)


def _resume_model(model, last: Path, device: str):
    ckpt = model.ckpt or {}
    if ckpt.get("epoch", -1) == -1:
        raise TrainError(
            f"{last} belongs to a finished run; nothing to resume. Start a new training, or fine-tune "
            f"from it with --model {Path(last).parent / 'best.pt'}"
        )
    spec = None
    staged = ckpt.get("train_args", {}).get("data")
    if staged and Path(staged).is_file():
        src = yaml.safe_load(Path(staged).read_text(encoding="utf-8")).get("source")
        spec = load(src) if src and Path(src).exists() else None
    source = str(ckpt.get("train_args", {}).get("model", ""))
    print(f"resuming {last}")
    model.train(resume=True, device=device)
    return model, spec, source


def _train_new(source: str, project: Path, name: str, args: TrainOptions, device: str):
    """Check and stage the data set, then train from ``source``; returns (model, data spec)."""
    if not args.data:
        raise TrainError("give the data set folder or data.yaml (or --resume)")
    if args.imgsz < 32 or args.imgsz % 32:
        raise TrainError(f"--imgsz {args.imgsz} must be a multiple of 32 (e.g. 320, 640)")
    spec = load(args.data)
    if not spec.has_split("val"):
        raise TrainError(
            f"{spec.yaml_path} has no val/valid split, which training needs to pick the best weights; "
            "add one (e.g. val: ../valid/images) or re-split with face-expression-dataset --from-folder"
        )
    images = check(spec)
    staged = stage(spec, project / "_data" / fingerprint(spec)[:16], images)
    print(f"data: {spec.yaml_path} -> staged {staged} (classes {spec.names})")
    train_args = {
        "data": str(staged),
        "epochs": args.epochs,
        "batch": args.batch,
        "imgsz": args.imgsz,
        "fliplr": args.fliplr,
        "device": device,
        "workers": args.workers if args.workers is not None else min(8, os.cpu_count() or 1),
        "patience": args.patience,
        "seed": args.seed,
        "amp": amp_setting(args.amp, device),
        "project": str(project),
        "name": name,
        "exist_ok": False,
        "plots": True,
    }
    train_args.update(parse_overrides(args.set))
    with yolo_model(Path(source)) as model:  # the link lives as long as training
        model.train(**train_args)
    return model, spec


def _output_path(args: TrainOptions, name: str) -> Path:
    """Where the best weights go; refuses to overwrite without --force."""
    output = (args.output or Path("models") / f"{name}.pt").expanduser().resolve()
    if output.suffix != ".pt":
        raise TrainError(f"--output {output} must end in .pt")
    existing = [p for p in (output, output.with_suffix(".json")) if p.exists()]
    if existing and not args.force:
        raise TrainError(f"{existing[0]} already exists; pass --force to overwrite it or choose --output")
    return output


def _publish_best(trainer, output: Path, spec: DataSpec | None, source: str) -> dict:
    """Copy the run's best (else last) weights to ``output`` and write the JSON card beside it."""
    best = Path(trainer.save_dir) / "weights" / "best.pt"
    if not best.is_file():
        best = Path(trainer.save_dir) / "weights" / "last.pt"
    if not best.is_file():
        raise TrainError(f"training wrote no weights in {trainer.save_dir}; see the log above")
    output.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(best, output)
    names = [str(v) for _, v in sorted(trainer.data["names"].items())]
    meta = write_metadata(output.with_suffix(".json"), trainer, spec, names, source)
    print(f"run folder: {trainer.save_dir}\nmodel: {output}\nmetadata: {output.with_suffix('.json')}")
    for key, value in meta["final_metrics"].items():
        if key.startswith("metrics/"):
            print(f"  {key[8:]}: {value:.4f}")
    return meta


def run(args: TrainOptions) -> dict:
    """Train (or resume) and copy the best weights out; returns the metadata written."""
    source, tag = model_source(args.model) if not args.resume else ("", "")
    name = args.name or (f"face_expression_{tag}" if tag else "face_expression_yolov5n")
    output = _output_path(args, name)
    project = Path(args.project).expanduser().resolve()
    device = checked_device(args.device or default_device())

    offline.prepare_ultralytics()
    with checkpoint_policy():  # a .pt given to fine-tune or resume is loaded like any untrusted model
        if args.resume:
            model, spec, source = _resume(project, name, args, device)
        else:
            model, spec = _train_new(source, project, name, args, device)
    return _publish_best(model.trainer, output, spec, source)
