"""Speed benchmark of the detector node over DDS: a frame publisher/detection collector and the node runs."""

from __future__ import annotations

import array
import os
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from speed_inputs import CAMERA_H, CAMERA_W, ROOT
from speed_loops import percentiles

from face_expression.ros.node_command import node_command

# The caller's OpenMP/ONNX Runtime spinning choice: speed.py imports this module before
# offline.prepare_environment() sets the node's default.
USER_OMP_WAIT_POLICY = os.environ.get("OMP_WAIT_POLICY")


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
    raw_fps_beside: float = 0.0  #: the raw loop just before and after this rate (mean), 0 = not run


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


@dataclass(frozen=True)
class NodeSpec:
    """The detector node to start: its model, imgsz, threads and extra parameters (device, half on a GPU)."""

    path: Path
    imgsz: int
    threads: int
    extra: tuple[str, ...] = ()  #: ``name:=value`` parameters


def detector_command(node: NodeSpec, second_stage: bool = False) -> list[str]:
    """The detector alone, as the raw loop it is compared with (the second stage's cost: accuracy.py);
    ``second_stage``: expression_classifier left at its default, as the node ships."""
    extra = [arg for param in node.extra for arg in ("-p", param)]
    params = {"model": node.path, "imgsz": node.imgsz, "threads": node.threads}
    if not second_stage:
        params["expression_classifier"] = ""
    return node_command("detector", params, [*extra, "--log-level", "warn"])


def start_node(node: NodeSpec, log: Path) -> subprocess.Popen:
    """The detector node as its own process, its output in ``log``."""
    with open(log, "w") as log_file:
        return subprocess.Popen(
            detector_command(node),
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
    node: NodeSpec,
    rates: list[tuple[str, float]],
    seconds: float,
    log: Path,
    raw_beside: Callable[[], float] | None = None,
    bracketed: dict[str, float] | None = None,
) -> NodeRun:
    """The node at each rate; ``raw_beside`` (the raw loop's FPS) runs before and after each
    ``bracketed`` rate while the node idles, so the ratio compares minutes, not quarter hours apart.

    A bracketed rate is published at its factor times the raw loop measured right before it (the
    ``hz`` in ``rates`` stands in without ``raw_beside``). A rate set once from the first raw
    measurement capped the node when the machine sped up meanwhile: OpenVINO 320 answered all
    102 frames/s it was sent at "1.25x" while the raw loop beside it ran 119 (node/raw 0.86).
    """
    bracketed = bracketed or {}
    import psutil

    run = NodeRun()
    t0 = time.monotonic()
    proc = start_node(node, log)
    try:
        if not bench.wait_ready(proc, timeout=120):
            run.log_tail = log.read_text()[-2000:]
            raise RuntimeError(f"node did not answer (exit {proc.poll()}):\n{run.log_tail}")
        run.startup_s = time.monotonic() - t0
        ps, me = psutil.Process(proc.pid), psutil.Process()
        for name, hz in rates:
            time.sleep(0.5)  # let the previous stream drain (the raw loop must not share the cores)
            raw_before = raw_beside() if raw_beside and name in bracketed else 0.0
            if raw_before:
                hz = bracketed[name] * raw_before
            bench.reset()
            cpu0, pub0, w0 = ps.cpu_times(), me.cpu_times(), time.monotonic()
            sent = bench.stream(hz, seconds)
            time.sleep(0.3)  # the last frame's answer
            cpu1, pub1, w1 = ps.cpu_times(), me.cpu_times(), time.monotonic()
            with bench.lock:
                lat = list(bench.latencies)
            cpu = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / (w1 - w0) * 100.0
            received = len(lat)
            rss_mb = ps.memory_info().rss / 2**20
            raw_after = 0.0
            if raw_before:
                time.sleep(0.5)  # the node answers its last frames (two in flight, one waiting) first
                raw_after = raw_beside()
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
                    rss_mb=rss_mb,
                    publisher_cpu_percent=(pub1.user + pub1.system - pub0.user - pub0.system)
                    / (w1 - w0)
                    * 100.0,
                    raw_fps_beside=(raw_before + raw_after) / 2 if raw_before else 0.0,
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


def overload(bench: Bench, node: NodeSpec, hz: float, minutes: float, log: Path) -> dict:
    """2x overload for ``minutes``: latency and RSS per 10 s window must stay flat."""
    import psutil

    window = 10.0
    proc = start_node(node, log)
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
        "imgsz": node.imgsz,
        "series": series,
        "p50_first_ms": p50_first,
        "p50_last_ms": p50_last,
        "rss_first_mb": rss_first,
        "rss_last_mb": rss_last,
        "rss_growth_pct": (rss_last - rss_first) / rss_first * 100.0,
        "latency_growth_pct": (p50_last - p50_first) / p50_first * 100.0,
    }
