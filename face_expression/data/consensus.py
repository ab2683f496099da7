"""One label proposal from several teachers' P(smile), with a confidence, or "unsure" for review.

The rule (measured in benchmarks/results/teachers.md, chosen on the starter train split only):

* every teacher that answered gives P(smile) in [0, 1]; the proposal's P(smile) is their weighted
  mean, each teacher weighted by the log-odds of its agreement with labels by eye,
  ``w = ln(a / (1 - a))`` (a teacher right 88% of the time counts about 1.5x one right 79%, and
  one at chance counts nothing);
* the lean is ``smile`` when that mean is at least 0.5, else ``neutral``;
* the confidence is ``|2 * mean - 1|``: 0 when the teachers cancel out or all sit at 0.5, 1 when
  all are certain and agree. Teachers that disagree pull the mean towards 0.5, so disagreement
  shows as low confidence;
* below ``min_confidence`` (or, with ``unanimous``, when any teacher votes the other way) the
  proposal is ``unsure``: the face is set aside for review by eye. No teacher answering is unsure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

UNSURE = "unsure"
NEUTRAL, SMILE = "neutral", "smile"

#: ln(a / (1 - a)) of each teacher's agreement a on the neutral/smile faces of the starter train split
#: (benchmarks/teachers.py prints these; keep them in step with benchmarks/results/teachers.md).
DEFAULT_WEIGHTS: dict[str, float] = {"haar": 1.32, "fer": 1.98, "facial-emotion": 1.95, "yolo-emotion": 1.32}
#: The smallest confidence at which the combination of all four teachers agreed with labels by eye on
#: at least 95% of the train faces it kept (benchmarks/results/teachers.md).
DEFAULT_MIN_CONFIDENCE = 0.4


@dataclass(frozen=True)
class Proposal:
    """The combined answer for one face."""

    label: str  #: "neutral", "smile" or "unsure"
    p_smile: float | None  #: weighted mean P(smile); None when no teacher answered
    confidence: float  #: |2 p_smile - 1|, 0 when no teacher answered
    agree: int  #: teachers whose own vote (P >= 0.5) is the lean
    voters: int  #: teachers that answered (with a positive weight)

    @property
    def lean(self) -> str | None:
        """neutral or smile by the mean alone (also for an unsure proposal), None without votes."""
        if self.p_smile is None:
            return None
        return SMILE if self.p_smile >= 0.5 else NEUTRAL


def weight_from_agreement(agreement: float) -> float:
    """Log-odds weight of a teacher that agrees with labels by eye on a fraction ``agreement`` of faces.

    At or below chance (0.5) a teacher gets no weight; the fraction is clipped to 0.99 so a teacher
    that was never wrong on a small set does not silence the others.
    """
    a = min(max(agreement, 0.5), 0.99)
    return math.log(a / (1.0 - a))


def combine(
    votes: Mapping[str, float | None],
    weights: Mapping[str, float] | None = None,
    min_confidence: float = DEFAULT_MIN_CONFIDENCE,
    unanimous: bool = False,
) -> Proposal:
    """The proposal for one face from ``{teacher: P(smile) or None}``.

    Teachers missing from ``weights`` count 1.0; a weight of 0 leaves a teacher out.
    """
    weights = DEFAULT_WEIGHTS if weights is None else weights
    answered = {
        name: min(max(float(p), 0.0), 1.0)
        for name, p in votes.items()
        if p is not None and not math.isnan(p) and weights.get(name, 1.0) > 0
    }
    if not answered:
        return Proposal(UNSURE, None, 0.0, 0, 0)
    total = sum(weights.get(n, 1.0) for n in answered)
    mean = sum(weights.get(n, 1.0) * p for n, p in answered.items()) / total
    lean = SMILE if mean >= 0.5 else NEUTRAL
    agree = sum((p >= 0.5) == (lean == SMILE) for p in answered.values())
    confidence = abs(2.0 * mean - 1.0)
    sure = confidence >= min_confidence and (not unanimous or agree == len(answered))
    return Proposal(lean if sure else UNSURE, mean, confidence, agree, len(answered))
