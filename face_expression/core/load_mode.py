"""Low latency or throughput: which runtime a model should use for the frames arriving now.

A frame alone is answered soonest with every thread on it (one stream); frames that arrive faster
than that can answer them are answered most with several streams side by side, each on fewer
threads, which makes every frame slower. Holding a runtime of each kind costs memory (OpenVINO at
480x640: 35-50 MB), so the engine keeps one and this decides, from the calls themselves, when the
other one would serve better. Pure logic: times come in, a decision comes out.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


@dataclass
class LoadMode:
    """Follows the load of the low-latency runtime and says when streams would serve better.

    The load is the low-latency runtime's time for a frame alone times the rate of calls: 1.0
    means frames arrive as fast as it answers them. Averages are exponential over about the last
    ``1 / weight`` calls. A pause longer than ``pause_s`` between two calls (a camera stopped, a
    node deactivated) says nothing about the load and is left out. Streams take over when the load
    reaches ``to_streams`` and calls really overlap (a single caller gains nothing from them);
    the low-latency runtime comes back when the load falls to ``to_latency``. On streams a frame
    takes longer, so calls keep overlapping even at a load the low-latency runtime would meet:
    the load, not the overlap, decides the way back. ``dwell_s`` is the least time between two
    changes (each builds a runtime). The way back is taken once it has been wanted for ``hold_s``
    without a break: the averages follow the last few calls, and one late frame or pause of the
    process dips the load for a few. Beside a 30 Hz camera at 480x640 in f32 the load sat at
    0.9-1.4 on streams and such dips below 0.8 switched to the low-latency model and back (each
    switch compiles a model and briefly holds both). The way to streams needs no hold: the
    overlap already has to be sustained, and a hold there kept the low-latency model under 2x
    overload (its two callers take turns, and a call that starts alone now and then broke it).
    """

    to_streams: float = 0.9
    to_latency: float = 0.8
    overlap_needed: float = 0.5
    dwell_s: float = 5.0
    hold_s: float = 1.0
    weight: float = 0.2
    pause_s: float = 1.0
    #: measured: the low-latency runtime's time for a call that started alone, the time between
    #: two calls' starts, the share of calls that started while another ran
    alone_s: float | None = field(default=None, init=False)
    interval_s: float | None = field(default=None, init=False)
    overlap: float = field(default=0.0, init=False)
    _last_start: float | None = field(default=None, init=False, repr=False)
    _last_change: float = field(default=float("-inf"), init=False, repr=False)
    _wanted_since: float | None = field(default=None, init=False, repr=False)  # the way back

    def _average(self, old: float | None, new: float) -> float:
        return new if old is None else old + self.weight * (new - old)

    def started(self, now: float, overlapping: bool) -> None:
        """A call started at ``now`` (monotonic seconds), alone or while another ran."""
        if self._last_start is not None and now - self._last_start <= self.pause_s:
            # the intervals are averaged, not their reciprocals: two workers often start within a
            # millisecond of each other, and 1 / 0.001 s averaged in read as 1000 calls a second
            self.interval_s = self._average(self.interval_s, now - self._last_start)
        self._last_start = now
        self.overlap = self._average(self.overlap, float(overlapping))

    def ended(self, seconds: float, started_alone: bool, on_streams: bool) -> None:
        """A call took ``seconds``; only calls alone on the low-latency runtime measure it."""
        if started_alone and not on_streams:
            self.alone_s = self._average(self.alone_s, seconds)

    @property
    def rate_hz(self) -> float | None:
        """Calls per second (None until two calls were seen)."""
        return None if self.interval_s is None else 1.0 / max(self.interval_s, 1e-4)

    @property
    def load(self) -> float | None:
        """The low-latency runtime's busy share at the rate of calls (None until measured)."""
        if self.alone_s is None or self.rate_hz is None:
            return None
        return self.alone_s * self.rate_hz

    def wants_streams(self, on_streams: bool, now: float) -> bool:
        """Whether the runtime with streams should answer the next calls (asked as each call starts)."""
        load = self.load
        if load is None or now - self._last_change < self.dwell_s:
            self._wanted_since = None
            return on_streams
        if not on_streams:
            return load >= self.to_streams and self.overlap >= self.overlap_needed
        if load > self.to_latency:
            self._wanted_since = None
            return True
        if self._wanted_since is None:
            self._wanted_since = now
        return now - self._wanted_since < self.hold_s

    def fresh(self) -> LoadMode:
        """The same settings, nothing measured (for a runtime rebuilt with other threads)."""
        return dataclasses.replace(self)

    def changed(self, now: float) -> None:
        """The runtime changed at ``now``: the next change waits ``dwell_s``."""
        self._last_change = now
        self._wanted_since = None
