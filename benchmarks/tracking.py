"""Tracking benchmark: id switches, expression flips and delay, and the cost per frame with 5 faces.

The goals (issue 12): 0 id switches on the bundled clip and <= 1 per 100 face-frames on composed
multi-face sequences; >= 5x fewer expression flips than raw per-frame output with <= 0.5 s delay
to follow a real change; tracking + smoothing + ROS4HRI publishing <= 2 ms per frame with 5 faces.

The bundled model runs once per frame (the engine, as in the node); every tracker then sees the
same detections, so the comparison is of trackers only:

- ``ours``: core/tracking.py with the node's defaults (keep 1 s, smoothing with tau 0.3 s);
- ``bytetrack``: Ultralytics' BYTETracker (its bytetrack.yaml defaults, ``track_buffer`` = 1 s of
  frames), what ``model.track(persist=True)`` runs; it needs the ``lap`` package (pip install lap),
  without which its row is left out. It publishes each frame's own class (no smoothing).

Sequences: the bundled clip (one person, 29.97 FPS) whole, with every 2nd or 3rd frame dropped and
at a quarter of the rate; composed from the real photos (test/face_sequences.py): two faces
crossing, a face leaving for longer than the keep time and coming back plus one entering, five
faces, and one face whose expression flickers frame by frame and then really changes; each at
30 and 10 FPS. Ground truth comes from where the faces were pasted (one to one, IoU >= 0.3).

    python benchmarks/tracking.py        # ~2 min on 2 cores; writes results/tracking.{md,json,png}
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "test"))
os.environ["ROS_DOMAIN_ID"] = os.environ.get("FACE_EXPRESSION_BENCH_DOMAIN", str(random.randint(102, 200)))
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.pop("ROS_LOCALHOST_ONLY", None)

import numpy as np  # noqa: E402
from face_sequences import (  # noqa: E402
    CARPHONE_FPS,
    Frame,
    carphone_frames,
    crossing,
    expression_change,
    five_faces,
    leave_return_enter,
    match_identities,
)

from face_expression.core.detections import Detection  # noqa: E402
from face_expression.core.tracking import FaceTracker, TrackerSettings  # noqa: E402
from face_expression.engine import offline  # noqa: E402

offline.prepare_environment()

RESULTS = ROOT / "benchmarks" / "results"
KEEP_S = TrackerSettings().keep_s
CHANGE_AT = 3.0  # expression_change(): the real change to smile
PERSON = "person"


# -- sequences -----------------------------------------------------------------------------------
def subsample(frames: list[Frame], step: int) -> list[Frame]:
    return frames[::step]


def sequences() -> dict[str, tuple[list[Frame], float]]:
    clip = [Frame(f, i / CARPHONE_FPS, ()) for i, f in enumerate(carphone_frames())]
    out: dict[str, tuple[list[Frame], float]] = {
        "clip": (clip, CARPHONE_FPS),
        "clip, every 2nd frame dropped": (clip[::2], CARPHONE_FPS / 2),
        "clip, every 3rd frame dropped": (
            [f for i, f in enumerate(clip) if i % 3 != 2],
            CARPHONE_FPS * 2 / 3,
        ),
        "clip, quarter rate": (clip[::4], CARPHONE_FPS / 4),
    }
    makers: dict[str, Callable[[], list[Frame]]] = {
        "crossing": lambda: crossing(fps=30.0),
        "leave, return, enter": lambda: leave_return_enter(keep_s=KEEP_S, fps=30.0),
        "five faces": lambda: five_faces(fps=30.0),
        "expression change": lambda: expression_change(fps=30.0),
    }
    for name, make in makers.items():
        frames = make()
        out[f"{name} @30"] = (frames, 30.0)
        out[f"{name} @10"] = (subsample(frames, 3), 10.0)
    return out


# -- trackers ------------------------------------------------------------------------------------
class Ours:
    name = "ours"

    def __init__(self, fps: float) -> None:
        self.tracker = FaceTracker(TrackerSettings(), id_prefix="f")

    def __call__(self, dets: list[Detection], t: float, image: np.ndarray) -> list[Detection]:
        return self.tracker.update(dets, t).detections


class ByteTrack:
    """Ultralytics' BYTETracker on our detections; returns them with ids (class as detected)."""

    name = "bytetrack"

    def __init__(self, fps: float) -> None:
        import yaml
        from ultralytics.trackers.byte_tracker import BYTETracker
        from ultralytics.utils import ROOT as UROOT

        cfg = yaml.safe_load((UROOT / "cfg" / "trackers" / "bytetrack.yaml").read_text())
        cfg["track_buffer"] = max(1, round(KEEP_S * fps))  # keep lost faces 1 s, like ours
        self.tracker = BYTETracker(SimpleNamespace(**cfg))

    def __call__(self, dets: list[Detection], t: float, image: np.ndarray) -> list[Detection]:
        boxes = _Boxes(dets)
        out = self.tracker.update(boxes, image)
        result = []
        for row in out:
            tid, idx = int(row[4]), int(row[7])
            d = dets[idx]
            result.append(Detection(d.x1, d.y1, d.x2, d.y2, d.class_id, d.class_name, d.score, f"b{tid}"))
        return result


class _Boxes:
    """The slice of Ultralytics' Boxes that BYTETracker reads."""

    def __init__(self, dets: list[Detection], index: np.ndarray | None = None) -> None:
        xyxy = np.array([[d.x1, d.y1, d.x2, d.y2] for d in dets], np.float32).reshape(-1, 4)
        self.xyxy = xyxy
        self.conf = np.array([d.score for d in dets], np.float32)
        self.cls = np.array([d.class_id for d in dets], np.float32)
        self.xywh = np.concatenate([(xyxy[:, :2] + xyxy[:, 2:]) / 2, xyxy[:, 2:] - xyxy[:, :2]], axis=1)
        self._dets = dets

    def __len__(self) -> int:
        return len(self._dets)

    def __getitem__(self, mask) -> _Boxes:
        return _Boxes([d for d, keep in zip(self._dets, np.asarray(mask)) if keep])


def bytetrack_available() -> str | None:
    try:
        import lap  # noqa: F401  (without it BYTETracker tries a pip install at run time)
    except ImportError:
        return "lap is not installed (pip install lap): ByteTrack left out"
    return None


# -- metrics -------------------------------------------------------------------------------------
def assign(frame: Frame, dets: list[Detection]) -> dict[str, Detection]:
    """Ground-truth identity -> its detection; for the clip (no boxes) the one best detection."""
    if not frame.faces:
        return {PERSON: max(dets, key=lambda d: d.score)} if dets else {}
    return match_identities(frame, dets)


def score_run(frames: list[Frame], raw: list[list[Detection]], tracked: list[list[Detection]]) -> dict:
    """Id switches, identities sharing an id, flips (published and raw), and the change delay."""
    last_id: dict[str, str] = {}
    last_cls: dict[str, str] = {}
    last_raw: dict[str, str] = {}
    owners: dict[str, set[str]] = {}
    switches = flips = raw_flips = face_frames = 0
    followed_at = raw_followed_at = None
    for frame, r, tr in zip(frames, raw, tracked):
        got, got_raw = assign(frame, tr), assign(frame, r)
        for identity, det in got_raw.items():
            if identity in last_raw and det.class_name != last_raw[identity]:
                raw_flips += 1
            last_raw[identity] = det.class_name
            if (
                frame.t >= CHANGE_AT
                and raw_followed_at is None
                and det.class_name == "smile"
                and identity == "X"
            ):
                raw_followed_at = frame.t
        for identity, det in got.items():
            face_frames += 1
            owners.setdefault(det.track_id, set()).add(identity)
            if identity in last_id and det.track_id != last_id[identity]:
                switches += 1
            if identity in last_cls and det.class_name != last_cls[identity]:
                flips += 1
            last_id[identity], last_cls[identity] = det.track_id, det.class_name
            if frame.t >= CHANGE_AT and followed_at is None and det.class_name == "smile" and identity == "X":
                followed_at = frame.t
    change = next((f.t for f in frames if f.t >= CHANGE_AT), None) if "X" in last_id else None
    return {
        "face_frames": face_frames,
        "id_switches": switches,
        "shared_ids": sum(len(v) - 1 for v in owners.values()),
        "switches_per_100": 100.0 * switches / max(1, face_frames),
        "flips": flips,
        "raw_flips": raw_flips,
        "delay_s": None if change is None or followed_at is None else followed_at - change,
        "raw_delay_s": None if change is None or raw_followed_at is None else raw_followed_at - change,
    }


# -- cost ----------------------------------------------------------------------------------------
def tracker_cost(cls: type, frames: list[Frame], raw: list[list[Detection]], fps: float) -> float:
    """Milliseconds per frame of one tracker over the sequence (a fresh tracker each pass)."""
    state = {"tracker": cls(fps)}

    def step(i: int) -> None:
        if i == 0:
            state["tracker"] = cls(fps)
        state["tracker"](raw[i], frames[i].t, frames[i].image)

    return time_per_frame(step, len(frames)) * 1e3


def time_per_frame(step: Callable[[int], object], n: int, repeats: int = 5) -> float:
    """Median over ``repeats`` passes of the mean seconds per call of ``step(i)``, i in range(n)."""
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for i in range(n):
            step(i)
        runs.append((time.perf_counter() - t0) / n)
    return statistics.median(runs)


def hri_cost(frames: list[Frame], raw: list[list[Detection]]) -> dict[str, float]:
    """Tracking + smoothing + ROS4HRI publishing per frame, without and with `cropped` subscribers."""
    import rclpy
    from builtin_interfaces.msg import Time
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header

    from face_expression.ros import messages
    from face_expression.ros.hri_outputs import HRI_QOS, HriOutputs

    rclpy.init()
    node = Node("tracking_benchmark")
    listener = Node("tracking_benchmark_listener")
    executor = SingleThreadedExecutor()
    executor.add_node(listener)
    try:
        hri = HriOutputs(node)
        tracker = FaceTracker(TrackerSettings(), id_prefix="f")
        headers = [
            Header(stamp=Time(sec=int(f.t), nanosec=int((f.t % 1) * 1e9)), frame_id="cam") for f in frames
        ]

        def step(i: int) -> None:
            result = tracker.update(raw[i], frames[i].t + step.offset)
            hri.publish(headers[i], frames[i].image, result)
            messages.detections_to_msg(result.detections, headers[i])

        step.offset = 0.0
        n = len(frames)

        def shifted(i: int) -> None:  # every pass later in time than the one before: ids continue
            step(i)
            if i == n - 1:
                step.offset += frames[-1].t + 1 / 30

        plain = time_per_frame(shifted, n)
        subs = [
            listener.create_subscription(Image, f"/humans/faces/{fid}/cropped", lambda m: None, HRI_QOS)
            for fid in hri.face_ids
        ]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(
            node.count_subscribers(f"/humans/faces/{fid}/cropped") for fid in hri.face_ids
        ):
            executor.spin_once(timeout_sec=0.05)
        with_crops = time_per_frame(shifted, n)
        return {
            "hri_no_subscribers_ms": plain * 1e3,
            "hri_cropped_subscribed_ms": with_crops * 1e3,
            "faces": len(subs),
        }
    finally:
        node.destroy_node()
        listener.destroy_node()
        rclpy.try_shutdown()


# -- report --------------------------------------------------------------------------------------
def machine() -> dict[str, str]:
    import ultralytics
    from speed_report import cpu_model

    return {
        "cpu": cpu_model(),
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "ultralytics": ultralytics.__version__,
    }


def main() -> int:
    from face_expression.engine.config import InferenceConfig
    from face_expression.engine.detector import ExpressionDetector

    load_before = os.getloadavg()
    detector = ExpressionDetector(InferenceConfig())
    trackers: list[type] = [Ours]
    skipped = bytetrack_available()
    if skipped is None:
        trackers.append(ByteTrack)
    else:
        print(skipped, file=sys.stderr)

    rows = []
    cost: dict[str, float] = {}
    for name, (frames, fps) in sequences().items():
        raw = [detector(f.image) for f in frames]
        for cls in trackers:
            tracker = cls(fps)
            tracked = [tracker(r, f.t, f.image) for f, r in zip(frames, raw)]
            row = {
                "sequence": name,
                "fps": round(fps, 2),
                "tracker": cls.name,
                **score_run(frames, raw, tracked),
            }
            if cls is ByteTrack:  # no smoothing: its published class is the raw one
                row["flips"] = row["raw_flips"]
                row["delay_s"] = row["raw_delay_s"]
            rows.append(row)
            print(json.dumps(row), flush=True)
        if name == "five faces @30":
            for cls in trackers:
                cost[f"{cls.name}_ms"] = tracker_cost(cls, frames, raw, fps)
            cost.update(hri_cost(frames, raw))
            cost["faces_per_frame"] = statistics.mean(len(r) for r in raw)
            print(json.dumps(cost), flush=True)

    report = {
        "date": dt.date.today().isoformat(),
        "machine": machine(),
        "load_before": list(load_before),
        "load_after": list(os.getloadavg()),
        "bytetrack": skipped or "measured",
        "detector": f"{detector.path.name} at imgsz {detector.imgsz}"
        + (", with the second-stage classifier" if detector.refines_expressions else ""),
        "rows": rows,
        "cost": cost,
        "goals": goals(rows, cost),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "tracking.json").write_text(json.dumps(report, indent=1))
    (RESULTS / "tracking.md").write_text(markdown(report))
    plot(report, RESULTS / "tracking.png")
    print("\n".join(report["goals"]))
    return 0


def _sum(rows: list[dict], tracker: str, prefix: str, key: str) -> float:
    return sum(r[key] for r in rows if r["tracker"] == tracker and r["sequence"].startswith(prefix))


def goals(rows: list[dict], cost: dict) -> list[str]:
    ours = [r for r in rows if r["tracker"] == "ours"]
    clip_switches = sum(r["id_switches"] + r["shared_ids"] for r in ours if r["sequence"].startswith("clip"))
    composed = [r for r in ours if not r["sequence"].startswith("clip")]
    comp_switches = sum(r["id_switches"] + r["shared_ids"] for r in composed)
    comp_frames = sum(r["face_frames"] for r in composed)
    raw_flips = sum(r["raw_flips"] for r in ours)
    flips = sum(r["flips"] for r in ours)
    delays = [r["delay_s"] for r in ours if r["delay_s"] is not None]
    per_100 = 100 * comp_switches / max(1, comp_frames)
    ratio = raw_flips / flips if flips else float("inf")
    total = cost.get("hri_cropped_subscribed_ms", float("nan"))
    return [
        f"{'PASS' if clip_switches == 0 else 'FAIL'} id switches on the bundled clip (4 variants): "
        f"{clip_switches} (goal 0)",
        f"{'PASS' if per_100 <= 1 else 'FAIL'} id switches on the composed sequences: {comp_switches} in "
        f"{comp_frames} face-frames = {per_100:.2f} per 100 (goal <= 1)",
        f"{'PASS' if ratio >= 5 else 'FAIL'} expression flips: raw {raw_flips}, published {flips} "
        f"({ratio:.1f}x fewer; goal >= 5x)",
        f"{'PASS' if delays and max(delays) <= 0.5 else 'FAIL'} delay to follow a real change: "
        f"{', '.join(f'{d:.2f}' for d in delays)} s (goal <= 0.5 s)",
        f"{'PASS' if total <= 2.0 else 'FAIL'} tracking + smoothing + ROS4HRI publishing with "
        f"{cost.get('faces_per_frame', 0):.1f} faces: {total:.2f} ms per frame with every `cropped` "
        f"subscribed, {cost.get('hri_no_subscribers_ms', float('nan')):.2f} ms without (goal <= 2 ms)",
    ]


def markdown(report: dict) -> str:
    m = report["machine"]
    cost = report["cost"]
    lines = [
        "# Tracking: id switches, expression flips, delay and cost",
        "",
        f"Machine: {m['cpu']} ({m['cores']} cores, shared with other developers), Python {m['python']}, "
        f"Ultralytics {m['ultralytics']}. Date {report['date']}. Load average before "
        f"{' / '.join(f'{v:.2f}' for v in report['load_before'])}, after "
        f"{' / '.join(f'{v:.2f}' for v in report['load_after'])} (1/5/15 min).",
        "Rerun: `.venv/bin/python benchmarks/tracking.py` (ByteTrack needs `pip install lap`).",
        "",
        "## Goals",
        "",
        *[f"- {g}" for g in report["goals"]],
        "",
        "## Per sequence",
        "",
        f"Same detections for both trackers ({report.get('detector', 'the bundled model')}). "
        "Switches: a face's id changed between two frames it was detected in; shared: two faces had "
        "the same id (e.g. a face back after the keep time that got its old id). Flips: the published "
        "class of a face changed; raw: each frame's own class. Delay: from the real change "
        "(expression change, at 3 s) to the first published smile. ByteTrack publishes each "
        "frame's class.",
        "",
        "| sequence | FPS | tracker | face-frames | id switches | shared ids | flips (raw) | delay (raw) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in report["rows"]:
        delay = "" if r["delay_s"] is None else f"{r['delay_s']:.2f} s ({r['raw_delay_s']:.2f} s)"
        lines.append(
            f"| {r['sequence']} | {r['fps']:g} | {r['tracker']} | {r['face_frames']} | {r['id_switches']} | "
            f"{r['shared_ids']} | {r['flips']} ({r['raw_flips']}) | {delay} |"
        )
    lines += [
        "",
        "## Cost per frame, five faces (five faces @30, median of 5 passes)",
        "",
        "| what | ms per frame |",
        "| --- | --- |",
    ]
    for key, label in (
        ("ours_ms", "our tracker + smoothing"),
        ("bytetrack_ms", "Ultralytics ByteTrack"),
        ("hri_no_subscribers_ms", "ours + ROS4HRI publishing (tracked, roi, expression) + Detection2DArray"),
        (
            "hri_cropped_subscribed_ms",
            "the same, every face's `cropped` subscribed (crops computed and sent)",
        ),
    ):
        if key in cost:
            lines.append(f"| {label} | {cost[key]:.3f} |")
    lines += ["", f"ByteTrack: {report['bytetrack']}.", ""]
    return "\n".join(lines)


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in report["rows"] if r["tracker"] == "ours"]
    names = [r["sequence"] for r in rows]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [3, 1]})
    y = np.arange(len(rows))
    ax1.barh(y - 0.2, [r["raw_flips"] for r in rows], 0.4, label="raw per-frame class")
    ax1.barh(y + 0.2, [r["flips"] for r in rows], 0.4, label="published (smoothed, tau 0.3 s)")
    ax1.set_yticks(y, names, fontsize=8)
    ax1.invert_yaxis()
    ax1.set_xlabel("expression flips")
    ax1.legend(loc="lower right")
    ax1.set_title("Expression flips per sequence")
    cost = report["cost"]
    labels = [
        k
        for k in ("ours_ms", "bytetrack_ms", "hri_no_subscribers_ms", "hri_cropped_subscribed_ms")
        if k in cost
    ]
    ax2.bar(range(len(labels)), [cost[k] for k in labels], color="tab:green")
    ax2.axhline(2.0, color="tab:red", linestyle="--", label="goal 2 ms")
    ax2.set_xticks(range(len(labels)), [k.replace("_ms", "").replace("_", "\n") for k in labels], fontsize=8)
    ax2.set_ylabel("ms per frame, 5 faces")
    ax2.set_ylim(0, max(2.4, max(cost[k] for k in labels) * 1.2))
    ax2.legend()
    ax2.set_title("Cost per frame")
    fig.suptitle(f"Tracking benchmark, {report['date']}, {report['machine']['cpu']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    sys.exit(main())
