"""Freed memory goes back to the OS, so a node's RSS follows the frames in flight, not its peak.

glibc serves large blocks with mappings of their own at first, but raises that threshold to the
size of every such block freed (up to 32 MiB). After the first frames, each 0.9 MB camera frame
and 3.7 MB input tensor comes from the heap of whichever thread asked, and the pages of freed
ones stay with the process. Holding the threshold at 128 KiB gave them back (ONNX at 480x640
under 2x overload: RSS 260 -> 234-244 MB) but paid a mapping and its page faults for every frame:
OpenVINO's node/raw fell from 0.93-1.11 to 0.72-0.92, latency at 15 Hz rose 2-8 ms. Trimming the
heap once a second (:func:`trim`) returns the same pages at a fraction of that.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from functools import cache


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, or None where the C library has none (musl, macOS).

    Looked up among the symbols the process already has: no ldconfig run from a timer.
    """
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None


def trim() -> bool:
    """Return the free pages of every malloc arena to the OS; False where that is not possible.

    Costs about a millisecond with a few hundred MB of heap, off the GIL (a ctypes call).
    """
    malloc_trim = _malloc_trim()
    if malloc_trim is None:
        return False
    malloc_trim(0)
    return True
