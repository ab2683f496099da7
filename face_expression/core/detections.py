"""Detections as the core hands them out: corner boxes in the pixels of the image the camera sent.

Consumers (vision_msgs, RViz overlays, REP-155 ROIs) want boxes in pixels of the image the
camera published, so every box leaves the core in those coordinates, clipped to the image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Detection:
    """One face: box corners in input-image pixels, class and confidence.

    ``track_id`` is the face's tracking id (core/tracking.py), "" when untracked.
    """

    x1: float
    y1: float
    x2: float
    y2: float
    class_id: int
    class_name: str
    score: float
    track_id: str = ""

    @property
    def center(self) -> tuple[float, float]:
        return (self.x1 + self.x2) / 2.0, (self.y1 + self.y2) / 2.0

    @property
    def size(self) -> tuple[float, float]:
        return self.x2 - self.x1, self.y2 - self.y1


def to_detections(
    xyxy: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, names: dict[int, str]
) -> list[Detection]:
    """Build Detection objects, dropping boxes that clipping reduced to nothing."""
    out = []
    for (x1, y1, x2, y2), score, cls in zip(xyxy.tolist(), scores.tolist(), class_ids.tolist()):
        if x2 - x1 <= 0 or y2 - y1 <= 0:
            continue
        cid = int(cls)
        out.append(Detection(x1, y1, x2, y2, cid, names.get(cid, str(cid)), float(score)))
    return out
