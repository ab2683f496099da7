"""Detections from the raw output of an exported Ultralytics detect head, in numpy.

An ONNX or OpenVINO export of an Ultralytics YOLO detect model (YOLOv5/v8/11 heads alike) ends
in one array of shape (1, 4 + nc, N): per anchor point a box centre, width and height in input
pixels, then one sigmoid score per class. Decoding that and suppressing overlaps here, instead of
with Ultralytics' torch NMS, lets the node run exported models without torch (engine/lean_runtime.py);
the rules are Ultralytics' own (best class per box, score > conf, class-offset boxes for per-class
NMS, greedy NMS dropping IoU > iou, at most max_det boxes), so the results match (test/engine).
"""

from __future__ import annotations

import numpy as np

#: Per-class coordinate offset for class-aware NMS, as Ultralytics uses (boxes of different
#: classes then never overlap).
MAX_WH = 7680
#: Most candidates that enter NMS (highest scores first), as in Ultralytics.
MAX_NMS = 30000


def head_classes(shape: tuple[int, ...] | list[int]) -> int | None:
    """Number of classes a (1, 4 + nc, N) detect head output has, or None for any other shape."""
    dims = [int(d) if isinstance(d, int) or str(d).isdigit() else -1 for d in shape]
    if len(dims) != 3 or dims[0] not in (1, -1) or dims[1] < 5:
        return None
    return dims[1] - 4


def xywh_to_xyxy(xywh: np.ndarray) -> np.ndarray:
    """Centre/size boxes (Nx4) to corner boxes."""
    out = np.empty_like(xywh)
    half = xywh[:, 2:4] / 2
    out[:, 0:2] = xywh[:, 0:2] - half
    out[:, 2:4] = xywh[:, 0:2] + half
    return out


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy NMS (torchvision's rule: drop a box whose IoU with a kept one is > threshold).

    Returns indices of the kept boxes, highest score first.
    """
    order = np.argsort(-scores, kind="stable")
    x1, y1, x2, y2 = (boxes[:, i] for i in range(4))
    areas = (x2 - x1) * (y2 - y1)
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0, None)
        h = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0, None)
        inter = w * h
        union = areas[i] + areas[rest] - inter
        overlap = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        order = rest[overlap <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def decode_detect_head(
    output: np.ndarray,
    conf: float,
    iou: float,
    agnostic: bool = True,
    max_det: int = 300,
    end2end: bool = False,
) -> np.ndarray:
    """One image's detections as an Nx6 float32 array (x1, y1, x2, y2, score, class) in input pixels.

    ``output`` is the head's (1, 4 + nc, N) array; ``end2end`` heads (YOLOv10/26 style, (1, K, 6)
    rows already in corner form) are only filtered by score and ``max_det``, as Ultralytics does.
    """
    pred = np.asarray(output, dtype=np.float32)
    if end2end:
        rows = pred.reshape(-1, pred.shape[-1])
        return rows[rows[:, 4] > conf][:max_det, :6].copy()
    pred = pred.reshape(pred.shape[-2], pred.shape[-1])  # (4 + nc, N)
    nc = pred.shape[0] - 4
    class_scores = pred[4:]
    best = class_scores.argmax(0) if nc > 1 else np.zeros(pred.shape[1], dtype=np.int64)
    score = class_scores.max(0) if nc > 1 else class_scores[0]
    keep = score > conf
    if not keep.any():
        return np.zeros((0, 6), dtype=np.float32)
    boxes = xywh_to_xyxy(pred[:4, keep].T)
    score, cls = score[keep], best[keep].astype(np.float32)
    if score.size > MAX_NMS:
        top = np.argsort(-score, kind="stable")[:MAX_NMS]
        boxes, score, cls = boxes[top], score[top], cls[top]
    offset = 0.0 if agnostic else cls[:, None] * MAX_WH
    kept = nms(boxes + offset, score, iou)[:max_det]
    return np.concatenate([boxes[kept], score[kept, None], cls[kept, None]], axis=1).astype(np.float32)
