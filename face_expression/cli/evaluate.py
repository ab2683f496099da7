"""face-expression-eval's command line: arguments in, EvalOptions to the engine, exit codes out."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from face_expression.data.spec import DataSetError
from face_expression.engine import offline
from face_expression.engine.config import ModelError
from face_expression.engine.evaluation import EvalError, EvalOptions, run


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="face-expression-eval",
        description="Evaluate a face-expression model on a data set split: detection confusion matrix with "
        "background, accuracy / precision / recall / F1 per class and overall, mAP50 and mAP50-95.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "data", help="data set folder (Roboflow export or face-expression-dataset output) or data.yaml"
    )
    p.add_argument(
        "--model", type=Path, default=None, help="model .pt/.onnx/OpenVINO folder (default: bundled)"
    )
    p.add_argument(
        "--split",
        default="test",
        choices=("test", "val", "valid", "train"),
        help="split to evaluate; test falls back to valid with a warning",
    )
    p.add_argument(
        "--imgsz", type=int, default=None, help="inference size (default: the model's training size)"
    )
    p.add_argument(
        "--conf", type=float, default=0.25, help="confidence threshold, as the node's conf_threshold"
    )
    p.add_argument("--iou", type=float, default=0.45, help="NMS IoU, as the node's iou_threshold")
    p.add_argument(
        "--match-iou", type=float, default=0.5, help="IoU for a detection to count as a labelled face"
    )
    p.add_argument("--device", default="cpu", help="cpu or cuda:0")
    p.add_argument("--batch", type=int, default=16, help="batch size for the mAP validation")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (default runs/face_expression/eval/<model>-<split>)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    offline.prepare_environment()  # before torch is imported
    try:
        run(EvalOptions(**vars(args)))
    except (EvalError, DataSetError, ModelError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
