"""Polling for a condition that becomes true in the background (a model compiled, a node ready)."""

from __future__ import annotations

import time
from collections.abc import Callable


def poll_until(predicate: Callable[[], bool], timeout: float, period: float = 0.02) -> bool:
    """Ask ``predicate`` every ``period`` s until it is true (True) or ``timeout`` s pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(period)
    return False
