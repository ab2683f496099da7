"""The demo pipeline: camera -> detector -> recorder as three ROS 2 processes talking over DDS.

A small stand-in for ``ros2 launch`` (which needs the launch system installed): it starts the
three nodes as processes in one ROS domain, waits for the camera to finish its file, stops the
others with SIGINT (as Ctrl-C would) and summarises what the recorder wrote.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from face_expression.ros.node_command import node_command


@dataclass
class DemoOptions:
    source: str
    model: str
    imgsz: int = 0
    conf: float = 0.25
    expression_classifier: str = "auto"
    rate: float = 0.0
    output: Path = Path("demo_output")
    domain_id: int | None = None
    timeout: float = 300.0


def demo_environment(domain_id: int | None) -> dict[str, str]:
    """The nodes' environment: the given domain, or the caller's, else a random one on localhost."""
    env = dict(os.environ)
    if domain_id is not None:
        env["ROS_DOMAIN_ID"] = str(domain_id)
    elif "ROS_DOMAIN_ID" not in env:
        env["ROS_DOMAIN_ID"] = str(random.randint(1, 100))
        env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def start_nodes(opts: DemoOptions, env: dict[str, str]) -> dict[str, subprocess.Popen]:
    """Recorder first, camera last (it waits for a subscriber before its first frame)."""
    detector_params = {
        "model": opts.model,
        "imgsz": opts.imgsz,
        "conf_threshold": opts.conf,
        "expression_classifier": opts.expression_classifier,
    }
    camera_params = {
        "source": opts.source,
        "rate": opts.rate,
        "frame_id": "camera",
        "wait_for_subscribers": True,
    }
    recorder = subprocess.Popen(node_command("recorder", {"output_dir": str(opts.output)}), env=env)
    detector = subprocess.Popen(node_command("detector", detector_params), env=env)
    camera = subprocess.Popen(node_command("camera", camera_params), env=env)
    return {"camera": camera, "detector": detector, "recorder": recorder}


def wait_for_camera(procs: dict[str, subprocess.Popen], timeout: float) -> int:
    """0 once the camera has played its source through; 1 if a node failed or time ran out."""
    camera, detector = procs["camera"], procs["detector"]
    deadline = time.monotonic() + timeout
    while camera.poll() is None:
        if detector.poll() is not None:
            print("demo: the detector exited early (see its error above)", file=sys.stderr)
            return 1
        if time.monotonic() > deadline:
            print(f"demo: timed out after {timeout:.0f} s", file=sys.stderr)
            return 1
        time.sleep(0.2)
    if camera.returncode != 0:
        return 1
    time.sleep(1.5)  # let the last frames through the detector
    return 0


def stop_nodes(procs: dict[str, subprocess.Popen]) -> None:
    """SIGINT each node still running (Ctrl-C), then kill what does not stop in 15 s."""
    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    for name, proc in procs.items():
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            print(f"demo: {name} did not stop; killing it", file=sys.stderr)
            proc.kill()


def summarise(out: Path) -> int:
    """Print the recorder's summary; 1 when no detections arrived."""
    summary = out / "summary.json"
    if not summary.exists():
        print(f"demo: no summary written to {summary}", file=sys.stderr)
        return 1
    data = json.loads(summary.read_text())
    print(
        f"demo: {data['frames']} frames, {data['frames_with_faces']} with faces, labels "
        f"{data['labels']}, face ids {data.get('ids', {})} (frames each), {data['fps']} FPS; "
        f"annotated frames in {out / 'frames'}",
        flush=True,
    )
    if data["frames"] == 0:
        print("demo: no detections arrived", file=sys.stderr)
        return 1
    return 0


def run_demo(opts: DemoOptions) -> int:
    """Run the three nodes on ``opts.source``; the exit code of the whole demo."""
    env = demo_environment(opts.domain_id)
    out = opts.output
    frames = out / "frames"
    for stale in frames.glob("*.jpg") if frames.is_dir() else []:
        stale.unlink()  # our own output from an earlier demo run, never user data
    print(
        f"demo: {opts.source} -> model {opts.model} (imgsz {opts.imgsz}, expression classifier "
        f"{opts.expression_classifier or 'off'}) -> {out}/ "
        f"[ROS_DOMAIN_ID={env['ROS_DOMAIN_ID']}]",
        flush=True,
    )
    procs = start_nodes(opts, env)
    try:
        code = wait_for_camera(procs, opts.timeout)
    except KeyboardInterrupt:
        code = 130
    finally:
        stop_nodes(procs)
    return summarise(out) if code == 0 else code
