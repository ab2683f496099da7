"""core/heap.py: freed frame-sized blocks leave the process when the heap is trimmed.

Measured in an interpreter of its own: the heap of the test process holds whatever other tests left.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import subprocess
import sys

import pytest

# 40 blocks of 1 MiB after a large block freed (glibc then serves them from its heap), all freed
# but the last (so the heap cannot shrink from its top); prints how much of them RSS still holds
PROBE = """
import sys
import numpy as np, psutil
from face_expression.core import heap
big = np.ones(8 << 20, np.uint8); del big
rss = lambda: psutil.Process().memory_info().rss / 2**20
before = rss()
blocks = [np.ones(1 << 20, np.uint8) for _ in range(40)]
del blocks[:-1]
trimmed = heap.trim() if sys.argv[1] == "trim" else None
print(trimmed, rss() - before)
"""


def _kept_mib(action: str) -> tuple[str, float]:
    out = subprocess.run([sys.executable, "-c", PROBE, action], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    trimmed, kept = out.stdout.split()
    return trimmed, float(kept)


def _has_malloc_trim() -> bool:
    try:
        return hasattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), "malloc_trim")
    except OSError:
        return False


@pytest.mark.skipif(not _has_malloc_trim(), reason="malloc_trim is glibc's")
def test_trim_returns_freed_blocks_to_the_os() -> None:
    trimmed, kept = _kept_mib("trim")
    assert trimmed == "True"
    assert kept < 8, f"{kept:.0f} MiB of freed 1 MiB blocks stayed in the process"
    _, kept_untrimmed = _kept_mib("none")
    assert kept_untrimmed > 30, "glibc keeps them without a trim (else this test checks nothing)"
