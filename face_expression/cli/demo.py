"""The demo: camera -> detector -> recorder as three ROS 2 processes talking over DDS.

A small stand-in for ``ros2 launch`` (launch is not installable everywhere): it runs the
bundled sample clip through the bundled model and leaves annotated frames, a per-frame log
and the measured FPS in the output folder.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from face_expression.core.resources import default_model_path, sample_stream_path
from face_expression.ros.demo_pipeline import DemoOptions, run_demo


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="face-expression-demo", description=__doc__)
    ap.add_argument(
        "--source",
        default=str(sample_stream_path()),
        help="video file, image folder or camera index (default: the bundled clip)",
    )
    ap.add_argument("--model", default=str(default_model_path()), help="model file (default: bundled)")
    ap.add_argument("--imgsz", type=int, default=0, help="inference size (default: the model's)")
    ap.add_argument("--conf", type=float, default=0.25, help="confidence threshold")
    ap.add_argument(
        "--expression-classifier",
        default="auto",
        help="second stage: auto (the bundled classifier for the bundled model), bundled, an .onnx path, "
        "or '' (off); the detector's expression_classifier parameter",
    )
    ap.add_argument("--rate", type=float, default=0.0, help="frames per second (0 = the clip's own)")
    ap.add_argument("--output", default="demo_output", help="output folder (default demo_output)")
    ap.add_argument(
        "--domain-id",
        type=int,
        default=None,
        help="ROS_DOMAIN_ID (default: $ROS_DOMAIN_ID, else a random one on localhost only)",
    )
    ap.add_argument("--timeout", type=float, default=300.0, help="give up after this many seconds")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_demo(
        DemoOptions(
            source=args.source,
            model=args.model,
            imgsz=args.imgsz,
            conf=args.conf,
            expression_classifier=args.expression_classifier,
            rate=args.rate,
            output=Path(args.output),
            domain_id=args.domain_id,
            timeout=args.timeout,
        )
    )


if __name__ == "__main__":
    sys.exit(main())
