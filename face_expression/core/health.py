"""How the detector is doing, as numbers and a verdict: the content of /diagnostics, without ROS.

The node feeds events (a frame arrived, was processed, was dropped, inference failed) and asks
for a :class:`HealthReport` about once a second. Rates and latency percentiles cover a sliding
window, so a camera that stops or a CPU that falls behind shows within seconds, and recovers as
soon as things are well again.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

OK, WARN, ERROR = 0, 1, 2


@dataclass(frozen=True)
class HealthLimits:
    """When to warn or raise an error (defaults follow diagnostic_updater's conventions)."""

    window_s: float = 5.0  # rates and latencies over the last window_s seconds
    min_input_rate: float = 1.0  # Hz; below it the camera is too slow or gone (WARN)
    max_input_rate: float = 1000.0  # Hz; above it something floods the topic (WARN)
    stale_after_s: float = 3.0  # no frame for this long: WARN
    max_latency_s: float = 1.0  # p50 from header stamp to publish above this: falling behind (WARN)
    future_stamp_s: float = 1.0  # stamps this far ahead of our clock: ERROR (clock skew or bad driver)
    failures_for_error: int = 3  # inference failed this many times in the window with no success: ERROR


@dataclass
class HealthReport:
    level: int
    message: str
    values: dict[str, str] = field(default_factory=dict)


class BusyTime:
    """Seconds during which at least one frame was in hand (several may be at once).

    ``with busy:`` around each frame's work; :attr:`total_s` counts overlapping frames once, so
    1 - busy / elapsed stays the time the node sat idle waiting for frames.
    """

    def __init__(self, clock=time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._in_hand = 0
        self._since = 0.0
        self._total = 0.0

    def __enter__(self) -> BusyTime:
        with self._lock:
            if self._in_hand == 0:
                self._since = self._clock()
            self._in_hand += 1
        return self

    def __exit__(self, *_exc: object) -> None:
        with self._lock:
            self._in_hand -= 1
            if self._in_hand == 0:
                self._total += self._clock() - self._since

    @property
    def total_s(self) -> float:
        with self._lock:
            return self._total + (self._clock() - self._since if self._in_hand else 0.0)


class HealthMonitor:
    """Thread-safe event counters and windows; :meth:`report` turns them into a verdict."""

    def __init__(self, limits: HealthLimits | None = None, clock=time.monotonic) -> None:
        self.limits = limits or HealthLimits()
        self._clock = clock
        self._lock = threading.Lock()
        self._arrived: deque[float] = deque()
        self._processed: deque[tuple[float, float | None]] = deque()  # (when, latency s or None)
        self._failures: deque[float] = deque()
        self._last_arrival: float | None = None
        self._started = clock()
        self.totals = {"received": 0, "processed": 0, "stale_skipped": 0, "bad_dropped": 0, "failed": 0}
        self.last_drop_reason = ""
        self.future_stamps = 0
        self.zero_stamps = 0

    # -- events ----------------------------------------------------------------------------
    def frame_arrived(self, skipped_before: int = 0) -> None:
        """A frame was taken; ``skipped_before`` newer-frame replacements happened since the last."""
        now = self._clock()
        with self._lock:
            self._arrived.append(now)
            self._last_arrival = now
            self.totals["received"] += 1
            self.totals["stale_skipped"] += skipped_before

    def frame_processed(self, latency_s: float | None) -> None:
        """Published; latency from header stamp to publish (None when the stamp is zero)."""
        now = self._clock()
        with self._lock:
            self._processed.append((now, latency_s))
            self.totals["processed"] += 1
            if latency_s is None:
                self.zero_stamps += 1
            elif latency_s < -self.limits.future_stamp_s:
                self.future_stamps += 1

    def frame_superseded(self) -> None:
        """A frame's result was not published: a newer frame's, inferred at the same time, went first."""
        with self._lock:
            self.totals["stale_skipped"] += 1

    def frame_dropped(self, reason: str) -> None:
        with self._lock:
            self.totals["bad_dropped"] += 1
            self.last_drop_reason = reason

    def inference_failed(self, reason: str) -> None:
        with self._lock:
            self._failures.append(self._clock())
            self.totals["failed"] += 1
            self.last_drop_reason = reason

    # -- verdict ---------------------------------------------------------------------------
    def _trim(self, now: float) -> None:
        cutoff = now - self.limits.window_s
        while self._arrived and self._arrived[0] < cutoff:
            self._arrived.popleft()
        while self._processed and self._processed[0][0] < cutoff:
            self._processed.popleft()
        while self._failures and self._failures[0] < cutoff:
            self._failures.popleft()

    def report(self) -> HealthReport:
        now = self._clock()
        lim = self.limits
        with self._lock:
            self._trim(now)
            span = min(lim.window_s, max(now - self._started, 1e-3))
            window = _Window(
                input_rate=len(self._arrived) / span,
                processed_rate=len(self._processed) / span,
                processed=len(self._processed),
                latencies=[lat for _, lat in self._processed if lat is not None],
                future=sum(1 for _, lat in self._processed if lat is not None and lat < -lim.future_stamp_s),
                failures=len(self._failures),
                since_last=None if self._last_arrival is None else now - self._last_arrival,
            )
            values = {
                "input rate (Hz)": f"{window.input_rate:.1f}",
                "processed rate (Hz)": f"{window.processed_rate:.1f}",
                "expected input rate (Hz)": f"{lim.min_input_rate:g} .. {lim.max_input_rate:g}",
                "latency p50 (ms)": _ms(window.latencies, 50),
                "latency p95 (ms)": _ms(window.latencies, 95),
                "frames received": str(self.totals["received"]),
                "frames processed": str(self.totals["processed"]),
                "frames skipped as stale": str(self.totals["stale_skipped"]),
                "frames dropped as bad": str(self.totals["bad_dropped"]),
                "inference failures": str(self.totals["failed"]),
                "last drop reason": self.last_drop_reason or "-",
                "seconds since last frame": "-" if window.since_last is None else f"{window.since_last:.1f}",
            }
            level, message = self._verdict(window)
        return HealthReport(level, message, values)

    def _verdict(self, w: _Window) -> tuple[int, str]:
        """The first problem that applies, errors before warnings; else OK."""
        lim = self.limits
        p50 = float(np.percentile(w.latencies, 50)) if w.latencies else 0.0
        checks = [
            (
                w.failures >= lim.failures_for_error and w.processed == 0,
                ERROR,
                f"inference keeps failing ({w.failures} in {lim.window_s:g} s): {self.last_drop_reason}",
            ),
            (
                w.future > 0,
                ERROR,
                f"image stamps over {lim.future_stamp_s:g} s in the future: check the clocks",
            ),
            (w.since_last is None, WARN, "no frame received yet"),
            (
                w.since_last is not None and w.since_last > lim.stale_after_s,
                WARN,
                f"no frame for {w.since_last or 0:.1f} s",
            ),
            (
                w.input_rate < lim.min_input_rate,
                WARN,
                f"input rate {w.input_rate:.1f} Hz is below {lim.min_input_rate:g} Hz",
            ),
            (
                w.input_rate > lim.max_input_rate,
                WARN,
                f"input rate {w.input_rate:.1f} Hz is above {lim.max_input_rate:g} Hz",
            ),
            (p50 > lim.max_latency_s, WARN, f"falling behind: median latency {p50:.2f} s"),
        ]
        return next(((level, msg) for bad, level, msg in checks if bad), (OK, "ok"))


@dataclass
class _Window:
    input_rate: float
    processed_rate: float
    processed: int
    latencies: list[float]
    future: int
    failures: int
    since_last: float | None


def _ms(values: list[float], q: float) -> str:
    return f"{1000.0 * float(np.percentile(values, q)):.1f}" if values else "-"
