"""The demo: camera -> detector -> recorder as three ROS 2 processes talking over DDS.

A small stand-in for ``ros2 launch`` (launch is not installable everywhere): it runs the
bundled sample clip through the bundled model and leaves annotated frames, a per-frame log
and the measured FPS in the output folder.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from face_expression.core.resources import default_model_path, sample_stream_path
from face_expression.ros.node_command import node_command


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
    env = dict(os.environ)
    if args.domain_id is not None:
        env["ROS_DOMAIN_ID"] = str(args.domain_id)
    elif "ROS_DOMAIN_ID" not in env:
        env["ROS_DOMAIN_ID"] = str(random.randint(1, 100))
        env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    env["PYTHONUNBUFFERED"] = "1"
    out = Path(args.output)
    for stale in (out / "frames").glob("*.jpg") if (out / "frames").is_dir() else []:
        stale.unlink()  # our own output from an earlier demo run, never user data
    print(
        f"demo: {args.source} -> model {args.model} (imgsz {args.imgsz}) -> {out}/ "
        f"[ROS_DOMAIN_ID={env['ROS_DOMAIN_ID']}]",
        flush=True,
    )

    recorder = subprocess.Popen(node_command("recorder", {"output_dir": str(out)}), env=env)
    detector = subprocess.Popen(
        node_command("detector", {"model": args.model, "imgsz": args.imgsz, "conf_threshold": args.conf}),
        env=env,
    )
    camera = subprocess.Popen(
        node_command(
            "camera",
            {"source": args.source, "rate": args.rate, "frame_id": "camera", "wait_for_subscribers": True},
        ),
        env=env,
    )
    procs = {"camera": camera, "detector": detector, "recorder": recorder}
    code = 0
    deadline = time.monotonic() + args.timeout
    try:
        while camera.poll() is None:
            if detector.poll() is not None:
                print("demo: the detector exited early (see its error above)", file=sys.stderr)
                code = 1
                break
            if time.monotonic() > deadline:
                print(f"demo: timed out after {args.timeout:.0f} s", file=sys.stderr)
                code = 1
                break
            time.sleep(0.2)
        if camera.poll() not in (None, 0):
            code = 1
        time.sleep(1.5)  # let the last frames through the detector
    except KeyboardInterrupt:
        code = 130
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for name, proc in procs.items():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                print(f"demo: {name} did not stop; killing it", file=sys.stderr)
                proc.kill()
    summary = out / "summary.json"
    if code == 0 and summary.exists():
        data = json.loads(summary.read_text())
        print(
            f"demo: {data['frames']} frames, {data['frames_with_faces']} with faces, labels "
            f"{data['labels']}, {data['fps']} FPS; annotated frames in {out / 'frames'}",
            flush=True,
        )
        if data["frames"] == 0:
            print("demo: no detections arrived", file=sys.stderr)
            code = 1
    return code


if __name__ == "__main__":
    sys.exit(main())
