"""Steady expressions: a per-face, time-based average of the class evidence, with hysteresis.

A single frame's class flickers (a face half-turned, motion blur, a mouth mid-word); a robot
should react to the expression a person shows, not to one frame. Each face keeps two exponential
moving averages with a time constant in seconds taken from the frame stamps, so they mean the
same at 5 and 30 FPS and across dropped frames: of its per-frame votes (1 for the class it got, 0
for the others) and of its confidence per class (the published score). The published class
changes only when another class holds more than ``SWITCH_SHARE`` of the averaged votes, which a
steady change reaches within the time constant (after tau * ln(1 / (1 - SWITCH_SHARE)) = 0.92 tau)
while frame-by-frame flicker faster than the time constant never does. Votes, not confidences,
decide: with a second stage the confidence is the face's, not the expression's, and one face
scored 0.9 on its smiling frames and 0.6 on its neutral ones would otherwise win a flicker.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: Share of the averaged evidence another class needs before the published class switches.
SWITCH_SHARE = 0.6


@dataclass(frozen=True)
class Expression:
    """A published expression: class and its averaged confidence (0..1)."""

    class_id: int
    class_name: str
    score: float


class ExpressionFilter:
    """The smoothed expression of one tracked face; feed it every detection of that face."""

    def __init__(self, time_constant_s: float) -> None:
        if time_constant_s < 0:
            raise ValueError(f"time constant must be >= 0 s, got {time_constant_s}")
        self.time_constant_s = time_constant_s
        self._evidence: dict[int, float] = {}
        self._votes: dict[int, float] = {}
        self._names: dict[int, str] = {}
        self._current: int | None = None
        self._t: float | None = None

    def update(self, class_id: int, class_name: str, score: float, t: float) -> Expression:
        """Add one frame's detection (at ``t`` seconds) and return the expression to publish."""
        self._names[class_id] = class_name
        dt = 0.0 if self._t is None else max(0.0, t - self._t)
        if self._t is not None and dt == 0.0 and self._current is not None:
            # the same frame again (a re-sent stamp): nothing new to average
            return self._published()
        self._t = t
        if self._current is None or self.time_constant_s == 0.0:
            self._evidence = {class_id: score}
            self._votes = {class_id: 1.0}
            self._current = class_id
            return self._published()
        keep = math.exp(-dt / self.time_constant_s)
        for average, value in ((self._evidence, score), (self._votes, 1.0)):
            for k in average:
                average[k] *= keep
            average[class_id] = average.get(class_id, 0.0) + (1.0 - keep) * value
        best = max(self._votes, key=self._votes.__getitem__)
        if best != self._current and self._votes[best] > SWITCH_SHARE * sum(self._votes.values()):
            self._current = best
        return self._published()

    def _published(self) -> Expression:
        assert self._current is not None
        cid = self._current
        return Expression(cid, self._names[cid], min(1.0, max(0.0, self._evidence.get(cid, 0.0))))
