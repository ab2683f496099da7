"""Frames of one input shape run together; a frame of another shape waits until they are done."""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterator
from contextlib import contextmanager


class ShapeGate:
    """Admits concurrent calls while they share an input shape.

    Ultralytics' Detect head keeps the anchors of the last input shape in the module itself and
    rebuilds them when a new shape arrives: two frames of different shapes in one PyTorch model
    at once could decode one with the other's anchors. Frames of the camera's one size never wait.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._shape: Hashable = None
        self._running = 0

    @contextmanager
    def enter(self, shape: Hashable) -> Iterator[None]:
        with self._cond:
            while self._running and shape != self._shape:
                self._cond.wait()
            self._shape = shape
            self._running += 1
        try:
            yield
        finally:
            with self._cond:
                self._running -= 1
                self._cond.notify_all()
