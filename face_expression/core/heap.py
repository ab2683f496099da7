"""Large freed buffers go back to the OS, so a node's RSS follows the frames in flight, not its peak.

glibc serves blocks from 128 KiB up with mappings of their own, unmapped when freed, but raises
that threshold to the size of every such block freed (up to 32 MiB). After the first frame, each
0.9 MB camera frame and 3.7 MB input tensor then comes from the heap of whichever thread asked,
and the pages of freed ones stay with the process. Measured with the ONNX model at 480x640 under
2x overload (benchmarks/speed.py): RSS 260 MB, 234 MB with the threshold held at 128 KiB.
PyTorch allocates and frees its tensors at every layer; it keeps glibc's heap (up to 32 MiB).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
RETURNED_FROM = 128 * 1024  # glibc's initial threshold, held
KEPT_UP_TO = 32 * 1024 * 1024  # glibc's ceiling for the threshold it raises itself (64-bit)

_lock = threading.Lock()
_returning = False  # whether this process holds the threshold at RETURNED_FROM


def return_large_frees(enabled: bool) -> bool:
    """Hold glibc's threshold for own mappings at 128 KiB (True) or at 32 MiB (False).

    ``False`` undoes an earlier ``True`` (a model swap from an export to a ``.pt``) by holding it
    at 32 MiB, where glibc's own raising ends; without one it changes nothing, and glibc keeps
    adjusting the threshold itself. Returns whether the threshold is held at 128 KiB now; always
    False where the C library has no ``mallopt`` (not glibc).
    """
    global _returning
    with _lock:
        if enabled == _returning:
            return _returning
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            mallopt = libc.mallopt
        except (OSError, AttributeError):
            return _returning
        if mallopt(M_MMAP_THRESHOLD, RETURNED_FROM if enabled else KEPT_UP_TO) == 1:
            _returning = enabled
        return _returning
