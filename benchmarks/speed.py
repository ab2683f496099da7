"""Speed benchmark: the raw Ultralytics loop, our engine, and the detector node over DDS, in one run.

Why one run: on a shared machine timings drift by +-30% between runs, so every comparison the
goals ask for (node / raw, backend vs backend) is measured here side by side, raw and engine
loops interleaved in short chunks, and the machine load is recorded with the numbers.

For each backend (PyTorch, ONNX Runtime, OpenVINO; OpenVINO also in forced f32 for CPUs without
bf16 hardware) and imgsz (320/416/640), it measures:

1. raw loop: ``YOLO(model).predict`` on the same 640x480 real frames, same imgsz and backend;
2. engine loop: ``ExpressionDetector`` (what the node runs);
3. the node end to end: ``python -m face_expression.ros.detector_node`` as a subprocess on its own
   ROS domain; a publisher sends 640x480 rgb8 frames at 15, 30, 60 Hz, at 1.25x the raw loop's
   rate (the node always has a frame waiting: its throughput), at 2x (overload) and as fast as it
   can; it records throughput, latency from the header stamp to the detections' arrival
   (p50/p95/p99), dropped frames, the node's CPU and RSS.

``--overload-minutes M`` then runs the fastest backend at 2x its raw rate for M minutes and
checks that latency and memory stay flat. Results: ``speed.md``, ``speed.json``, ``speed.png``.

    python benchmarks/speed.py                      # full run, about 20 min on 2 cores
    python benchmarks/speed.py --quick              # smoke run, about 1 min
    python benchmarks/speed.py --overload-minutes 5 # plus the 5-minute overload check
    python benchmarks/speed.py --device cuda --half --out benchmarks/results/gpu  # on a GPU machine
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import sys
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Our own DDS domain on this machine only, before rclpy is imported anywhere.
os.environ["ROS_DOMAIN_ID"] = os.environ.get("FACE_EXPRESSION_BENCH_DOMAIN", str(random.randint(102, 200)))
# Discovery on this machine only unless asked (SUBNET is ROS 2's default: what a robot runs with).
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = os.environ.get("FACE_EXPRESSION_BENCH_DISCOVERY", "LOCALHOST")
os.environ.pop("ROS_LOCALHOST_ONLY", None)
# VGA frames do not fit Fast DDS' default shared-memory segment: most are lost (see the XML).
DDS_PROFILE = Path(__file__).resolve().parent.parent / "config" / "fastdds_large_frames.xml"
if "--default-dds" not in sys.argv:
    os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(DDS_PROFILE))

# Imported before prepare_environment() below: speed_node notes the caller's own OMP_WAIT_POLICY.
from speed_inputs import export_models, real_frames, stand_in_model  # noqa: E402
from speed_loops import RawLoop, interleaved  # noqa: E402
from speed_node import Bench, NodeSpec, overload, run_node  # noqa: E402
from speed_report import goals, load, machine_info, markdown, plot  # noqa: E402

from face_expression.engine import offline  # noqa: E402
from face_expression.engine.config import InferenceConfig  # noqa: E402
from face_expression.engine.detector import ExpressionDetector  # noqa: E402

offline.prepare_environment()  # before torch: offline, idle threads sleep unless the caller chose

BACKENDS = ("pytorch", "onnx", "openvino", "openvino-f32")
RESULTS = ROOT / "benchmarks" / "results"


# -- main -----------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=None, help="a .pt (default: bundled model, else a stand-in)")
    p.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    p.add_argument("--imgsz", nargs="+", type=int, default=[320, 416, 640])
    p.add_argument("--rates", nargs="+", type=float, default=[15, 30, 60, 120], help="publish rates in Hz")
    p.add_argument(
        "--seconds", type=float, default=8.0, help="per loop and per node rate (3 s cells scattered +-15%%)"
    )
    p.add_argument("--threads", type=int, default=0, help="inference threads (0 = the engine's default)")
    p.add_argument(
        "--device", default="cpu", help="cpu, cuda or cuda:N (a GPU runs the PyTorch backend only)"
    )
    p.add_argument("--half", action="store_true", help="FP16 inference (CUDA)")
    p.add_argument(
        "--parallel-frames", type=int, default=0, help="the node's parallel_frames (0 = its default, auto)"
    )
    p.add_argument("--quick", action="store_true", help="smoke run: OpenVINO, imgsz 320, short cells")
    p.add_argument("--overload-minutes", type=float, default=0.0, help="then run 2x overload this long")
    p.add_argument(
        "--overload-backend", default=None, help="backend for the overload check (default fastest)"
    )
    p.add_argument("--overload-imgsz", type=int, default=640)
    p.add_argument(
        "--default-dds", action="store_true", help="Fast DDS defaults (no large shared-memory segment)"
    )
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument(
        "--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "face_expression_speed"
    )
    args = p.parse_args(argv)
    if args.device != "cpu":
        args.backends = ["pytorch"]  # no GPU build of ONNX Runtime / OpenVINO here
    if args.quick:
        args.backends = [b for b in ("openvino", "onnx") if b in args.backends][:1] or args.backends[:1]
        args.imgsz, args.rates, args.seconds = [320], [30], min(args.seconds, 1.5)
    return args


def model_to_time(args: argparse.Namespace) -> Path:
    """--model, else the bundled model, else a random-weight stand-in of the same graph."""
    from face_expression.core.resources import default_model_path

    model = args.model or default_model_path()
    if not model.is_file():
        model = stand_in_model(args.work / "standin_yolov5n.pt")
        print(f"bundled model missing: timing a random-weight stand-in {model}", flush=True)
    return model


def new_report(args: argparse.Namespace, argv: list[str] | None, model: Path) -> dict:
    """The report's header: date, command, machine, load, settings; cells follow."""
    return {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": "python benchmarks/speed.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": machine_info(),
        "load_start": load(),
        "model": model.name,
        "threads": args.threads,
        "parallel_frames": args.parallel_frames,
        "device": args.device + (" fp16" if args.half else ""),
        "dds_profile": os.environ.get("FASTDDS_DEFAULT_PROFILES_FILE", "Fast DDS defaults"),
        "seconds": args.seconds,
        "cells": [],
    }


def node_spec(args: argparse.Namespace, path: Path, imgsz: int) -> NodeSpec:
    extra = (f"device:={args.device}", f"half:={str(args.half).lower()}") if args.device != "cpu" else ()
    return NodeSpec(path, imgsz, args.threads, (*extra, f"parallel_frames:={args.parallel_frames}"))


def time_loops(
    args: argparse.Namespace, path: Path, backend: str, imgsz: int, frames: list
) -> tuple[dict[str, dict], RawLoop]:
    """Raw Ultralytics loop and engine loop on one export, warmed up, then interleaved.

    The raw loop runs PyTorch on the engine's thread count (threads 0: the engine's default).
    Returns the timings and the raw loop (run again beside the node's rates).
    """
    engine = ExpressionDetector(
        InferenceConfig(
            model=str(path),
            imgsz=imgsz,
            threads=args.threads,
            device=args.device,
            half=args.half,
            expression_classifier="",  # the detector, as the raw loop; the second stage: accuracy.py
            parallel_frames=1,  # one caller, one frame at a time (as the raw loop): all threads per frame
        )
    )
    raw = RawLoop(path, imgsz, backend, engine.threads, args.work, args.device, args.half)
    raw.setup(frames[0])
    for f in frames[:3]:
        raw(f)
        engine(f)
    return interleaved({"raw": raw, "engine": engine}, frames, args.seconds), raw


def run_cell(
    args: argparse.Namespace, bench: Bench, frames: list, path: Path, backend: str, imgsz: int
) -> dict:
    """One backend and imgsz: the two loops, then the node at every publish rate."""
    print(f"[{backend} {imgsz}] {path.name}  {load()}", flush=True)
    loops, raw = time_loops(args, path, backend, imgsz, frames)
    rates = [(f"{r:g} Hz", r) for r in args.rates] + [
        ("1.25x", 1.25 * loops["raw"]["fps"]),
        ("2x", 2.0 * loops["raw"]["fps"]),
        ("max", 0.0),
    ]
    log = args.work / f"node_{backend}_{imgsz}.log"

    # the ratios' raw rate: measured right before and after the 1.25x and 2x rates (drift here is
    # +-15% over minutes: the overload check's 10 s windows of one setting ranged 36-49 frames/s)
    def raw_beside() -> float:
        return interleaved({"raw": raw}, frames, args.seconds / 2)["raw"]["fps"]

    node = run_node(
        bench, node_spec(args, path, imgsz), rates, args.seconds, log, raw_beside, {"1.25x": 1.25, "2x": 2.0}
    )
    by = {r.rate: r for r in node.results}
    print(
        f"   raw {loops['raw']['p50']:.1f} ms ({loops['raw']['fps']:.1f}/s)  engine "
        f"{loops['engine']['p50']:.1f} ms ({loops['engine']['fps']:.1f}/s)  node 1.25x "
        f"{by['1.25x'].fps:.1f}/s (raw beside {by['1.25x'].raw_fps_beside:.1f})  2x {by['2x'].fps:.1f}/s "
        f"(raw beside {by['2x'].raw_fps_beside:.1f}) p50 {by['2x'].latency['p50']:.1f} ms  "
        f"max {by['max'].fps:.1f}/s",
        flush=True,
    )
    return {"backend": backend, "imgsz": imgsz, **loops, "node": asdict(node)}


def run_overload(args: argparse.Namespace, bench: Bench, cells: list[dict], exports: dict) -> dict:
    """The fastest cell (at --overload-imgsz, of --overload-backend) at 2x its raw rate for a while."""
    candidates = [c for c in cells if c["imgsz"] == args.overload_imgsz] or cells
    if args.overload_backend:
        candidates = [c for c in candidates if c["backend"] == args.overload_backend] or candidates
    best = max(candidates, key=lambda c: c["raw"]["fps"])
    hz = 2.0 * best["raw"]["fps"]
    print(f"[overload] {best['backend']} {best['imgsz']} at {hz:.0f} Hz for {args.overload_minutes} min")
    node = node_spec(args, exports[best["backend"], best["imgsz"]], best["imgsz"])
    result = overload(bench, node, hz, args.overload_minutes, args.work / "node_overload.log")
    return {"backend": best["backend"], **result}


def write_results(args: argparse.Namespace, report: dict) -> None:
    stem = "speed_quick" if args.quick else "speed"
    (args.out / f"{stem}.json").write_text(json.dumps(report, indent=1))
    (args.out / f"{stem}.md").write_text(markdown(report))
    plot(report, args.out / f"{stem}.png")
    print("\n".join(report["goals"]))
    print(f"wrote {args.out / (stem + '.md')}, .json, .png")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import openvino  # noqa: F401
    except ImportError:
        args.backends = [b for b in args.backends if not b.startswith("openvino")]
        print("openvino not installed: skipping OpenVINO (pip install openvino)", flush=True)
    args.work.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    model = model_to_time(args)
    report = new_report(args, argv, model)
    print(f"{report['machine']}\n{report['load_start']}", flush=True)
    frames = real_frames()
    report["frames"] = len(frames)
    exports = export_models(model, args.imgsz, args.backends, args.work)
    bench = Bench(frames)
    try:
        for backend in args.backends:
            for imgsz in args.imgsz:
                report["cells"].append(run_cell(args, bench, frames, exports[backend, imgsz], backend, imgsz))
        if args.overload_minutes > 0:
            report["overload"] = run_overload(args, bench, report["cells"], exports)
    finally:
        bench.close()
    report["load_end"] = load()
    report["goals"] = goals(report)
    write_results(args, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
