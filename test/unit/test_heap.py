"""core/heap.py: freed frame-sized buffers leave the process once the threshold is held.

Each case runs in a fresh interpreter: the threshold is process-wide, and this process's tests
include PyTorch ones that must keep glibc's own.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

# 40 blocks of 1 MiB, all freed but the last (so the heap cannot shrink from its top); RSS growth in MiB
PROBE = """
import sys
import numpy as np, psutil
from face_expression.core import heap
held = heap.return_large_frees(sys.argv[1] == "1")
big = np.ones(8 << 20, np.uint8); del big  # a large block freed: glibc raises its threshold past 1 MiB
rss = lambda: psutil.Process().memory_info().rss / 2**20
before = rss()
blocks = [np.ones(1 << 20, np.uint8) for _ in range(40)]
del blocks[:-1]
print(held, rss() - before)
"""


def _growth(enabled: bool) -> tuple[bool, float]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, "1" if enabled else "0"], capture_output=True, text=True, check=True
    ).stdout.split()
    return out[0] == "True", float(out[1])


def test_held_threshold_returns_freed_blocks_to_the_os() -> None:
    held, kept = _growth(True)
    if not held:
        pytest.skip("this C library has no mallopt (not glibc)")
    assert kept < 8, f"{kept:.0f} MiB of freed 1 MiB blocks stayed in the process"
    _, kept_by_default = _growth(False)
    assert kept_by_default > 30, "glibc's own threshold should keep them (else this test checks nothing)"
