"""Box geometry: letterboxing between camera pixels and model input, clipping, IoU, matching.

Every box leaves the core in the pixels of the image the camera published (see detections.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from face_expression.core.detections import Detection

#: Grey used by Ultralytics for letterbox padding; matching it keeps trained statistics.
PAD_VALUE = 114
#: Frames with a side shorter than this hold no face the model can find (its finest grid is 8 px).
MIN_FRAME_SIDE = 8


def too_small(width: int, height: int) -> bool:
    """True for frames too small or too thin to infer (e.g. 4000x1): they get an empty result."""
    return min(width, height) < MIN_FRAME_SIDE


@dataclass(frozen=True)
class Letterbox:
    """Resize-and-pad geometry from a source image to the model's input, and back.

    Matches Ultralytics' LetterBox (centred padding, aspect kept, no upscaling disabled) so
    that a model trained with Ultralytics sees the same pixels here.
    """

    src_w: int
    src_h: int
    dst_w: int
    dst_h: int
    gain: float
    new_w: int
    new_h: int
    left: int
    top: int

    @classmethod
    def fit(cls, src_w: int, src_h: int, dst_w: int, dst_h: int) -> Letterbox:
        gain = min(dst_w / src_w, dst_h / src_h)
        # at least one pixel: a very thin frame (4000x10) would otherwise scale to zero rows
        new_w, new_h = max(1, round(src_w * gain)), max(1, round(src_h * gain))
        dw, dh = (dst_w - new_w) / 2, (dst_h - new_h) / 2
        left, top = round(dw - 0.1), round(dh - 0.1)
        return cls(src_w, src_h, dst_w, dst_h, gain, new_w, new_h, left, top)

    @classmethod
    def for_imgsz(cls, src_w: int, src_h: int, imgsz: int, stride: int = 32) -> Letterbox:
        """Smallest stride-aligned rectangle holding the image scaled to ``imgsz`` on its long side.

        A 640x480 camera at imgsz 640 gives a 640x480 input instead of 640x640: 25% less work.
        """
        gain = imgsz / max(src_w, src_h)
        dst_w = max(stride, math.ceil(src_w * gain / stride) * stride)
        dst_h = max(stride, math.ceil(src_h * gain / stride) * stride)
        return cls.fit(src_w, src_h, dst_w, dst_h)

    def apply(self, image: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Letterbox ``image`` (HxWxC) into ``out`` (reused when its shape fits)."""
        shape = (self.dst_h, self.dst_w, image.shape[2])
        if out is None or out.shape != shape:
            out = np.empty(shape, dtype=np.uint8)
        out[:] = PAD_VALUE
        region = out[self.top : self.top + self.new_h, self.left : self.left + self.new_w]
        if (self.new_w, self.new_h) == (self.src_w, self.src_h):
            region[:] = image
        else:
            cv2.resize(image, (self.new_w, self.new_h), dst=region, interpolation=cv2.INTER_LINEAR)
        return out

    def undo(self, xyxy: np.ndarray) -> np.ndarray:
        """Map Nx4 corner boxes from model input to source pixels, clipped to the source."""
        boxes = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4).copy()
        boxes[:, [0, 2]] = (boxes[:, [0, 2]] - self.left) / self.gain
        boxes[:, [1, 3]] = (boxes[:, [1, 3]] - self.top) / self.gain
        return clip_boxes(boxes, self.src_w, self.src_h)


def clip_boxes(xyxy: np.ndarray, width: int, height: int) -> np.ndarray:
    """Clip Nx4 corner boxes to an image of ``width`` x ``height`` pixels."""
    boxes = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4).copy()
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
    return boxes


def iou(
    a: Detection | tuple[float, float, float, float], b: Detection | tuple[float, float, float, float]
) -> float:
    """Intersection over union of two corner boxes."""
    ax1, ay1, ax2, ay2 = (a.x1, a.y1, a.x2, a.y2) if isinstance(a, Detection) else a
    bx1, by1, bx2, by2 = (b.x1, b.y1, b.x2, b.y2) if isinstance(b, Detection) else b
    iw = max(0.0, min(ax2, bx2) - max(ax1, bx1))
    ih = max(0.0, min(ay2, by2) - max(ay1, by1))
    inter = iw * ih
    union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
    return inter / union if union > 0 else 0.0


Box = tuple[float, float, float, float]


def match_boxes(
    truth: Sequence[Box],
    predicted: Sequence[Box],
    iou_threshold: float = 0.5,
    scores: Sequence[float] | None = None,
) -> list[tuple[int, int]]:
    """One-to-one pairs (truth index, prediction index) with IoU >= threshold.

    Highest IoU first, so each face keeps the box that covers it best; ties go to the more
    confident prediction, then to the lower indices, so the result never depends on list order
    of equal candidates. Every table that counts faces found (face-expression-eval, the accuracy
    benchmark) matches with this one function.
    """
    conf = list(scores) if scores is not None else [0.0] * len(predicted)
    candidates = []
    for t, tb in enumerate(truth):
        for p, pb in enumerate(predicted):
            value = iou(tuple(tb), tuple(pb))
            if value >= iou_threshold:
                candidates.append((-value, -conf[p], t, p))
    candidates.sort()
    used_t: set[int] = set()
    used_p: set[int] = set()
    pairs = []
    for _, _, t, p in candidates:
        if t not in used_t and p not in used_p:
            used_t.add(t)
            used_p.add(p)
            pairs.append((t, p))
    return pairs
