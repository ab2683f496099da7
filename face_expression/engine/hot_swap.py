"""A detector that keeps serving frames while its replacement loads on a thread of its own.

Loading a model takes seconds. Done in a ROS parameter callback it would stall the executor (every
timer and service of the node) for that long, and frames would stop. Here the running model keeps
answering; the new one is swapped in once no frame is in flight, and a load that fails leaves
the running model in place.

It also admits the frames that run at once (:meth:`slot`): the running model's
``parallel_frames`` (2 on the CPU, where ONNX Runtime, OpenVINO and a PyTorch module take
concurrent calls; 1 on a GPU and for exports run by Ultralytics).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np

from face_expression.core.detections import Detection
from face_expression.engine.config import InferenceConfig, ModelError, needs_reload
from face_expression.engine.detector import ExpressionDetector

LoadedCallback = Callable[[ExpressionDetector], None]
FailedCallback = Callable[[InferenceConfig, Exception], None]


class HotSwapDetector:
    """Thread-safe holder of the running ExpressionDetector with background reloads."""

    def __init__(
        self,
        detector: ExpressionDetector,
        on_loaded: LoadedCallback,
        on_failed: FailedCallback,
        loader: Callable[[InferenceConfig], ExpressionDetector] = ExpressionDetector,
    ) -> None:
        self._detector = detector
        self._loader = loader
        self._lock = threading.Condition()
        self._in_flight = 0  # frames holding a slot
        self._exclusive = False  # a settings change or swap waits for (and blocks) new slots
        self._on_loaded = on_loaded
        self._on_failed = on_failed
        self._wanted = detector.cfg  # the newest settings asked for
        self._generation = 0  # bumps on every load request: only the newest load may swap in
        self._loaders: list[threading.Thread] = []

    @property
    def detector(self) -> ExpressionDetector:
        with self._lock:
            return self._detector

    @property
    def loading(self) -> bool:
        return any(t.is_alive() for t in self._loaders)

    @property
    def parallel(self) -> int:
        """Frames the running model may take at once."""
        with self._lock:
            return self._limit()

    def _limit(self) -> int:
        return self._detector.parallel_frames

    @contextmanager
    def slot(self) -> Iterator[ExpressionDetector]:
        """Wait for a free slot of the running model and yield that model to call.

        Take the frame inside the slot: a frame taken before waiting would be stale once it runs.
        Do not call this object (or ask for a second slot) while holding one.
        """
        with self._lock:
            while self._exclusive or self._in_flight >= self._limit():
                self._lock.wait()
            self._in_flight += 1
            detector = self._detector
        try:
            yield detector
        finally:
            with self._lock:
                self._in_flight -= 1
                self._lock.notify_all()

    @contextmanager
    def _alone(self) -> Iterator[None]:
        """Hold the lock with no frame in flight (settings changes and swaps touch the model)."""
        with self._lock:
            while self._exclusive:
                self._lock.wait()
            self._exclusive = True
            try:
                while self._in_flight:
                    self._lock.wait()
                yield
            finally:
                self._exclusive = False
                self._lock.notify_all()

    def __call__(self, image_bgr: np.ndarray) -> list[Detection]:
        with self.slot() as detector:
            return detector(image_bgr)

    def update(self, cfg: InferenceConfig) -> None:
        """Settings that need no reload: applied at once (and again to a model still loading)."""
        with self._alone():
            self._wanted = cfg
            if not self._detector.needs_reload(cfg):
                self._detector.update(cfg)

    def load(self, cfg: InferenceConfig) -> None:
        """Start loading ``cfg`` on a new thread; the running model serves until it is ready."""
        with self._lock:
            self._wanted = cfg
            self._generation += 1
            generation = self._generation
        self._loaders = [t for t in self._loaders if t.is_alive()]
        thread = threading.Thread(target=self._load, args=(cfg, generation), name="model-loader", daemon=True)
        self._loaders.append(thread)
        thread.start()

    def _load(self, cfg: InferenceConfig, generation: int) -> None:
        try:
            detector = self._loader(cfg)
        except (ModelError, ValueError, OSError) as exc:
            if generation == self._generation:
                self._on_failed(cfg, exc)
            return
        with self._alone():
            if generation != self._generation:
                return  # a newer request superseded this one
            wanted = self._wanted
            if wanted != cfg and not needs_reload(cfg, wanted):
                detector.update(wanted)  # thresholds changed while it loaded
            self._detector = detector
        self._on_loaded(detector)

    def join(self, timeout: float | None = None) -> None:
        """Wait for loads in progress (shutdown, tests)."""
        for thread in list(self._loaders):
            thread.join(timeout)
