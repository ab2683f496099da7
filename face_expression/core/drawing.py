"""Draw detections on a frame: boxes, class names and confidence.

Uses OpenCV's built-in Hershey font so nothing is ever downloaded (Ultralytics' annotator
fetches Arial.ttf on first use).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from face_expression.core.detections import Detection

# BGR colours per class id, readable on skin and background; cycles for larger class maps.
_PALETTE: tuple[tuple[int, int, int], ...] = (
    (255, 160, 0),  # 0 (neutral): blue
    (0, 200, 0),  # 1 (smile): green
    (0, 140, 255),
    (200, 0, 200),
    (0, 220, 220),
    (60, 60, 230),
    (160, 160, 160),
    (255, 0, 120),
)


def colour(class_id: int) -> tuple[int, int, int]:
    return _PALETTE[class_id % len(_PALETTE)]


def annotate(image_bgr: np.ndarray, detections: Sequence[Detection]) -> np.ndarray:
    """A copy of the image with one labelled box per detection ("a3 smile 0.87", the id when tracked)."""
    out = image_bgr.copy()
    h, w = out.shape[:2]
    scale = max(0.35, min(w, h) / 900.0)
    thickness = max(1, round(min(w, h) / 300))
    for det in detections:
        c = colour(det.class_id)
        p1 = (round(det.x1), round(det.y1))
        p2 = (round(det.x2) - 1, round(det.y2) - 1)
        cv2.rectangle(out, p1, p2, c, thickness)
        label = f"{det.track_id + ' ' if det.track_id else ''}{det.class_name} {det.score:.2f}"
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        ty = p1[1] - 2 if p1[1] - th - base - 2 >= 0 else min(h - 1, p1[1] + th + base + 2)
        cv2.rectangle(out, (p1[0], ty - th - base), (p1[0] + tw + 2, ty + 1), c, -1)
        cv2.putText(
            out,
            label,
            (p1[0] + 1, ty - base + 1),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            (255, 255, 255),
            1,
            cv2.LINE_AA,
        )
    return out
