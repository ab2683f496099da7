"""A one-frame mailbox between a subscription callback and the inference worker.

The callback only stores the newest frame (as ros4hri's hri_face_detect does); a frame that
arrives while the worker is busy replaces the pending one and counts as dropped. Nothing
queues, so latency cannot grow when the camera is faster than the model.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class SlotStats:
    received: int = 0
    dropped: int = 0
    taken: int = 0


class FrameSlot(Generic[T]):
    """Holds at most one item; ``put`` never blocks, ``take`` waits for an item."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._closed = False
        self.stats = SlotStats()

    def put(self, item: T) -> bool:
        """Store ``item``; return True if it replaced an unprocessed one (a dropped frame)."""
        with self._cond:
            replaced = self._item is not None
            self._item = item
            self.stats.received += 1
            if replaced:
                self.stats.dropped += 1
            self._cond.notify()
            return replaced

    def take(self, timeout: float | None = None) -> T | None:
        """Return the newest item, waiting up to ``timeout`` s; None on timeout or close."""
        with self._cond:
            if self._item is None and not self._closed:
                self._cond.wait(timeout)
            item, self._item = self._item, None
            if item is not None:
                self.stats.taken += 1
            return item

    def close(self) -> None:
        """Wake any waiting ``take`` so a worker can exit."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
