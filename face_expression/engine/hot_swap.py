"""A detector that keeps serving frames while its replacement loads on a thread of its own.

Loading a model takes seconds. Done in a ROS parameter callback it would stall the executor (every
timer and service of the node) for that long, and frames would stop. Here the running model keeps
answering; the new one is swapped in under the lock once it is ready, and a load that fails leaves
the running model in place.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

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
        self._lock = threading.Lock()
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

    def __call__(self, image_bgr: np.ndarray) -> list[Detection]:
        with self._lock:
            return self._detector(image_bgr)

    def update(self, cfg: InferenceConfig) -> None:
        """Settings that need no reload: applied at once (and again to a model still loading)."""
        with self._lock:
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
        with self._lock:
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
