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

    python benchmarks/speed.py                      # full run, about 10 min on 2 cores
    python benchmarks/speed.py --quick              # smoke run, about 1 min
    python benchmarks/speed.py --overload-minutes 5 # plus the 5-minute overload check
    python benchmarks/speed.py --device cuda --half --out benchmarks/results/gpu  # on a GPU machine
"""

from __future__ import annotations

import argparse
import array
import datetime as dt
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# The caller's OpenMP/ONNX Runtime spinning choice, before our imports set the node's default.
USER_OMP_WAIT_POLICY = os.environ.get("OMP_WAIT_POLICY")

# Our own DDS domain on this machine only, before rclpy is imported anywhere.
os.environ["ROS_DOMAIN_ID"] = os.environ.get("FACE_EXPRESSION_BENCH_DOMAIN", str(random.randint(102, 200)))
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.pop("ROS_LOCALHOST_ONLY", None)
# VGA frames do not fit Fast DDS' default shared-memory segment: most are lost (see the XML).
DDS_PROFILE = Path(__file__).resolve().parent.parent / "config" / "fastdds_large_frames.xml"
if "--default-dds" not in sys.argv:
    os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(DDS_PROFILE))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from face_expression.engine import offline  # noqa: E402
from face_expression.engine.backends import loadable_name, read_export_metadata, use_compiled_openvino  # noqa: E402
from face_expression.engine.config import InferenceConfig  # noqa: E402
from face_expression.engine.detector import ExpressionDetector  # noqa: E402
from face_expression.ros.node_command import node_command  # noqa: E402

offline.prepare_environment()  # before torch: offline, idle threads sleep unless the caller chose

CAMERA_W, CAMERA_H = 640, 480
BACKENDS = ("pytorch", "onnx", "openvino", "openvino-f32")
BACKEND_LABELS = {
    "pytorch": "PyTorch",
    "onnx": "ONNX Runtime",
    "openvino": "OpenVINO (auto: bf16 where the CPU has it)",
    "openvino-f32": "OpenVINO f32",
}
RESULTS = ROOT / "benchmarks" / "results"


# -- inputs ---------------------------------------------------------------------------------
def real_frames(count: int = 8) -> list[np.ndarray]:
    """640x480 BGR frames from real photos and video that install with the test packages."""
    import matplotlib
    import skimage
    import ultralytics

    paths = [
        Path(skimage.__file__).parent / "data" / "astronaut.png",
        Path(matplotlib.__file__).parent / "mpl-data" / "sample_data" / "grace_hopper.jpg",
        Path(ultralytics.__file__).parent / "assets" / "zidane.jpg",
        Path(ultralytics.__file__).parent / "assets" / "bus.jpg",
    ]
    frames = [cv2.imread(str(p)) for p in paths if p.is_file()]
    clip = ROOT / "media" / "carphone.mp4"
    cap = cv2.VideoCapture(str(clip))
    while len(frames) < count and cap.isOpened():
        ok, frame = cap.read()
        if not ok:
            break
        for _ in range(14):  # spread over the clip
            cap.grab()
        frames.append(frame)
    cap.release()
    frames = [f for f in frames if f is not None]
    if not frames:
        raise SystemExit("no real frames found (scikit-image, matplotlib, ultralytics installed?)")
    return [cv2.resize(f, (CAMERA_W, CAMERA_H), interpolation=cv2.INTER_AREA) for f in frames[:count]]


def stand_in_model(path: Path) -> Path:
    """A random-weight YOLOv5n with our two classes: same graph and speed as the trained model."""
    if path.is_file():
        return path
    import torch
    from ultralytics.nn.tasks import DetectionModel

    model = DetectionModel("yolov5n.yaml", nc=2, verbose=False)
    model.names = {0: "neutral", 1: "smile"}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model.half(), "train_args": {}}, path)
    return path


def export_models(
    model: Path, sizes: list[int], backends: list[str], work: Path
) -> dict[tuple[str, int], Path]:
    """Export once per imgsz at the camera's aspect; cached in ``work`` while the .pt is unchanged."""
    from face_expression.engine.export import camera_shape, export, set_openvino_precision

    tag = f"{model.stem}_{int(model.stat().st_mtime)}"
    out = work / "exports" / tag
    paths: dict[tuple[str, int], Path] = {}
    for imgsz in sizes:
        h, w = camera_shape(imgsz, CAMERA_W, CAMERA_H)
        stem = f"{model.stem}_{h}x{w}"
        if "pytorch" in backends:
            paths["pytorch", imgsz] = model
        if "onnx" in backends:
            onnx = out / f"{stem}.onnx"
            if not onnx.is_file():
                export(model, (h, w), ["onnx"], out, stem)
            paths["onnx", imgsz] = onnx
        if "openvino" in backends or "openvino-f32" in backends:
            ov_dir = out / f"{stem}_openvino_model"
            if not ov_dir.is_dir():
                export(model, (h, w), ["openvino"], out, stem)
            paths["openvino", imgsz] = ov_dir
            f32 = out / f"{stem}_f32_openvino_model"
            if "openvino-f32" in backends and not f32.is_dir():
                shutil.copytree(ov_dir, f32)
                set_openvino_precision(f32, "f32")
            paths["openvino-f32", imgsz] = f32
    return {k: v for k, v in paths.items() if k[0] in backends}


# -- loops ----------------------------------------------------------------------------------
def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan"), "mean": float("nan")}
    a = np.asarray(values)
    return {
        "p50": float(np.percentile(a, 50)),
        "p95": float(np.percentile(a, 95)),
        "p99": float(np.percentile(a, 99)),
        "mean": float(a.mean()),
    }


class RawLoop:
    """Ultralytics' own predict loop: the reference the node is compared with."""

    def __init__(
        self,
        path: Path,
        imgsz: int,
        backend: str,
        threads: int,
        work: Path,
        device: str = "cpu",
        half: bool = False,
    ) -> None:
        import torch
        from ultralytics import YOLO

        self.path = path
        with loadable_name(path) as name:  # .pt weights are read here, the link may go afterwards
            self.model = YOLO(name, task="detect")
        self.fixed = _export_imgsz(path) if backend != "pytorch" else None
        self.kwargs = {
            "imgsz": list(self.fixed) if self.fixed else imgsz,
            "verbose": False,
            "device": device,
            "half": half,
        }
        self.threads = threads
        self.torch = torch
        self.backend = backend

    def setup(self, frame: np.ndarray) -> None:
        self.model.predict(frame, **self.kwargs)
        # Ultralytics' select_device resets torch to cpu_count-1 threads: use the engine's count.
        self.torch.set_num_threads(self.threads)
        if self.backend == "openvino-f32":  # Ultralytics ignores our stored hint: compile f32 the same way
            use_compiled_openvino(self.model, next(self.path.glob("*.xml")), "f32")

    def __call__(self, frame: np.ndarray) -> int:
        return len(self.model.predict(frame, **self.kwargs)[0].boxes)


def _export_imgsz(path: Path) -> tuple[int, int]:
    imgsz = read_export_metadata(path).get("imgsz")
    if isinstance(imgsz, str):
        import ast

        imgsz = ast.literal_eval(imgsz)
    return (int(imgsz[0]), int(imgsz[1])) if isinstance(imgsz, list | tuple) else (int(imgsz), int(imgsz))


def interleaved(loops: dict[str, object], frames: list[np.ndarray], seconds: float) -> dict[str, dict]:
    """Run each loop ``seconds`` in total, alternating 0.5 s chunks so load drift hits all alike."""
    times: dict[str, list[float]] = {k: [] for k in loops}
    spent = dict.fromkeys(loops, 0.0)
    i = 0
    while min(spent.values()) < seconds:
        for name, loop in loops.items():
            t_chunk = time.perf_counter()
            while time.perf_counter() - t_chunk < 0.5:
                frame = frames[i % len(frames)]
                i += 1
                t0 = time.perf_counter()
                loop(frame)
                times[name].append((time.perf_counter() - t0) * 1e3)
            spent[name] += time.perf_counter() - t_chunk
    out = {}
    for name, ts in times.items():
        stats = percentiles(ts)
        stats["fps"] = 1000.0 / stats["mean"]
        stats["n"] = len(ts)
        out[name] = stats
    return out


# -- the node over DDS ----------------------------------------------------------------------
@dataclass
class RateResult:
    rate: str
    target_hz: float
    sent: int
    received: int
    fps: float
    dropped: int
    latency: dict[str, float]
    cpu_percent: float
    rss_mb: float
    publisher_cpu_percent: float = 0.0


@dataclass
class NodeRun:
    results: list[RateResult] = field(default_factory=list)
    startup_s: float = 0.0
    log_tail: str = ""


class Bench:
    """Publisher of camera frames and subscriber of detections, in this process."""

    def __init__(self, frames_bgr: list[np.ndarray]) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image
        from vision_msgs.msg import Detection2DArray

        rclpy.init()
        self.rclpy = rclpy
        self.node = rclpy.create_node("face_expression_speed_bench")
        camera_qos = QoSProfile(
            history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.BEST_EFFORT
        )
        self.pub = self.node.create_publisher(Image, "camera/image_raw", camera_qos)
        det_qos = QoSProfile(
            history=HistoryPolicy.KEEP_LAST, depth=100, reliability=ReliabilityPolicy.RELIABLE
        )
        self.sub = self.node.create_subscription(Detection2DArray, "detections", self._on_detections, det_qos)
        self.msgs = []
        for frame in frames_bgr:
            rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            msg = Image()
            msg.height, msg.width, msg.encoding, msg.step = CAMERA_H, CAMERA_W, "rgb8", CAMERA_W * 3
            data = array.array("B")
            data.frombytes(rgb.tobytes())  # array.array: rosidl's fast path
            msg.data = data
            msg.header.frame_id = "camera"
            self.msgs.append(msg)
        self.lock = threading.Lock()
        self.latencies: list[float] = []
        self.arrivals: list[float] = []
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self.spinner = threading.Thread(target=self.executor.spin, daemon=True)
        self.spinner.start()

    def _on_detections(self, msg) -> None:
        now = time.time_ns()
        stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        with self.lock:
            self.latencies.append((now - stamp) / 1e6)
            self.arrivals.append(time.monotonic())

    def reset(self) -> None:
        with self.lock:
            self.latencies, self.arrivals = [], []

    def publish(self, i: int) -> None:
        msg = self.msgs[i % len(self.msgs)]
        now = time.time_ns()
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(now, 1_000_000_000)
        self.pub.publish(msg)

    def stream(self, hz: float, seconds: float) -> int:
        """Publish at ``hz`` (0 = back to back) for ``seconds``; return frames sent."""
        period = 1.0 / hz if hz > 0 else 0.0
        start = time.monotonic()
        sent = 0
        while True:
            now = time.monotonic()
            if now - start >= seconds:
                return sent
            if period:
                due = start + sent * period
                if due > now:
                    time.sleep(due - now)
            self.publish(sent)
            sent += 1

    def wait_ready(self, proc: subprocess.Popen, timeout: float) -> bool:
        """Until the node answers a frame (model loaded and warm) or dies."""
        deadline = time.monotonic() + timeout
        self.reset()
        i = 0
        while time.monotonic() < deadline and proc.poll() is None:
            if self.pub.get_subscription_count() > 0:
                self.publish(i)
                i += 1
            time.sleep(0.2)
            with self.lock:
                if len(self.latencies) >= 3:
                    return True
        return False

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        self.rclpy.try_shutdown()


#: Extra node parameters for every node run (device and precision on a GPU machine).
NODE_PARAMS: list[str] = []


def detector_command(path: Path, imgsz: int, threads: int) -> list[str]:
    extra = [arg for param in NODE_PARAMS for arg in ("-p", param)]
    params = {"model": path, "imgsz": imgsz, "threads": threads}
    return node_command("detector", params, [*extra, "--log-level", "warn"])


def start_node(path: Path, imgsz: int, threads: int, log: Path) -> subprocess.Popen:
    """The detector node as its own process, its output in ``log``."""
    with open(log, "w") as log_file:
        return subprocess.Popen(
            detector_command(path, imgsz, threads),
            env=node_env(),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )


def node_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("OMP_NUM_THREADS", None)  # set to 1 by importing Ultralytics here; the node picks its own
    env.pop("OMP_WAIT_POLICY", None)  # the node sets its own default unless the caller chose one
    if USER_OMP_WAIT_POLICY:
        env["OMP_WAIT_POLICY"] = USER_OMP_WAIT_POLICY
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run_node(
    bench: Bench,
    path: Path,
    imgsz: int,
    threads: int,
    rates: list[tuple[str, float]],
    seconds: float,
    log: Path,
) -> NodeRun:
    import psutil

    run = NodeRun()
    t0 = time.monotonic()
    proc = start_node(path, imgsz, threads, log)
    try:
        if not bench.wait_ready(proc, timeout=120):
            run.log_tail = log.read_text()[-2000:]
            raise RuntimeError(f"node did not answer (exit {proc.poll()}):\n{run.log_tail}")
        run.startup_s = time.monotonic() - t0
        ps, me = psutil.Process(proc.pid), psutil.Process()
        for name, hz in rates:
            time.sleep(0.5)  # let the previous stream drain
            bench.reset()
            cpu0, pub0, w0 = ps.cpu_times(), me.cpu_times(), time.monotonic()
            sent = bench.stream(hz, seconds)
            time.sleep(0.3)  # the last frame's answer
            cpu1, pub1, w1 = ps.cpu_times(), me.cpu_times(), time.monotonic()
            with bench.lock:
                lat = list(bench.latencies)
            cpu = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / (w1 - w0) * 100.0
            received = len(lat)
            run.results.append(
                RateResult(
                    rate=name,
                    target_hz=hz,
                    sent=sent,
                    received=received,
                    fps=received / seconds,
                    dropped=max(sent - received, 0),
                    latency=percentiles(lat),
                    cpu_percent=cpu,
                    rss_mb=ps.memory_info().rss / 2**20,
                    publisher_cpu_percent=(pub1.user + pub1.system - pub0.user - pub0.system)
                    / (w1 - w0)
                    * 100.0,
                )
            )
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return run


def overload(
    bench: Bench, path: Path, imgsz: int, threads: int, hz: float, minutes: float, log: Path
) -> dict:
    """2x overload for ``minutes``: latency and RSS per 10 s window must stay flat."""
    import psutil

    window = 10.0
    proc = start_node(path, imgsz, threads, log)
    series = []
    try:
        if not bench.wait_ready(proc, timeout=120):
            raise RuntimeError(f"node did not answer:\n{log.read_text()[-2000:]}")
        ps = psutil.Process(proc.pid)
        start = time.monotonic()
        while time.monotonic() - start < minutes * 60:
            bench.reset()
            sent = bench.stream(hz, window)
            with bench.lock:
                lat = list(bench.latencies)
            series.append(
                {
                    "t_s": round(time.monotonic() - start, 1),
                    "sent": sent,
                    "received": len(lat),
                    **{k: round(v, 2) for k, v in percentiles(lat).items()},
                    "rss_mb": round(ps.memory_info().rss / 2**20, 1),
                }
            )
            print(f"  overload t={series[-1]['t_s']:.0f}s {series[-1]}", flush=True)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    first, last = series[: max(1, len(series) // 5)], series[-max(1, len(series) // 5) :]
    p50_first = float(np.median([s["p50"] for s in first]))
    p50_last = float(np.median([s["p50"] for s in last]))
    rss_first = float(np.median([s["rss_mb"] for s in first]))
    rss_last = float(np.median([s["rss_mb"] for s in last]))
    return {
        "minutes": minutes,
        "hz": hz,
        "imgsz": imgsz,
        "series": series,
        "p50_first_ms": p50_first,
        "p50_last_ms": p50_last,
        "rss_first_mb": rss_first,
        "rss_last_mb": rss_last,
        "rss_growth_pct": (rss_last - rss_first) / rss_first * 100.0,
        "latency_growth_pct": (p50_last - p50_first) / p50_first * 100.0,
    }


# -- report ---------------------------------------------------------------------------------
def machine_info() -> dict[str, str]:
    import onnxruntime
    import torch
    import ultralytics

    try:
        import openvino

        ov_version = openvino.__version__
    except ImportError:
        ov_version = "not installed"
    model_name = "unknown"
    try:
        for line in subprocess.run(
            ["lscpu"], capture_output=True, text=True, check=False
        ).stdout.splitlines():
            if line.startswith("Model name"):
                model_name = line.split(":", 1)[1].strip()
    except OSError:
        pass
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    return {
        "cpu": model_name,
        "cores": str(os.cpu_count()),
        "bf16_hw": "yes" if ("avx512_bf16" in flags or "amx_bf16" in flags) else "no",
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "ultralytics": ultralytics.__version__,
        "onnxruntime": onnxruntime.__version__,
        "openvino": ov_version,
        "opencv": cv2.__version__,
    }


def load() -> str:
    return "load average " + " / ".join(f"{v:.2f}" for v in os.getloadavg()) + " (1/5/15 min)"


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [
        "# Speed: raw Ultralytics loop vs our engine vs the detector node over DDS",
        "",
        f"- Date: {report['date']}; command: `{report['command']}`",
        f"- Machine: {m['cpu']}, {m['cores']} cores (bf16 hardware: {m['bf16_hw']}); "
        f"GPU: {m.get('gpu', 'none')}; inference device: {report.get('device', 'cpu')}",
        f"- Versions: Python {m['python']}, torch {m['torch']}, ultralytics {m['ultralytics']}, "
        f"onnxruntime {m['onnxruntime']}, openvino {m['openvino']}, opencv {m['opencv']}",
        f"- Load: {report['load_start']} at start, {report['load_end']} at the end. The 2 cores are "
        "shared with other jobs: compare numbers within this table only.",
        f"- Model: {report['model']} (YOLOv5n, 2 classes); frames: {report['frames']} real photos/video "
        f"frames resized to {CAMERA_W}x{CAMERA_H}, sent as rgb8; threads: {report['threads'] or 'all cores'}",
        f"- DDS: Fast DDS (rmw_fastrtps_cpp), best-effort camera topic, profile "
        f"`{Path(report['dds_profile']).name}` in both processes (a 16 MiB shared-memory segment: with "
        "the 512 KiB default most 900 KiB frames are lost)",
        f"- Exports at the camera's 4:3 shape (imgsz 320 -> 256x320, 416 -> 320x416, 640 -> 480x640); "
        f"each cell {report['seconds']} s.",
        "",
        "Raw = `YOLO(model).predict(frame)` (Ultralytics' loop, same backend and input shape); engine = "
        "`ExpressionDetector(frame)`; node = frames published over DDS to "
        "`face_expression.ros.detector_node`, detections received back. Latency = detections' arrival "
        "minus the frame's header stamp. `1.25x` = published a quarter faster than the raw loop, so a "
        "frame is always waiting: the node's throughput; `2x` = twice the raw loop's rate (overload); "
        "`max` = published back to back (the publisher itself then takes a core). CPU % is of one "
        "core; the publisher (this benchmark process, standing in for the camera driver) runs on "
        "the same 2 cores.",
        "",
        "## Loops and node",
        "",
        "| backend | imgsz | raw ms p50 | raw FPS | engine ms p50 | engine FPS | node FPS (1.25x) | "
        "node/raw | node FPS (2x) | node/raw (2x) | node p50 ms (15 Hz) | p50 - raw ms | node CPU % (2x) "
        "| node RSS MB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for cell in report["cells"]:
        raw, eng = cell["raw"], cell["engine"]
        by = {r["rate"]: r for r in cell["node"]["results"]}
        sat, ov, slow = by.get("1.25x"), by.get("2x"), by.get("15 Hz")
        lines.append(
            f"| {cell['backend']} | {cell['imgsz']} | {raw['p50']:.1f} | {raw['fps']:.1f} | "
            f"{eng['p50']:.1f} | {eng['fps']:.1f} | {sat['fps']:.1f} | {sat['fps'] / raw['fps']:.2f} | "
            f"{ov['fps']:.1f} | {ov['fps'] / raw['fps']:.2f} | "
            f"{slow['latency']['p50']:.1f} | {slow['latency']['p50'] - raw['p50']:+.1f} | "
            f"{ov['cpu_percent']:.0f} | {ov['rss_mb']:.0f} |"
            if sat and ov and slow
            else f"| {cell['backend']} | {cell['imgsz']} | {raw['p50']:.1f} | {raw['fps']:.1f} | "
            f"{eng['p50']:.1f} | {eng['fps']:.1f} | - | - | - | - | - | - | - | - |"
        )
    lines += [
        "",
        "## Node end to end per publish rate",
        "",
        "| backend | imgsz | rate | sent | processed | FPS | dropped | latency p50 / p95 / p99 ms | "
        "CPU % | RSS MB | publisher CPU % |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for cell in report["cells"]:
        for r in cell["node"]["results"]:
            lat = r["latency"]
            rate = r["rate"] if not r["rate"].endswith("x") else f"{r['rate']} ({r['target_hz']:.0f} Hz)"
            lines.append(
                f"| {cell['backend']} | {cell['imgsz']} | {rate} | {r['sent']} | {r['received']} | "
                f"{r['fps']:.1f} | {r['dropped']} | {lat['p50']:.1f} / {lat['p95']:.1f} / {lat['p99']:.1f} | "
                f"{r['cpu_percent']:.0f} | {r['rss_mb']:.0f} | {r.get('publisher_cpu_percent', 0.0):.0f} |"
            )
    ov = report.get("overload")
    if ov:
        lines += [
            "",
            f"## Overload: {ov['backend']} imgsz {ov['imgsz']} at {ov['hz']:.0f} Hz (2x raw) for "
            f"{ov['minutes']} min",
            "",
            f"- Latency p50 first fifth {ov['p50_first_ms']:.1f} ms, last fifth {ov['p50_last_ms']:.1f} ms "
            f"({ov['latency_growth_pct']:+.1f}%)",
            f"- Node RSS first fifth {ov['rss_first_mb']:.1f} MB, last fifth {ov['rss_last_mb']:.1f} MB "
            f"({ov['rss_growth_pct']:+.1f}%)",
        ]
    lines += ["", "## Goals", ""] + [f"- {g}" for g in report["goals"]] + [""]
    return "\n".join(lines)


def goals(report: dict) -> list[str]:
    out = []
    cells = report["cells"]
    ratios, overload_ratios, deltas = [], [], []
    for c in cells:
        by = {r["rate"]: r for r in c["node"]["results"]}
        if "1.25x" in by:
            ratios.append((by["1.25x"]["fps"] / c["raw"]["fps"], c["backend"], c["imgsz"]))
        if "2x" in by:
            overload_ratios.append((by["2x"]["fps"] / c["raw"]["fps"], c["backend"], c["imgsz"]))
        if "15 Hz" in by and c["raw"]["fps"] > 15:
            deltas.append((by["15 Hz"]["latency"]["p50"] - c["raw"]["p50"], c["backend"], c["imgsz"]))
    throughput = "Node throughput >= 0.95 x raw loop"
    for found, label in (
        (ratios, f"{throughput} (fed at 1.25x)"),
        (overload_ratios, f"{throughput} at 2x overload (the publisher shares the cores)"),
    ):
        if found:
            worst = min(found)
            ok = sum(r >= 0.95 for r, _, _ in found)
            out.append(f"{label}: {ok}/{len(found)} cells; worst {worst[0]:.2f} ({worst[1]} {worst[2]})")
    if deltas:
        worst = max(deltas)
        ok = sum(d <= 5.0 for d, _, _ in deltas)
        out.append(
            f"Node p50 latency <= raw + 5 ms (15 Hz, below the model's rate): {ok}/{len(deltas)} cells; "
            f"worst {worst[0]:+.1f} ms ({worst[1]} {worst[2]})"
        )
    for imgsz, target in ((640, 30.0), (320, 90.0)):
        best = None
        for c in cells:
            if c["imgsz"] != imgsz:
                continue
            fps = max(r["fps"] for r in c["node"]["results"])
            if best is None or fps > best[0]:
                best = (fps, c["backend"])
        if best:
            verdict = "met" if best[0] >= target else "NOT met"
            out.append(
                f">= {target:.0f} FPS end to end at imgsz {imgsz}: {verdict} "
                f"(best {best[0]:.1f} FPS, {best[1]})"
            )
    ov = report.get("overload")
    if ov:
        flat = abs(ov["rss_growth_pct"]) <= 5.0 and ov["latency_growth_pct"] <= 20.0
        out.append(
            f"2x overload for {ov['minutes']} min: latency {ov['latency_growth_pct']:+.1f}%, memory "
            f"{ov['rss_growth_pct']:+.1f}% -> {'flat' if flat else 'NOT flat'}"
        )
    return out


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = report["cells"]
    ov = report.get("overload")
    fig, axes = plt.subplots(1, 3 if ov else 1, figsize=(16 if ov else 9, 4.5))
    axes = np.atleast_1d(axes)
    ax = axes[0]
    labels = [f"{c['backend']} {c['imgsz']}" for c in cells]
    x = np.arange(len(cells))
    raw = [c["raw"]["fps"] for c in cells]
    eng = [c["engine"]["fps"] for c in cells]

    def node_fps(c: dict, rate: str) -> float:
        return next((r["fps"] for r in c["node"]["results"] if r["rate"] == rate), 0.0)

    ax.bar(x - 0.3, raw, 0.2, label="raw Ultralytics loop")
    ax.bar(x - 0.1, eng, 0.2, label="engine loop")
    ax.bar(x + 0.1, [node_fps(c, "1.25x") for c in cells], 0.2, label="node over DDS (fed at 1.25x)")
    ax.bar(x + 0.3, [node_fps(c, "2x") for c in cells], 0.2, label="node over DDS (2x overload)")
    ax.axhline(30, color="grey", ls="--", lw=0.8)
    ax.axhline(90, color="grey", ls=":", lw=0.8)
    ax.set_xticks(x, labels, fontsize=7, rotation=40, ha="right")
    ax.set_ylabel("frames / s")
    ax.set_title(f"YOLOv5n, 640x480 frames, {report['machine']['cpu']} ({report['machine']['cores']} cores)")
    ax.legend(fontsize=8)
    if ov:
        t = [s["t_s"] for s in ov["series"]]
        axes[1].plot(t, [s["p50"] for s in ov["series"]], label="p50")
        axes[1].plot(t, [s["p95"] for s in ov["series"]], label="p95")
        axes[1].set_ylim(bottom=0)
        axes[1].set_xlabel("s")
        axes[1].set_ylabel("latency ms")
        axes[1].set_title(f"2x overload: {ov['backend']} {ov['imgsz']} at {ov['hz']:.0f} Hz")
        axes[1].legend()
        rss = [s["rss_mb"] for s in ov["series"]]
        axes[2].plot(t, rss)
        axes[2].set_ylim(0, 1.15 * max(rss))  # a flat line must not hide in the frame's top edge
        axes[2].set_xlabel("s")
        axes[2].set_ylabel("node RSS MB")
        axes[2].set_title("node memory under overload")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- main -----------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=None, help="a .pt (default: bundled model, else a stand-in)")
    p.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    p.add_argument("--imgsz", nargs="+", type=int, default=[320, 416, 640])
    p.add_argument("--rates", nargs="+", type=float, default=[15, 30, 60, 120], help="publish rates in Hz")
    p.add_argument("--seconds", type=float, default=3.0, help="per loop and per node rate")
    p.add_argument("--threads", type=int, default=0, help="inference threads (0 = all cores)")
    p.add_argument(
        "--device", default="cpu", help="cpu, cuda or cuda:N (a GPU runs the PyTorch backend only)"
    )
    p.add_argument("--half", action="store_true", help="FP16 inference (CUDA)")
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
        NODE_PARAMS[:] = [f"device:={args.device}", f"half:={str(args.half).lower()}"]
    if args.quick:
        args.backends = [b for b in ("openvino", "onnx") if b in args.backends][:1] or args.backends[:1]
        args.imgsz, args.rates, args.seconds = [320], [30], min(args.seconds, 1.5)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        import openvino  # noqa: F401
    except ImportError:
        args.backends = [b for b in args.backends if not b.startswith("openvino")]
        print("openvino not installed: skipping OpenVINO (pip install openvino)", flush=True)
    args.work.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    from face_expression.core.resources import default_model_path

    model = args.model or default_model_path()
    if not model.is_file():
        model = stand_in_model(args.work / "standin_yolov5n.pt")
        print(f"bundled model missing: timing a random-weight stand-in {model}", flush=True)
    report: dict = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": "python benchmarks/speed.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": machine_info(),
        "load_start": load(),
        "model": model.name,
        "threads": args.threads,
        "device": args.device + (" fp16" if args.half else ""),
        "dds_profile": os.environ.get("FASTDDS_DEFAULT_PROFILES_FILE", "Fast DDS defaults"),
        "seconds": args.seconds,
        "cells": [],
    }
    print(f"{report['machine']}\n{report['load_start']}", flush=True)
    frames = real_frames()
    report["frames"] = len(frames)
    exports = export_models(model, args.imgsz, args.backends, args.work)
    bench = Bench(frames)
    threads = args.threads or os.cpu_count() or 1
    try:
        for backend in args.backends:
            for imgsz in args.imgsz:
                path = exports[backend, imgsz]
                print(f"[{backend} {imgsz}] {path.name}  {load()}", flush=True)
                raw = RawLoop(path, imgsz, backend, threads, args.work, args.device, args.half)
                raw.setup(frames[0])
                engine = ExpressionDetector(
                    InferenceConfig(
                        model=str(path), imgsz=imgsz, threads=args.threads, device=args.device, half=args.half
                    )
                )
                for f in frames[:3]:
                    raw(f)
                    engine(f)
                loops = interleaved({"raw": raw, "engine": engine}, frames, args.seconds)
                del raw, engine
                rates = [(f"{r:g} Hz", r) for r in args.rates] + [
                    ("1.25x", 1.25 * loops["raw"]["fps"]),
                    ("2x", 2.0 * loops["raw"]["fps"]),
                    ("max", 0.0),
                ]
                log = args.work / f"node_{backend}_{imgsz}.log"
                node = run_node(bench, path, imgsz, args.threads, rates, args.seconds, log)
                cell = {"backend": backend, "imgsz": imgsz, **loops, "node": asdict(node)}
                report["cells"].append(cell)
                by = {r.rate: r for r in node.results}
                print(
                    f"   raw {loops['raw']['p50']:.1f} ms ({loops['raw']['fps']:.1f}/s)  engine "
                    f"{loops['engine']['p50']:.1f} ms ({loops['engine']['fps']:.1f}/s)  node 1.25x "
                    f"{by['1.25x'].fps:.1f}/s  2x {by['2x'].fps:.1f}/s p50 {by['2x'].latency['p50']:.1f} ms  "
                    f"max {by['max'].fps:.1f}/s",
                    flush=True,
                )
        if args.overload_minutes > 0:
            candidates = [c for c in report["cells"] if c["imgsz"] == args.overload_imgsz] or report["cells"]
            if args.overload_backend:
                candidates = [c for c in candidates if c["backend"] == args.overload_backend] or candidates
            best = max(candidates, key=lambda c: c["raw"]["fps"])
            hz = 2.0 * best["raw"]["fps"]
            print(
                f"[overload] {best['backend']} {best['imgsz']} at {hz:.0f} Hz for {args.overload_minutes} min"
            )
            result = overload(
                bench,
                exports[best["backend"], best["imgsz"]],
                best["imgsz"],
                args.threads,
                hz,
                args.overload_minutes,
                args.work / "node_overload.log",
            )
            report["overload"] = {"backend": best["backend"], **result}
    finally:
        bench.close()
    report["load_end"] = load()
    report["goals"] = goals(report)
    stem = "speed_quick" if args.quick else "speed"
    (args.out / f"{stem}.json").write_text(json.dumps(report, indent=1))
    (args.out / f"{stem}.md").write_text(markdown(report))
    plot(report, args.out / f"{stem}.png")
    print("\n".join(report["goals"]))
    print(f"wrote {args.out / (stem + '.md')}, .json, .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
