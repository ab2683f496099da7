"""Real-time benchmark: the detector fed by a separate camera process, as on a robot.

benchmarks/speed.py publishes from its own process with the large-frame profile; a real camera
(usb_cam) is another process, reliable, 30 Hz, with whatever transport it was started with. This
script starts this package's camera node (reliable, keep last 1, rgb8, looping over real frames
written as .bmp: a usb_cam stand-in that needs no device) as its own process and measures, reusing
speed.py's frames, exports, node command and report helpers:

- ``transport``: frames delivered from the camera process to a subscriber here, per frame size
  (640x480, 1280x720, 1920x1080 rgb8), with the camera on Fast DDS defaults and on the bundled
  profile (config/fastdds_large_frames.xml; this process always has it, as the launch files give it
  to the detector);
- ``threads``: threads 1 / 2 / all per backend: the engine loop alone (no camera), and the node
  fed by the camera process at 60 Hz on the same cores (the real case);
- ``startup``: per backend, process start to the first detections received (the camera already
  publishing), and the node's RSS after 10 s of frames;
- ``soak``: the detector fed by the camera for N minutes at 30 Hz and at 2x the node's rate,
  answered rate and latency per minute (first vs last within 10%).

Each command updates its section of results/realtime.json and rewrites realtime.md / .png.

    python benchmarks/realtime.py transport threads startup
    python benchmarks/realtime.py soak --minutes 10
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # speed.py: frames, exports, node command
import cv2
import numpy as np
import speed
import speed_inputs
import speed_loops
import speed_node
import speed_report

from face_expression.ros.node_command import node_command

RESULTS = speed.RESULTS
PROFILE_ENV = "FASTDDS_DEFAULT_PROFILES_FILE"
SIZES = ((640, 480), (1280, 720), (1920, 1080))
#: usb_cam's size in config/usb_cam.yaml and webcam.launch.py: the camera of threads, startup, soak
CAMERA_SIZE = (640, 480)
#: the detector's /diagnostics counts that together make every frame that reached it
REACHED_KEYS = ("frames processed", "frames skipped as stale", "frames dropped as bad", "inference failures")


# -- processes ------------------------------------------------------------------------------
def fast_dds_setup() -> str:
    """What the camera and node processes of threads, startup and soak ran with, for the report."""
    here = Path(os.environ.get(PROFILE_ENV, "Fast DDS defaults")).name
    launched = speed.DDS_PROFILE.name
    return f"camera and node processes started with {launched}, as the launch files do; this process: {here}"


#: Set by the ROS 2 wheels' start-up hook to this venv's native libraries: another venv's Python
#: must find its own.
WHEEL_BOOTSTRAP_VARIABLES = ("LD_LIBRARY_PATH", "_ROS_WHEELS_BOOTSTRAP_COMPLETE")


def child_env(profile: bool, python: str | None = None) -> dict[str, str]:
    """A node's environment: Fast DDS defaults, or the launch files' profile; for ``python`` from
    another venv, without this venv's library path."""
    env = speed_node.node_env()
    env.pop(PROFILE_ENV, None)
    if profile:
        env[PROFILE_ENV] = str(speed.DDS_PROFILE)
    if python:
        for name in WHEEL_BOOTSTRAP_VARIABLES:
            env.pop(name, None)
    return env


def frame_folder(work: Path, width: int, height: int) -> Path:
    """speed.py's real frames at ``width`` x ``height`` as .bmp (no decoding cost in the camera)."""
    folder = work / f"frames_{width}x{height}"
    if not any(folder.glob("*.bmp")):
        folder.mkdir(parents=True, exist_ok=True)
        for i, frame in enumerate(speed_inputs.real_frames()):
            cv2.imwrite(str(folder / f"{i:02d}.bmp"), cv2.resize(frame, (width, height)))
    return folder


def spawn(cmd: list[str], profile: bool, log: Path, python: str | None) -> subprocess.Popen:
    """A node command as its own process, on ``python`` if given, output to ``log``."""
    cmd = [python or cmd[0], *cmd[1:]]
    env = child_env(profile, python)
    return subprocess.Popen(cmd, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, cwd=speed.ROOT)


def start_camera(
    work: Path, size: tuple[int, int], hz: float, profile: bool, log: Path, python: str | None = None
) -> subprocess.Popen:
    """The camera node as its own process: reliable, keep last 1, rgb8 (what usb_cam publishes)."""
    params = {"source": frame_folder(work, *size), "loop": True, "rate": hz, "encoding": "rgb8"}
    return spawn(node_command("camera", params, ["--log-level", "warn"]), profile, log, python)


def start_detector(
    model: Path,
    imgsz: int,
    threads: int,
    log: Path,
    profile: bool = True,
    parallel: int = 0,
    second_stage: bool = False,
    python: str | None = None,
) -> subprocess.Popen:
    """The detector node as its own process (``python``: another interpreter, e.g. a venv without torch)."""
    spec = speed_node.NodeSpec(model, imgsz, threads, (f"parallel_frames:={parallel}",))
    cmd = speed_node.detector_command(spec, second_stage)
    cmd[cmd.index("warn")] = "info"  # keep the first-frame line
    return spawn(cmd, profile, log, python)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(2)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Collector:
    """Subscribes detections (and optionally images) here; records arrival and header stamps."""

    def __init__(self) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
        from vision_msgs.msg import Detection2DArray

        rclpy.init()
        self.rclpy = rclpy
        self.node = rclpy.create_node("face_expression_realtime_bench")
        self._qos = QoSProfile(
            history=HistoryPolicy.KEEP_LAST, depth=100, reliability=ReliabilityPolicy.RELIABLE
        )
        self.node.create_subscription(Detection2DArray, "detections", self._on_msg, self._qos)
        self.lock = threading.Lock()
        self.events: list[tuple[float, float]] = []  # (arrival monotonic, latency ms)
        self.reached: tuple[float, int] | None = None  # (arrival monotonic, frames that reached the node)
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self._spinner = threading.Thread(target=self.executor.spin, daemon=True)
        self._spinner.start()

    def watch_images(self, reliable: bool) -> object:
        from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image

        rel = ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=rel)
        return self.node.create_subscription(Image, "camera/image_raw", self._on_msg, qos)

    def watch_diagnostics(self) -> object:
        """Follow the detector's /diagnostics: the camera's frames its reader accounted for.

        Each ends as processed (published), skipped as stale (with the take reader: a gap in the
        publisher's sequence numbers before the frame taken, which a frame lost on the way leaves
        too; or inferred but superseded by a newer frame's result that went out first), dropped as
        bad or failed. So the sum follows the newest frame the node got, not every frame: a stalled
        transport shows as a falling sum, a lossy one does not. "frames received" (frames the
        workers took) would count a superseded frame twice.
        """
        from diagnostic_msgs.msg import DiagnosticArray

        return self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)

    def _on_diagnostics(self, msg) -> None:
        for status in msg.status:
            values = {kv.key: kv.value for kv in status.values}
            if "frames processed" in values:
                total = sum(int(values[k]) for k in REACHED_KEYS)
                with self.lock:
                    self.reached = (time.monotonic(), total)

    def _on_msg(self, msg) -> None:
        now_ns = time.time_ns()
        stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        with self.lock:
            self.events.append((time.monotonic(), (now_ns - stamp) / 1e6))

    def reset(self) -> None:
        with self.lock:
            self.events = []
            self.reached = None

    def since(self, t0: float) -> list[tuple[float, float]]:
        with self.lock:
            return [e for e in self.events if e[0] >= t0]

    def wait_first(self, timeout: float, proc: subprocess.Popen | None = None) -> float | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and (proc is None or proc.poll() is None):
            with self.lock:
                if self.events:
                    return self.events[0][0]
            time.sleep(0.005)
        return None

    def close(self) -> None:
        self.executor.shutdown()
        self._spinner.join(timeout=5.0)
        self.node.destroy_node()
        self.rclpy.try_shutdown()


# -- measurements ---------------------------------------------------------------------------
def transport(col: Collector, work: Path, seconds: float, hz: float) -> list[dict]:
    rows = []
    for size in SIZES:
        for profile in (False, True):
            for reliable in (True, False):
                sub = col.watch_images(reliable)
                cam = start_camera(work, size, hz, profile, work / "camera_transport.log")
                try:
                    col.reset()
                    first = col.wait_first(15.0, cam)
                    if first is None:
                        got = []
                        start = time.monotonic()
                    else:
                        start = time.monotonic()
                        time.sleep(seconds)
                        got = col.since(start)
                finally:
                    stop(cam)
                    col.node.destroy_subscription(sub)
                lat = speed_loops.percentiles([g[1] for g in got])
                rows.append(
                    {
                        "size": f"{size[0]}x{size[1]}",
                        "camera_profile": "large_frames" if profile else "Fast DDS defaults",
                        "subscriber": "reliable" if reliable else "best effort",
                        "hz": hz,
                        "expected": round(hz * seconds),
                        "received": len(got),
                        "latency_p50_ms": lat["p50"],
                    }
                )
                print(f"  transport {rows[-1]}", flush=True)
    return rows


def engine_fps(
    path: Path, imgsz: int, threads: int, parallel: int, frames: list[np.ndarray], seconds: float
) -> dict:
    """The engine in a loop here (no camera): ``parallel`` threads call it at once, as the node's do."""
    from face_expression.engine.config import InferenceConfig
    from face_expression.engine.detector import ExpressionDetector

    cfg = InferenceConfig(
        model=str(path), imgsz=imgsz, threads=threads, parallel_frames=parallel, expression_classifier=""
    )
    engine = ExpressionDetector(cfg)
    for f in frames[:3]:
        engine(f)
    parallel = engine.parallel_frames
    if parallel == 1:
        return speed_loops.interleaved({"engine": engine}, frames, seconds)["engine"]
    times: list[list[float]] = [[] for _ in range(parallel)]

    def loop(k: int) -> None:
        i, t_end = k, time.perf_counter() + seconds
        while time.perf_counter() < t_end:
            t0 = time.perf_counter()
            engine(frames[i % len(frames)])
            times[k].append((time.perf_counter() - t0) * 1e3)
            i += parallel

    workers = [threading.Thread(target=loop, args=(k,)) for k in range(parallel)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    stats = speed_loops.percentiles([t for ts in times for t in ts])
    stats["fps"] = sum(len(ts) for ts in times) / seconds
    return stats


def node_with_camera(
    model: Path,
    imgsz: int,
    threads: int,
    parallel: int,
    work: Path,
    col: Collector,
    hz: float,
    seconds: float,
) -> dict:
    """The node fed by the camera process at ``hz``: answered FPS, latency, CPU."""
    import psutil

    cam = start_camera(work, CAMERA_SIZE, hz, True, work / "camera_threads.log")
    log = work / f"node_threads_{threads}_{parallel}.log"
    det = start_detector(model, imgsz, threads, log, parallel=parallel)
    try:
        col.reset()
        if col.wait_first(60.0, det) is None:
            raise RuntimeError(f"node did not answer:\n{log.read_text()[-2000:]}")
        time.sleep(2.0)  # warm
        ps, pc = psutil.Process(det.pid), psutil.Process(cam.pid)
        c0, k0, t0 = ps.cpu_times(), pc.cpu_times(), time.monotonic()
        time.sleep(seconds)
        got = col.since(t0)
        c1, k1, t1 = ps.cpu_times(), pc.cpu_times(), time.monotonic()
    finally:
        stop(det)
        stop(cam)
    lat = speed_loops.percentiles([g[1] for g in got])
    return {
        "fps": len(got) / seconds,
        "p50_ms": lat["p50"],
        "p95_ms": lat["p95"],
        "node_cpu_pct": (c1.user + c1.system - c0.user - c0.system) / (t1 - t0) * 100,
        "camera_cpu_pct": (k1.user + k1.system - k0.user - k0.system) / (t1 - t0) * 100,
    }


def thread_sweep(args, col: Collector, work: Path, models: dict[str, Path]) -> list[dict]:
    frames = speed_inputs.real_frames()
    rows = []
    counts = sorted({1, 2, os.cpu_count() or 1})
    for backend, path in models.items():
        for threads, parallel in [(t, p) for p in (1, 2) for t in counts]:
            eng = engine_fps(path, args.imgsz, threads, parallel, frames, args.seconds)
            node = node_with_camera(
                path, args.imgsz, threads, parallel, work, col, args.camera_hz, args.seconds
            )
            rows.append(
                {
                    "backend": backend,
                    "imgsz": args.imgsz,
                    "threads": threads,
                    "parallel_frames": parallel,
                    "engine_fps": eng["fps"],
                    "engine_p50_ms": eng["p50"],
                    **{f"node_{k}": v for k, v in node.items()},
                }
            )
            print(f"  threads {rows[-1]}", flush=True)
    return rows


def camera_publishing(col: Collector, cam: subprocess.Popen) -> None:
    """Until the camera's frames arrive here, then 2 s more: starts are timed beside a running camera
    (the first start of a run, timed while the camera process itself was still starting, took 1.2 and
    2.8 s where the next ones took 0.6-0.8 s)."""
    sub = col.watch_images(reliable=True)
    try:
        col.reset()
        if col.wait_first(30.0, cam) is None:
            state = "running" if cam.poll() is None else f"exited with {cam.returncode}"
            raise RuntimeError(f"no frame from the camera within 30 s (camera process {state})")
    finally:
        col.node.destroy_subscription(sub)
    time.sleep(2.0)
    col.reset()


def startup(args, col: Collector, work: Path, models: dict[tuple[str, int], Path]) -> list[dict]:
    """Per (backend, imgsz): start-up to the first detections and RSS, the node as shipped."""
    import psutil

    rows = []
    cam = start_camera(work, CAMERA_SIZE, 30.0, True, work / "camera_startup.log", args.node_python)
    try:
        camera_publishing(col, cam)
        for (backend, imgsz), path in models.items():
            for rep in range(args.repeats):
                log = work / f"node_startup_{backend}_{imgsz}_{rep}.log"
                col.reset()
                t0 = time.monotonic()
                det = start_detector(path, imgsz, 0, log, second_stage=True, python=args.node_python)
                try:
                    first = col.wait_first(60.0, det)
                    if first is None:
                        raise RuntimeError(f"node did not answer:\n{log.read_text()[-2000:]}")
                    time.sleep(10.0)
                    rss = psutil.Process(det.pid).memory_info().rss / 2**20
                finally:
                    stop(det)
                line = next((x for x in log.read_text().splitlines() if "first frame answered" in x), "")
                rows.append(
                    {
                        "backend": backend,
                        "imgsz": imgsz,
                        "first_detection_s": first - t0,
                        "rss_mb": rss,
                        "node_line": line.split("]: ", 1)[-1],
                    }
                )
                print(f"  startup {rows[-1]}", flush=True)
    finally:
        stop(cam)
    return rows


def node_packages(python: str | None) -> str:
    """What the nodes ran on: the interpreter and its NumPy, OpenCV, runtimes and torch (or none)."""
    probe = (
        "import importlib.metadata as m, sys\n"
        "names = ('numpy', 'opencv-python', 'opencv-python-headless', 'onnxruntime', 'openvino', 'torch')\n"
        "found = []\n"
        "for n in names:\n"
        "    try: found.append(f'{n} {m.version(n)}')\n"
        "    except m.PackageNotFoundError: pass\n"
        "print(sys.executable + ': ' + ', '.join(found) + ('' if 'torch' in str(found) else ', no torch'))\n"
    )
    out = subprocess.run([python or sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def announcement_period() -> str:
    """The discovery announcement period the large-frames profile sets (start-up depends on it)."""
    import xml.etree.ElementTree as ET

    ns = {"d": "http://www.eprosima.com"}
    lease = ET.parse(speed.DDS_PROFILE).find(".//d:leaseAnnouncement", ns)
    if lease is None:
        return "3 s (Fast DDS default)"
    sec = float(lease.findtext("d:sec", "0", ns)) + float(lease.findtext("d:nanosec", "0", ns)) / 1e9
    return f"{sec:g} s"


def core_speed_ms() -> float:
    """CPU ms this thread needs for a fixed piece of Python work (the best of five).

    The 2 vCPUs are shared with other tenants, and the work a CPU second does drifts by tens of
    percent over minutes (the node's CPU per frame with it). Thread CPU time leaves out waiting for a
    core, so this tells how fast a core runs, not how busy ours are: a change in the answered rate
    that this explains is the machine's, not the node's.
    """
    best = float("inf")
    for _ in range(5):
        t = time.thread_time()
        sum(i * i for i in range(300_000))
        best = min(best, time.thread_time() - t)
    return best * 1000


def _sample(col: Collector, ps, t0: float, c0, reached0: tuple[float, int] | None) -> dict:
    """What the node did since ``t0``: answered FPS, latency percentiles and maximum, CPU, RSS, and
    the frames that reached it per second (its /diagnostics counts since ``reached0``)."""
    got = col.since(t0)
    c1 = ps.cpu_times()
    with col.lock:
        reached1 = col.reached
    reached_fps = float("nan")
    if reached0 is not None and reached1 is not None and reached1[0] > reached0[0]:
        reached_fps = (reached1[1] - reached0[1]) / (reached1[0] - reached0[0])
    dt_s = time.monotonic() - t0
    lat = [g[1] for g in got]
    pct = speed_loops.percentiles(lat)
    return {
        "fps": len(got) / dt_s,
        "reached_fps": reached_fps,
        "p50_ms": pct["p50"],
        "p95_ms": pct["p95"],
        "max_ms": max(lat) if lat else float("nan"),
        "node_cpu_pct": (c1.user + c1.system - c0.user - c0.system) / dt_s * 100,
        "rss_mb": ps.memory_info().rss / 2**20,
        "load1": os.getloadavg()[0],
        "core_ms": core_speed_ms(),
    }


def _minute(samples: list[dict], minute: int) -> dict:
    """Per-minute figures from its 10 s samples (FPS and percentiles averaged, maximum kept)."""
    keys = ("fps", "reached_fps", "p50_ms", "p95_ms", "node_cpu_pct", "rss_mb", "load1", "core_ms")
    out = {k: float(np.nanmean([s.get(k, np.nan) for s in samples])) for k in keys}
    out["cpu_ms_per_frame"] = out["node_cpu_pct"] * 10 / out["fps"] if out["fps"] else float("nan")
    out.update(minute=minute, max_ms=float(np.nanmax([s["max_ms"] for s in samples])))
    return out


def soak(args, col: Collector, work: Path, model: Path, rate: str, minutes: float) -> dict:
    """Camera at ``rate`` (Hz or '2x' the node's measured rate) for ``minutes``.

    Sampled every ``args.sample_s`` seconds (RSS, p50/p95 and the oldest frame answered), summarised
    per minute; first vs last minute is the goal's comparison.
    """
    hz = float(rate) if not rate.endswith("x") else 0.0
    node_fps = None
    if not hz:  # measure the node's own rate first: 20 s with the camera at 120 Hz
        probe = node_with_camera(model, args.imgsz, args.threads, 0, work, col, 120.0, 20.0)
        node_fps = probe["fps"]
        hz = float(rate[:-1]) * node_fps
    import psutil

    diagnostics = col.watch_diagnostics()
    cam = start_camera(work, CAMERA_SIZE, hz, True, work / f"camera_soak_{rate}.log")
    det = start_detector(model, args.imgsz, args.threads, work / f"node_soak_{rate}.log")
    samples: list[dict] = []
    try:
        col.reset()
        if col.wait_first(60.0, det) is None:
            raise RuntimeError("node did not answer")
        ps = psutil.Process(det.pid)
        start = time.monotonic()
        for k in range(int(minutes * 60 / args.sample_s)):
            t0, c0 = time.monotonic(), ps.cpu_times()
            with col.lock:
                reached0 = col.reached
            time.sleep(max(0.0, start + args.sample_s * (k + 1) - time.monotonic()))
            sample = _sample(col, ps, t0, c0, reached0)
            samples.append({"t_s": round(time.monotonic() - start, 1), **sample})
            print(f"  soak {rate} {samples[-1]}", flush=True)
            with col.lock:
                col.events = [e for e in col.events if e[0] >= time.monotonic() - 5]
    finally:
        col.node.destroy_subscription(diagnostics)
        stop(det)
        stop(cam)
    per_minute = max(1, round(60 / args.sample_s))
    minutes_stats = [
        _minute(samples[i : i + per_minute], i // per_minute + 1) for i in range(0, len(samples), per_minute)
    ]
    first, last = minutes_stats[0], minutes_stats[-1]
    return {
        "rate": rate,
        "hz": hz,
        "model": model.name,
        "imgsz": args.imgsz,
        "threads": args.threads,
        "node_fps": node_fps,
        "sample_s": args.sample_s,
        "samples": samples,
        "minutes": minutes_stats,
        "fps_change_pct": (last["fps"] - first["fps"]) / first["fps"] * 100,
        "reached_change_pct": (last["reached_fps"] - first["reached_fps"]) / first["reached_fps"] * 100
        if first["reached_fps"]
        else float("nan"),
        "p50_change_pct": (last["p50_ms"] - first["p50_ms"]) / first["p50_ms"] * 100,
        "rss_change_pct": (last["rss_mb"] - first["rss_mb"]) / first["rss_mb"] * 100,
        "oldest_ms": max(m["max_ms"] for m in minutes_stats),
        "core_ms_change_pct": (last["core_ms"] - first["core_ms"]) / first["core_ms"] * 100,
        "cpu_per_frame_change_pct": (last["cpu_ms_per_frame"] - first["cpu_ms_per_frame"])
        / first["cpu_ms_per_frame"]
        * 100,
    }


# -- report ---------------------------------------------------------------------------------
def markdown(report: dict) -> str:
    m = report.get("machine", {})
    lines = [
        "# Real time: the detector fed by a separate camera process",
        "",
        f"- Machine: {m.get('cpu')}, {m.get('cores')} cores (shared with other developers' jobs); "
        f"Python {m.get('python')}, onnxruntime {m.get('onnxruntime')}, openvino {m.get('openvino')}",
        "- Camera: this package's camera node as its own process (reliable, keep last 1, rgb8, real "
        "frames from .bmp files): a usb_cam stand-in. Latency = detections' arrival minus the "
        "frame's header stamp.",
        "",
    ]
    for key, title in (
        ("transport", "Transport: frames a subscriber receives from the camera process"),
        ("threads", "Threads per backend"),
        ("startup", "Start-up and memory per backend"),
        ("soak", "Soak"),
    ):
        sec = report.get(key)
        if not sec:
            continue
        lines += [
            f"## {title}",
            "",
            f"- Date: {sec['date']}; command: `{sec['command']}`",
            f"- Load: {sec['load_start']} before, {sec['load_end']} after",
            *([f"- Fast DDS: {sec['fast_dds']}"] if sec.get("fast_dds") else []),
            "",
        ]
        lines += SECTION_TABLES[key](sec)
        lines.append("")
    return "\n".join(lines)


def _transport_table(sec: dict) -> list[str]:
    out = [
        "| frame | camera process | subscriber | published | received | p50 latency ms |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in sec["rows"]:
        out.append(
            f"| {r['size']} rgb8 | {r['camera_profile']} | {r['subscriber']} | {r['expected']} | "
            f"{r['received']} | {r['latency_p50_ms']:.1f} |"
        )
    return out


def _threads_table(sec: dict) -> list[str]:
    out = [
        f"Node fed by the camera process at {sec['camera_hz']:g} Hz (640x480), {sec['seconds']:g} s per "
        "cell; engine = the same model in a loop here, no camera.",
        "",
        "threads = per frame run alone; parallel = frames at once (ONNX Runtime runs an overlapping "
        "frame on half the threads; OpenVINO's share one compiled model; PyTorch gives each frame half "
        "the threads, at least 1).",
        "",
        "| backend | imgsz | threads | parallel | engine FPS (no camera) | engine p50 ms | "
        "node FPS (camera on the same cores) | node p50 ms | node p95 ms | node CPU % | camera CPU % |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in sec["rows"]:
        out.append(
            f"| {r['backend']} | {r['imgsz']} | {r['threads']} | {r.get('parallel_frames', 1)} | "
            f"{r['engine_fps']:.1f} | "
            f"{r['engine_p50_ms']:.1f} | {r['node_fps']:.1f} | {r['node_p50_ms']:.1f} | "
            f"{r['node_p95_ms']:.1f} | {r['node_node_cpu_pct']:.0f} | {r['node_camera_cpu_pct']:.0f} |"
        )
    return out


def _startup_table(sec: dict) -> list[str]:
    out = [
        "Process start to the first detections received here (the camera already publishing at 30 Hz); "
        "RSS after 10 s of frames; the node's own first-frame line. The node as shipped: on an export of "
        "the bundled model its defaults run the bundled expression classifier too (ONNX Runtime beside an "
        ".onnx model, OpenVINO beside an OpenVINO one). "
        f"Discovery: ROS_AUTOMATIC_DISCOVERY_RANGE={sec.get('discovery_range', 'LOCALHOST')}, "
        f"announcements every {sec.get('announcement_period', '?')} (the profile's). "
        f"Nodes ran on {sec.get('node_python', 'the development venv')}.",
        "",
        "| backend | imgsz | first detection s | RSS MB | node says |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in sec["rows"]:
        out.append(
            f"| {r['backend']} | {r.get('imgsz', '-')} | {r['first_detection_s']:.2f} | {r['rss_mb']:.0f} | "
            f"{r['node_line']} |"
        )
    return out


def _soak_table(sec: dict) -> list[str]:
    out = []
    for run in sec["runs"]:
        period = f"{1000 / run['node_fps']:.0f} ms" if run.get("node_fps") else "-"
        out += [
            f"### {run['model']} imgsz {run['imgsz']}, camera at {run['hz']:.1f} Hz ({run['rate']}), "
            f"threads {run['threads'] or 'default'}",
            "",
            f"- answered rate first vs last minute: {run['fps_change_pct']:+.1f}%; p50 latency "
            f"{run['p50_change_pct']:+.1f}% (goal: within +-10%)",
        ]
        if "rss_change_pct" in run:
            out += [
                f"- RSS first vs last minute: {run['rss_change_pct']:+.1f}% (goal: within +-5%); oldest "
                f"frame answered: {run['oldest_ms']:.0f} ms after its stamp (model period here: {period}; "
                "a frame waits at most one period, then takes one to process)",
                f"- sampled every {run.get('sample_s', 60):g} s; minutes average their samples, max = the "
                "oldest frame answered in that minute",
            ]
        if "reached_change_pct" in run:
            out.append(
                "- the camera's frames the node accounted for (its /diagnostics: processed + skipped as "
                f"stale + bad + failed) first vs last minute: {run['reached_change_pct']:+.1f}% (camera at "
                f"{run['hz']:.1f} Hz): the newest frame kept reaching it, whatever the machine's speed "
                "(a frame lost on the way counts as skipped: this shows a stall, not a loss)"
            )
        if "core_ms_change_pct" in run:
            out.append(
                f"- the node's CPU ms per answered frame first vs last minute: "
                f"{run['cpu_per_frame_change_pct']:+.1f}%; the machine's core speed probe (CPU ms of a "
                f"fixed piece of work, lower = faster): {run['core_ms_change_pct']:+.1f}%"
            )
        out += [
            "",
            "| minute | answered FPS | accounted FPS | p50 ms | p95 ms | max ms | node CPU % | "
            "node CPU ms / frame | RSS MB | load (1 min) | core probe ms |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for m in run["minutes"]:
            out.append(
                f"| {m['minute']} | {m['fps']:.1f} | {m.get('reached_fps', float('nan')):.1f} | "
                f"{m['p50_ms']:.1f} | {m['p95_ms']:.1f} | "
                f"{m.get('max_ms', float('nan')):.0f} | {m['node_cpu_pct']:.0f} | "
                f"{m.get('cpu_ms_per_frame', float('nan')):.1f} | {m['rss_mb']:.1f} | "
                f"{m['load1']:.2f} | {m.get('core_ms', float('nan')):.2f} |"
            )
        out.append("")
    return out


SECTION_TABLES = {
    "transport": _transport_table,
    "threads": _threads_table,
    "startup": _startup_table,
    "soak": _soak_table,
}


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [k for k in ("threads", "startup", "soak") if report.get(k)]
    if not panels:
        return
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.5))
    axes = np.atleast_1d(axes)
    for ax, key in zip(axes, panels):
        sec = report[key]
        if key == "threads":
            rows = sec["rows"]
            labels = [f"{r['backend']}\n{r['threads']} thr" for r in rows]
            x = np.arange(len(rows))
            ax.bar(x - 0.2, [r["engine_fps"] for r in rows], 0.4, label="engine, no camera")
            ax.bar(
                x + 0.2, [r["node_fps"] for r in rows], 0.4, label=f"node, camera at {sec['camera_hz']:g} Hz"
            )
            ax.set_xticks(x, labels, fontsize=7)
            ax.set_ylabel("frames / s")
            ax.set_title("threads per backend (2 shared cores)")
            ax.legend(fontsize=8)
        elif key == "startup":
            rows = sec["rows"]
            key = lambda r: f"{r['backend']}\n{r.get('imgsz', '')}"  # noqa: E731
            backends = list(dict.fromkeys(key(r) for r in rows))
            rss = [np.median([r["rss_mb"] for r in rows if key(r) == b]) for b in backends]
            t = [np.median([r["first_detection_s"] for r in rows if key(r) == b]) for b in backends]
            ax.bar(np.arange(len(backends)), rss, color="tab:blue")
            ax.axhline(250, color="grey", ls="--", lw=0.8)
            ax.set_xticks(np.arange(len(backends)), backends, fontsize=7)
            ax.set_ylabel("RSS MB (bars; goal 250 for exports)")
            ax2 = ax.twinx()
            ax2.plot(np.arange(len(backends)), t, "o-", color="tab:red")
            ax2.set_ylabel("first detection s (red)")
            ax2.set_ylim(bottom=0)
            ax.set_title("start-up and memory")
        else:
            for run in sec["runs"]:
                mins = [m["minute"] for m in run["minutes"]]
                ax.plot(
                    mins, [m["fps"] for m in run["minutes"]], "o-", label=f"FPS, camera {run['hz']:.0f} Hz"
                )
                ax.plot(
                    mins,
                    [m["p50_ms"] for m in run["minutes"]],
                    "x--",
                    label=f"p50 ms, camera {run['hz']:.0f} Hz",
                )
            ax.set_ylim(bottom=0)
            ax.set_xlabel("minute")
            ax.set_title("soak: camera process -> detector")
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- main -----------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("commands", nargs="+", choices=["transport", "threads", "startup", "soak"])
    p.add_argument("--backends", nargs="+", default=["pytorch", "onnx", "openvino"])
    p.add_argument("--imgsz", type=int, default=320)
    p.add_argument("--startup-sizes", nargs="+", type=int, help="imgsz values for startup (default: --imgsz)")
    p.add_argument("--seconds", type=float, default=10.0, help="per transport/threads cell")
    p.add_argument("--camera-hz", type=float, default=60.0, help="camera rate for the thread sweep")
    p.add_argument("--transport-hz", type=float, default=30.0)
    p.add_argument("--repeats", type=int, default=3, help="start-ups per backend")
    p.add_argument("--minutes", nargs="+", type=float, default=[10.0], help="per soak rate (one or one each)")
    p.add_argument("--soak-rates", nargs="+", default=["30", "2x"])
    p.add_argument("--soak-backend", default="pytorch", help="pytorch = the launch files' default model")
    p.add_argument("--threads", type=int, default=0, help="node threads for the soak (0 = the default)")
    p.add_argument("--sample-s", type=float, default=10.0, help="soak sampling period (RSS, latency)")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument(
        "--node-python",
        help="startup: the Python that runs the camera and detector (e.g. a venv with requirements-lean.txt, "
        "no torch, as on a robot); exports are still made here",
    )
    p.add_argument(
        "--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "face_expression_realtime"
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    from face_expression.core.resources import default_model_path

    model = default_model_path()
    models_needed = set(args.backends) | ({args.soak_backend} if "soak" in args.commands else set())
    startup_sizes = args.startup_sizes or [args.imgsz]
    sizes = sorted({args.imgsz, *startup_sizes}) if "startup" in args.commands else [args.imgsz]
    exports = speed_inputs.export_models(model, sizes, sorted(models_needed), args.work)
    models = {b: exports[b, args.imgsz] for b in args.backends}
    path = args.out / "realtime.json"
    report = json.loads(path.read_text()) if path.is_file() else {}
    report["machine"] = speed_report.machine_info()
    col = Collector()
    try:
        for command in args.commands:
            section = {
                "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
                "command": "python benchmarks/realtime.py "
                + " ".join(sys.argv[1:] if argv is None else argv),
                "load_start": speed_report.load(),
                **({"fast_dds": fast_dds_setup()} if command != "transport" else {}),
            }
            print(f"[{command}] {section['load_start']}", flush=True)
            if command == "transport":
                section.update(
                    seconds=args.seconds, rows=transport(col, args.work, args.seconds, args.transport_hz)
                )
            elif command == "threads":
                section.update(
                    seconds=args.seconds,
                    camera_hz=args.camera_hz,
                    rows=thread_sweep(args, col, args.work, models),
                )
            elif command == "startup":
                per_size = {(b, i): exports[b, i] for i in startup_sizes for b in args.backends}
                section.update(
                    rows=startup(args, col, args.work, per_size),
                    discovery_range=os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"],
                    announcement_period=announcement_period(),
                    node_python=node_packages(args.node_python),
                )
            else:
                soak_model = exports[args.soak_backend, args.imgsz]
                minutes = args.minutes * len(args.soak_rates) if len(args.minutes) == 1 else args.minutes
                pairs = zip(args.soak_rates, minutes)
                runs = [soak(args, col, args.work, soak_model, r, m) for r, m in pairs]
                section.update(runs=runs)
            section["load_end"] = speed_report.load()
            report[command] = section
            path.write_text(json.dumps(report, indent=1))
            (args.out / "realtime.md").write_text(markdown(report))
            plot(report, args.out / "realtime.png")
    finally:
        col.close()
    print(f"wrote {args.out / 'realtime.md'}, .json, .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
