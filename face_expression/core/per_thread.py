"""One object per calling thread: the buffers and runtime requests of frames detected at once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class PerThread(Generic[T]):
    """``get()`` returns the calling thread's own object, made by ``make`` on its first call.

    Entries of threads that have ended are dropped whenever a new thread asks, so workers started
    again (a lifecycle node activated anew) do not pile up buffers. ``per_thread=False`` gives every
    thread the same object: for a model whose callers take turns, one set is enough.
    """

    def __init__(self, make: Callable[[], T], per_thread: bool = True) -> None:
        self._make = make
        self._per_thread = per_thread
        self._items: dict[int, T] = {}
        self._lock = threading.Lock()

    def get(self) -> T:
        key = threading.get_ident() if self._per_thread else 0
        item = self._items.get(key)
        if item is None:
            with self._lock:
                alive = {t.ident for t in threading.enumerate()}
                items = {k: v for k, v in self._items.items() if k in alive or not self._per_thread}
                item = items[key] = self._make()
                self._items = items
        return item

    def __len__(self) -> int:
        """Objects held."""
        return len(self._items)

    def clear(self) -> None:
        """Forget every object (their memory goes once no caller holds them)."""
        with self._lock:
            self._items = {}
