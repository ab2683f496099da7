"""What the second stage costs: the detector alone vs detector + expression classifier, per frame.

The speed goal for the default is CPU time per frame at most 1.3x the detector alone. On a CPU
shared with other jobs, two methods timed one after the other see different loads (the accuracy
table's ms / frame shows it), so here both run on the same frames **interleaved**: every frame
goes through the detector alone and the two-stage detector back to back, in alternating order,
for several passes, and wall and process CPU time (all threads) are summed per configuration.

Rows: the bundled .pt (Ultralytics backend) and its ONNX export (lean runtime: the classifier's
share is larger there because the detector is faster), on the held-out test images of the
accuracy benchmark (one to a few faces each), and on a crowd frame (the test image with the most
faces) where the classifier runs once per face. The classifier alone is timed on batches of crops.

    python benchmarks/second_stage.py --manifest /work/data/starter/yolo/test_manifest.json \\
        --out benchmarks/results/second_stage.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def interleaved_cost(detectors: dict, frames: list[np.ndarray], passes: int) -> dict[str, dict]:
    """Mean wall and CPU ms per frame of each detector, run back to back on every frame."""
    totals = {name: [0.0, 0.0] for name in detectors}
    faces = {name: 0 for name in detectors}
    names = list(detectors)
    for p in range(passes):
        for frame in frames:
            for name in names if p % 2 == 0 else names[::-1]:
                t0, c0 = time.perf_counter(), time.process_time()
                found = detectors[name](frame)
                totals[name][0] += time.perf_counter() - t0
                totals[name][1] += time.process_time() - c0
                faces[name] += len(found)
    n = passes * len(frames)
    return {
        name: {
            "wall_ms": round(1000 * w / n, 2),
            "cpu_ms": round(1000 * c / n, 2),
            "faces_per_frame": round(faces[name] / n, 2),
        }
        for name, (w, c) in totals.items()
    }


def classifier_ms_per_face(detector, frame: np.ndarray, batch: int, repeats: int = 50) -> float:
    """The classifier alone (crops + inference) on ``batch`` copies of the frame's first face."""
    from face_expression.core.face_crops import expression_crops

    box = next(((d.x1, d.y1, d.x2, d.y2) for d in detector(frame)), (0.0, 0.0, 64.0, 64.0))
    classifier = detector.classifier
    classifier.probabilities(expression_crops(frame, [box] * batch))
    t0 = time.perf_counter()
    for _ in range(repeats):
        classifier.probabilities(expression_crops(frame, [box] * batch))
    return round(1000 * (time.perf_counter() - t0) / repeats / batch, 3)


def export_onnx(model: Path, imgsz: int, out: Path) -> Path:
    from face_expression.cli.export import main as export_main

    out.mkdir(parents=True, exist_ok=True)
    if export_main([str(model), "--imgsz", str(imgsz), "--out", str(out), "--format", "onnx"]) != 0:
        raise RuntimeError("face-expression-export failed")
    return next(out.glob("*.onnx"))


def _detectors(args: argparse.Namespace, model: Path, baseline: Path | None) -> dict:
    """The configurations interleaved on each frame: baseline (optional), alone, two-stage."""
    from face_expression.engine.config import InferenceConfig
    from face_expression.engine.detector import ExpressionDetector

    def make(path: Path, imgsz: int, classifier: str) -> ExpressionDetector:
        return ExpressionDetector(
            InferenceConfig(
                model=str(path), imgsz=imgsz, threads=args.threads, expression_classifier=classifier
            )
        )

    detectors = {}
    if baseline is not None:
        detectors["baseline alone"] = make(baseline, args.baseline_imgsz, "")
    detectors["detector alone"] = make(model, args.imgsz, "")
    detectors["detector + classifier"] = make(model, args.imgsz, args.classifier)
    assert detectors["detector + classifier"].refines_expressions
    return detectors


def run(args: argparse.Namespace) -> dict:
    import cv2

    from face_expression.engine.config import InferenceConfig
    from face_expression.engine.detector import ExpressionDetector

    args.imgsz = args.imgsz or ExpressionDetector(InferenceConfig(model=str(args.model))).imgsz
    items = json.loads(args.manifest.read_text())
    frames = [cv2.imread(str(args.manifest.parent / it["image"])) for it in items]
    crowd_item = max(items, key=lambda it: len(it["faces"]))
    crowd = cv2.imread(str(args.manifest.parent / crowd_item["image"]))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        base = args.baseline
        models = {
            "pt (Ultralytics backend)": (args.model, base),
            "onnx (lean runtime)": (
                export_onnx(args.model, args.imgsz, Path(tmp) / "model"),
                base and export_onnx(base, args.baseline_imgsz, Path(tmp) / "baseline"),
            ),
        }
        for label, (model, baseline) in models.items():
            detectors = _detectors(args, model, baseline)
            for det in detectors.values():
                det(frames[0])  # warm-up
            for frames_name, these, passes in (
                (f"{len(frames)} test images", frames, args.passes),
                (f"crowd frame ({len(crowd_item['faces'])} labelled faces)", [crowd], args.passes * 10),
            ):
                cost = interleaved_cost(detectors, these, passes)
                alone, both = cost["detector alone"], cost["detector + classifier"]
                rows.append(
                    {
                        "model": label,
                        "frames": frames_name,
                        **{f"{k}_alone": v for k, v in alone.items()},
                        **{f"{k}_two_stage": v for k, v in both.items()},
                        "cpu_ratio": round(both["cpu_ms"] / alone["cpu_ms"], 3),
                        "wall_ratio": round(both["wall_ms"] / alone["wall_ms"], 3),
                    }
                )
                if "baseline alone" in cost:
                    rows[-1].update(
                        cpu_ms_baseline=cost["baseline alone"]["cpu_ms"],
                        cpu_vs_baseline=round(both["cpu_ms"] / cost["baseline alone"]["cpu_ms"], 3),
                        detector_vs_baseline=round(alone["cpu_ms"] / cost["baseline alone"]["cpu_ms"], 3),
                    )
                print(rows[-1], file=sys.stderr)
        per_face = {
            str(b): classifier_ms_per_face(detectors["detector + classifier"], crowd, b) for b in (1, 4, 16)
        }
    return {"rows": rows, "classifier_ms_per_face_by_batch": per_face}


def markdown(report: dict) -> str:
    c = report["context"]
    lines = [
        "# Second stage: CPU time per frame, detector alone vs detector + expression classifier",
        "",
        f"- Date: {c['date']}; command: `{c['command']}`",
        f"- Machine: {c['machine']}; {c['versions']}; {c['threads']} threads",
        f"- Load: {c['load_start']} at start, {c['load_end']} at the end. Shared cores: both columns of a "
        "row ran interleaved frame by frame, so their ratio is fairer than their absolute values.",
        f"- Classifier: {c['classifier']}; frames from `{c['manifest']}`",
        f"- Detector: `{c['model']}` at imgsz {c['imgsz']}; baseline: {c['baseline']} (the speed goal's "
        "reference: CPU time per frame at most 1.3x the baseline), interleaved with the others",
        "",
        "| model | frames | faces / frame | CPU ms alone | CPU ms two-stage | CPU ratio | wall ms alone "
        "| wall ms two-stage | wall ratio | CPU ms baseline | detector / baseline | two-stage / baseline |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        lines.append(
            f"| {r['model']} | {r['frames']} | {r['faces_per_frame_two_stage']} | {r['cpu_ms_alone']} | "
            f"{r['cpu_ms_two_stage']} | {r['cpu_ratio']}x | {r['wall_ms_alone']} | "
            f"{r['wall_ms_two_stage']} | {r['wall_ratio']}x | {r.get('cpu_ms_baseline', '-')} | "
            f"{r.get('detector_vs_baseline', '-')}x | {r.get('cpu_vs_baseline', '-')}x |"
        )
    per_face = ", ".join(f"{v} ms at batch {k}" for k, v in report["classifier_ms_per_face_by_batch"].items())
    lines += ["", f"Classifier alone (crop + ONNX Runtime), per face: {per_face}.", ""]
    return "\n".join(lines)


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from face_expression.engine import offline

    offline.prepare_environment()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", type=Path, default=Path("/work/data/starter/yolo/test_manifest.json"))
    ap.add_argument("--model", type=Path, default=None, help="detector .pt (default: the bundled one)")
    ap.add_argument("--classifier", default="bundled", help="expression_classifier of the two-stage rows")
    ap.add_argument("--imgsz", type=int, default=0, help="detector's inference size (0: the model's own)")
    ap.add_argument("--baseline", type=Path, default=None, help="a reference detector .pt timed alongside")
    ap.add_argument("--baseline-imgsz", type=int, default=320)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--passes", type=int, default=4, help="passes over the test images")
    ap.add_argument("--out", type=Path, default=None, help="JSON here, markdown beside it")
    args = ap.parse_args()
    import cv2
    import torch

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    if args.model is None:
        from face_expression.core.resources import default_model_path

        args.model = default_model_path()
    from speed_report import load, machine_info

    context = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "load_start": load()}
    report = run(args)
    machine = machine_info()
    context.update(
        load_end=load(),
        machine=f"{machine['cpu']}, {machine['cores']} cores, GPU: {machine['gpu']}",
        versions=f"torch {machine['torch']}, ultralytics {machine['ultralytics']}, onnxruntime "
        f"{machine['onnxruntime']}, opencv {machine['opencv']}",
        command="python benchmarks/second_stage.py " + " ".join(sys.argv[1:]),
        threads=args.threads,
        classifier=args.classifier,
        manifest=str(args.manifest),
        model=args.model.name,
        imgsz=args.imgsz,
        baseline=f"`{args.baseline.name}` at imgsz {args.baseline_imgsz}" if args.baseline else "none",
    )
    report["context"] = context
    print(markdown(report))
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")
        args.out.with_suffix(".md").write_text(markdown(report))


if __name__ == "__main__":
    main()
