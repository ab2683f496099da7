"""face-expression-eval: the method's metrics for a model on a data set split.

The confusion matrix is built from the detections of ``ExpressionDetector`` with the node's
settings (confidence, NMS IoU, letterbox), so it measures what the robot will run, not what a
differently configured validator sees. mAP50 and mAP50-95, and the PR / F1 curves, come from
Ultralytics' validator (they need all low-confidence boxes, not the node's thresholded ones).

Writes report.md, metrics.json, confusion_matrix.png, PR_curve.png and F1_curve.png. The report
says what each number is; Ultralytics' own confusion matrix (at confidence 0.001, per-class
matching) is not kept, as it contradicts the node's.

Example::

    face-expression-eval data/faces --model models/face_expression_yolov5n_starter.pt
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from face_expression.core import metrics as fm
from face_expression.core.resources import default_model_path
from face_expression.data.labels import label_path, read_labels
from face_expression.data.spec import DataSetError, DataSpec, check, load, stage
from face_expression.engine import offline
from face_expression.engine.backends import checkpoint_policy, yolo_model
from face_expression.engine.config import InferenceConfig
from face_expression.engine.detector import ExpressionDetector


@dataclass
class EvalOptions:
    """One evaluation request (face-expression-eval's options)."""

    data: str
    model: Path | None = None
    split: str = "test"
    imgsz: int | None = None  # None: the model's training size
    conf: float = 0.25
    iou: float = 0.45
    match_iou: float = 0.5
    device: str = "cpu"
    batch: int = 16
    out: Path | None = None
    quiet: bool = False


class EvalError(RuntimeError):
    """An evaluation that cannot run; the message says what to do."""


def choose_split(spec: DataSpec, wanted: str) -> tuple[str, str | None]:
    """(split to use, warning): test by default, valid when the data set has no test split."""
    key = "val" if wanted in ("val", "valid") else wanted
    if spec.has_split(key):
        return key, None
    if key == "test" and spec.has_split("val"):
        return "val", (
            f"{spec.yaml_path} has no test split; evaluating on the valid split instead. Its images chose "
            "the best epoch, so the numbers are optimistic; keep a test split for a fair figure."
        )
    raise EvalError(f"{spec.yaml_path} has no '{wanted}' split; available: {sorted(spec.splits)}")


def class_map(model_names: dict[int, str], data_names: list[str]) -> dict[int, int]:
    """Model class id -> data set class id, by name; refuses models trained on other classes."""
    if [model_names[i] for i in sorted(model_names)] == data_names:
        return {i: i for i in model_names}
    if set(model_names.values()) <= set(data_names):
        return {i: data_names.index(n) for i, n in model_names.items()}
    raise EvalError(
        f"the model's classes {list(model_names.values())} do not match the data set's {data_names}; "
        "evaluate on a data set with the same class names (or retrain)."
    )


def ground_truth(image: Path, width: int, height: int, nc: int) -> list[tuple[fm.Box, int]]:
    """Label boxes of an image in pixels."""
    out = []
    for c, cx, cy, w, h in read_labels(label_path(image), nc):
        out.append(
            (((cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height), c)
        )
    return out


def detection_matrix(
    detector: ExpressionDetector,
    images: list[Path],
    names: list[str],
    match_iou: float,
    progress: bool = True,
) -> np.ndarray:
    """The detection-level confusion matrix of ``detector`` over ``images``."""
    from tqdm import tqdm

    mapping = class_map(detector.names, names)
    pairs = []
    for image in tqdm(images, desc="detecting", unit="img", disable=not progress):
        bgr = cv2.imread(str(image), cv2.IMREAD_COLOR)
        if bgr is None:
            raise DataSetError(f"unreadable image {image}")
        h, w = bgr.shape[:2]
        gt = ground_truth(image, w, h, len(names))
        pred = [((d.x1, d.y1, d.x2, d.y2), mapping[d.class_id]) for d in detector(bgr)]
        pairs += fm.image_pairs(gt, pred, len(names), match_iou)
    return fm.confusion_matrix(pairs, len(names))


def plot_matrix(matrix: np.ndarray, names: list[str], path: Path, title: str) -> None:
    """Counts with the background row/column, rows = truth, columns = prediction."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [*names, "background"]
    n = len(labels)
    fig, ax = plt.subplots(figsize=(1.4 * n + 2.5, 1.2 * n + 2), dpi=120)
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(n), labels, rotation=30, ha="right")
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    top = matrix.max() if matrix.size else 0
    for r in range(n):
        for c in range(n):
            value = int(matrix[r, c])
            ax.text(
                c,
                r,
                "-" if r == c == n - 1 else str(value),
                ha="center",
                va="center",
                color="white" if top and value > top / 2 else "black",
            )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def ultralytics_val(model: Path, staged_yaml: Path, split: str, args: EvalOptions, out: Path) -> dict:
    """mAP50, mAP50-95 and curve plots from Ultralytics' validator."""
    from face_expression.engine.training import checked_device

    offline.prepare_ultralytics()
    with checkpoint_policy(), yolo_model(model, task="detect") as yolo:
        result = yolo.val(
            data=str(staged_yaml),
            split=split,
            imgsz=args.imgsz,
            batch=args.batch,
            device=checked_device(args.device),
            plots=True,
            project=str(out),
            name="ultralytics",
            exist_ok=True,
            verbose=False,
        )
    save_dir = Path(result.save_dir)
    for misleading in save_dir.glob("confusion_matrix*.png"):  # confidence 0.001: not what the node reports
        misleading.unlink()
    for src, dst in (
        ("BoxPR_curve.png", "PR_curve.png"),
        ("BoxF1_curve.png", "F1_curve.png"),
        ("PR_curve.png", "PR_curve.png"),
        ("F1_curve.png", "F1_curve.png"),
    ):
        if (save_dir / src).is_file() and not (out / dst).exists():
            shutil.copyfile(save_dir / src, out / dst)
    names = result.names
    ap50 = {names[int(c)]: float(v) for c, v in zip(result.box.ap_class_index, result.box.ap50)}
    return {
        "map50": float(result.box.map50),
        "map50_95": float(result.box.map),
        "ap50_per_class": ap50,
        "ultralytics_dir": str(save_dir),
    }


def write_report(out: Path, info: dict, summary: fm.Summary, matrix: np.ndarray, names: list[str]) -> str:
    table = fm.format_table(summary)
    cfg = info["settings"]
    lines = [
        f"# Evaluation of {Path(info['model']).name}",
        "",
        f"- model: `{info['model']}`",
        f"- data: `{info['data']}`, split **{info['split']}** ({info['images']} images, "
        f"{info['faces']} labelled faces)",
        f"- detector settings (as the node runs): imgsz {cfg['imgsz']}, confidence >= {cfg['conf']}, "
        f"NMS IoU {cfg['iou']}; match IoU {cfg['match_iou']}",
    ]
    if info.get("warning"):
        lines += ["", f"> **Warning:** {info['warning']}"]
    lines += [
        "",
        "## Per-class and overall metrics",
        "",
        table,
        "",
        "The table counts the detections the node would publish (the settings above). In the overall row, "
        "support, TP, FP and FN are summed over the classes and accuracy is sum TP / N, while precision, "
        "recall and F1 are macro averages: the mean of the class rows, not ratios of the summed counts. "
        "Those ratios (micro precision / recall / F1) are "
        f"{summary.micro_precision:.3f} / {summary.micro_recall:.3f} / {summary.micro_f1:.3f}.",
        "",
        f"mAP50 = **{info['map50']:.4f}**, mAP50-95 = **{info['map50_95']:.4f}**: from Ultralytics' "
        "validator, "
        "which keeps every box down to confidence 0.001 and ranks them; they do not depend on the confidence "
        "threshold.",
        "",
        "## Confusion matrix (detections)",
        "",
        fm.format_matrix(matrix, names),
        "",
        "![confusion matrix](confusion_matrix.png)",
        "",
        "## Formulas",
        "",
        *[f"- **{k}**: {v}" for k, v in info["formulas"].items()],
        "",
        "## Curves",
        "",
        "The PR and F1 curves come from Ultralytics' validator, not from the table: boxes down to confidence "
        "0.001, its own NMS (IoU 0.7), matching per class at IoU 0.5, and one point per confidence "
        "threshold. "
        f"At confidence {cfg['conf']} the F1 curve therefore reads differently from the table, which counts "
        "the "
        f"node's boxes (NMS IoU {cfg['iou']}) matched across classes, so that a face given the wrong "
        "expression "
        "is one confusion there but a miss plus a false box for the validator. Ultralytics' own confusion "
        "matrix (at confidence 0.001) is left out for the same reason.",
        "",
        "![PR curve](PR_curve.png) ![F1 curve](F1_curve.png)",
        "",
    ]
    (out / "report.md").write_text("\n".join(lines), encoding="utf-8")
    return table


def run(args: EvalOptions) -> dict:
    """Evaluate and write the outputs; returns metrics.json's content."""
    model = Path(args.model).expanduser() if args.model else default_model_path()
    spec = load(args.data)
    split, warning = choose_split(spec, args.split)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    images = check(spec, [split], progress=not args.quiet)[split]
    if not any(read_labels(label_path(image), len(spec.names)) for image in images):
        folders = sorted({str(label_path(image).parent) for image in images})
        raise EvalError(
            f"the {split} split of {spec.yaml_path} has no labelled faces (its label files in "
            f"{', '.join(folders)} "
            "are missing or empty), so there is nothing to measure; label the images or evaluate another "
            "split"
        )
    cfg = InferenceConfig(
        model=str(model),
        imgsz=args.imgsz or 0,  # 0: the card's imgsz, else the training size (the engine's rule)
        conf_threshold=args.conf,
        iou_threshold=args.iou,
        device=args.device,
        expression_classifier="",  # the model as trained: the single stage face-expression-train makes
    )
    try:
        detector = ExpressionDetector(cfg)
    except ValueError as exc:
        raise EvalError(str(exc)) from exc
    args.imgsz = detector.imgsz  # Ultralytics' validator runs at the size the detector uses
    out = (
        (args.out or Path("runs") / "face_expression" / "eval" / f"{model.stem}-{split}")
        .expanduser()
        .resolve()
    )
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("PR_curve.png", "F1_curve.png"):
        (out / stale).unlink(missing_ok=True)

    matrix = detection_matrix(detector, images, spec.names, args.match_iou, progress=not args.quiet)
    summary = fm.summarize(matrix, spec.names)
    with tempfile.TemporaryDirectory(prefix="face_expression_eval_") as tmp:
        staged = stage(spec, Path(tmp) / "data", {split: images})
        val = ultralytics_val(detector.path, staged, split, args, out)
    plot_matrix(matrix, spec.names, out / "confusion_matrix.png", f"{model.name} on {split}")
    formulas = dict(fm.FORMULAS)
    formulas["matrix"] = formulas["matrix"].format(iou=args.match_iou)
    info = {
        "model": str(detector.path.resolve()),
        "data": str(spec.yaml_path),
        "split": "valid" if split == "val" else split,
        "warning": warning,
        "images": len(images),
        "faces": int(matrix[: len(spec.names), :].sum()),
        "settings": {
            "imgsz": args.imgsz,
            "conf": args.conf,
            "iou": args.iou,
            "match_iou": args.match_iou,
            "device": args.device,
        },
        "names": spec.names,
        "confusion_matrix": {
            "labels": [*spec.names, "background"],
            "rows": "ground truth",
            "columns": "prediction",
            "matrix": matrix.tolist(),
        },
        **summary.to_dict(),
        "map50": val["map50"],
        "map50_95": val["map50_95"],
        "ap50_per_class": val["ap50_per_class"],
        "ultralytics_dir": val["ultralytics_dir"],
        "formulas": formulas,
    }
    (out / "metrics.json").write_text(json.dumps(info, indent=2))
    table = write_report(out, info, summary, matrix, spec.names)
    print(table)
    print(f"mAP50 {val['map50']:.4f}  mAP50-95 {val['map50_95']:.4f}")
    print(fm.format_matrix(matrix, spec.names))
    print(f"report: {out / 'report.md'}")
    return info
