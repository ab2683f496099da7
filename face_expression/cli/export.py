"""face-expression-export's command line: arguments in, export() called, exit codes out."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from face_expression.engine import offline
from face_expression.engine.export import (
    FORMATS,
    OV_PRECISIONS,
    camera_shape,
    export,
    missing_requirements,
)


def parse_shape(text: str) -> tuple[int, int]:
    """'640' -> (640, 640); '480x640' -> (480, 640) as height x width, like Ultralytics."""
    parts = text.lower().replace(",", "x").split("x")
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not N or HxW (e.g. 640 or 480x640)") from None
    if len(values) == 1:
        values *= 2
    if len(values) != 2 or any(v < 32 or v % 32 for v in values):
        raise argparse.ArgumentTypeError(f"{text!r}: sizes must be multiples of 32, at least 32")
    return values[0], values[1]


def parse_camera(text: str) -> tuple[int, int]:
    """'640x480' -> (640, 480) as width x height, the way cameras are named."""
    try:
        w, h = (int(p) for p in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not WxH (e.g. 640x480)") from None
    if w <= 0 or h <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: width and height must be positive")
    return w, h


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="face-expression-export",
        description="Export a face_expression .pt model to ONNX and/or OpenVINO for fast CPU inference.",
    )
    parser.add_argument("model", type=Path, help="Ultralytics detect checkpoint (.pt)")
    parser.add_argument(
        "--imgsz",
        type=parse_shape,
        default=(640, 640),
        help="input size: N (square, or long side with --camera) or HxW, e.g. 480x640 (default 640)",
    )
    parser.add_argument(
        "--camera",
        type=parse_camera,
        default=None,
        help="camera WxH, e.g. 640x480: export at that aspect (imgsz 640 -> 480x640), no padding",
    )
    parser.add_argument(
        "--format",
        dest="formats",
        nargs="+",
        choices=FORMATS,
        default=list(FORMATS),
        help="formats to write (default: onnx openvino)",
    )
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: beside the model)")
    parser.add_argument("--name", default=None, help="file stem (default: <model stem>_<H>x<W>)")
    parser.add_argument(
        "--ov-precision",
        choices=OV_PRECISIONS,
        default="auto",
        help="OpenVINO inference precision: auto (bf16 on CPUs with AMX, else f32), f32, bf16, f16",
    )
    parser.add_argument("--half", action="store_true", help="OpenVINO: store weights as FP16 (smaller file)")
    parser.add_argument("--opset", type=int, default=None, help="ONNX opset (default: Ultralytics' choice)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``face-expression-export``; exits 2 (as the other tools) with a clear message."""
    """Entry point of ``face-expression-export``; exits 1 with a clear message on any problem."""
    args = build_parser().parse_args(argv)
    offline.prepare_environment()  # before torch is imported
    model: Path = args.model.expanduser()
    if not model.is_file() or model.suffix != ".pt":
        print(f"face-expression-export: {model} is not a .pt checkpoint", file=sys.stderr)
        return 2
    h, w = args.imgsz
    if args.camera is not None:
        if h != w:
            print("face-expression-export: give --camera with a single --imgsz N, not HxW", file=sys.stderr)
            return 2
        h, w = camera_shape(h, *args.camera)
    missing = missing_requirements(args.formats)
    if missing:
        print(
            f"face-expression-export: missing packages for {', '.join(args.formats)}: "
            f"pip install {' '.join(missing)}",
            file=sys.stderr,
        )
        return 2
    out_dir = (args.out or model.parent).expanduser()
    try:
        paths = export(
            model, (h, w), args.formats, out_dir, args.name, args.half, args.ov_precision, args.opset
        )
    except Exception as exc:  # one readable line instead of an exporter traceback
        print(f"face-expression-export: export of {model} failed: {exc}", file=sys.stderr)
        return 2
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
