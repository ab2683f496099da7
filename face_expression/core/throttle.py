"""Log throttling per distinct problem (ROS-free, so any front end can use it)."""

from __future__ import annotations

import time


class KeyedThrottle:
    """Rate-limit log lines per distinct problem, so each new kind of error still shows."""

    def __init__(self, period_s: float, max_keys: int = 256) -> None:
        self.period_s = period_s
        self.max_keys = max_keys
        self._last: dict[str, float] = {}

    def ready(self, key: str) -> bool:
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self.period_s:
            return False
        if len(self._last) >= self.max_keys:
            self._last.clear()
        self._last[key] = now
        return True
