"""face-expression-train's command line: arguments in, TrainOptions to the engine, exit codes out."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from face_expression.data.spec import DataSetError
from face_expression.engine import offline
from face_expression.engine.config import ModelError
from face_expression.engine.training import DEFAULT_PROJECT, TrainError, TrainOptions, run


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="face-expression-train",
        description="Train the face + expression detector (YOLOv5 via Ultralytics) offline on a Roboflow or "
        "Ultralytics data set; copies the best weights to models/<name>.pt with a metadata JSON.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "data", nargs="?", help="data set folder (Roboflow 'YOLOv5 PyTorch' export) or its data.yaml"
    )
    p.add_argument("--model", default="n", help="n or s: YOLOv5n/s from scratch; a .pt: fine-tune it")
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--imgsz", type=int, default=640, help="training image size (multiple of 32)")
    p.add_argument(
        "--fliplr", type=float, default=0.5, help="horizontal flip probability (0 turns flips off)"
    )
    p.add_argument("--device", default=None, help="cpu or cuda:0 (default: cuda:0 if available, else cpu)")
    p.add_argument("--workers", type=int, default=None, help="data loader processes (default: min(8, cores))")
    p.add_argument(
        "--patience", type=int, default=100, help="stop after this many epochs without improvement"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--amp",
        choices=("auto", "bf16", "fp16", "off"),
        default="auto",
        help="mixed precision on GPU; fp16 runs Ultralytics' AMP check, which wants yolo26n.pt",
    )
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any other Ultralytics train argument, e.g. --set mosaic=0 --set lr0=0.005",
    )
    p.add_argument("--name", default=None, help="run and model name (default: face_expression_<model>)")
    p.add_argument("--project", type=Path, default=DEFAULT_PROJECT, help="folder of Ultralytics run folders")
    p.add_argument(
        "--output", type=Path, default=None, help="where to copy the best weights (default models/<name>.pt)"
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing output model")
    p.add_argument(
        "--resume",
        nargs="?",
        const="latest",
        default=None,
        metavar="RUN_OR_LAST_PT",
        help="continue an interrupted run (the newest run of --name, or the given run folder/last.pt)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    offline.prepare_environment()  # before torch is imported
    try:
        run(TrainOptions(**vars(args)))
    except (TrainError, DataSetError, ModelError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "interrupted; continue with: face-expression-train --resume"
            + (f" --name {args.name}" if args.name else ""),
            file=sys.stderr,
        )
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
