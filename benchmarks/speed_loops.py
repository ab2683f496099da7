"""Speed benchmark loops: Ultralytics' own predict loop and the interleaved timing of loops."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from face_expression.engine.backends import loadable_name, read_export_metadata, use_compiled_openvino


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
        self.kwargs = {"imgsz": list(self.fixed) if self.fixed else imgsz, "verbose": False, "device": device}
        if half:  # only then: Ultralytics 8.4 prints a deprecation line for ``half`` on every call
            self.kwargs["quantize"] = 16
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
        if self.torch.get_num_threads() != self.threads:  # per thread: the engine's calls here set theirs
            self.torch.set_num_threads(self.threads)
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
