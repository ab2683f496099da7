"""Multi-face test sequences composed from the real photos: faces moving over a real background.

Each frame knows where every face was pasted (ground-truth boxes and identities), so tests and
benchmarks/tracking.py can count id switches and expression flips. The face crops come from
face_photos.py (real faces, boxes checked by eye); the background is scikit-image's rocket photo,
in which the bundled model finds no face even at confidence 0.1 (its coffee photo has a cup the
model takes for a smiling face).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np
import skimage
from face_photos import FACE_PHOTOS

from face_expression.core.detections import Detection
from face_expression.core.geometry import match_boxes
from face_expression.core.resources import sample_stream_path

WIDTH, HEIGHT = 640, 480
#: margin around the face box kept in a crop, as a fraction of the box (hair, chin, background)
MARGIN = 0.3


@dataclass(frozen=True)
class Face:
    """A face sprite: the crop and where the face box lies in it (crop pixels)."""

    crop: np.ndarray
    box: tuple[float, float, float, float]
    label: str


@dataclass(frozen=True)
class GtFace:
    identity: str  # who this is; a new identity whenever the ground truth expects a new id
    box: tuple[float, float, float, float]  # face box in frame pixels
    label: str


@dataclass(frozen=True)
class Frame:
    image: np.ndarray
    t: float
    faces: tuple[GtFace, ...]


def match_identities(frame: Frame, dets: list[Detection], iou_threshold: float = 0.3) -> dict[str, Detection]:
    """Ground-truth identity -> its detection: the project's one-to-one matcher, IoU >= 0.3."""
    boxes = [(d.x1, d.y1, d.x2, d.y2) for d in dets]
    pairs = match_boxes([g.box for g in frame.faces], boxes, iou_threshold, [d.score for d in dets])
    return {frame.faces[t].identity: dets[p] for t, p in pairs}


@cache
def face(name: str, index: int = 0, flip: bool = False) -> Face:
    """The ``index``-th face of a photo in face_photos.py, with a margin, optionally mirrored."""
    photo = FACE_PHOTOS[name]
    image = cv2.imread(str(photo.path))
    (x1, y1, x2, y2), label = photo.faces[index]
    mx, my = (x2 - x1) * MARGIN, (y2 - y1) * MARGIN
    cx1, cy1 = max(0, int(x1 - mx)), max(0, int(y1 - my))
    cx2, cy2 = min(image.shape[1], int(x2 + mx)), min(image.shape[0], int(y2 + my))
    crop = image[cy1:cy2, cx1:cx2].copy()
    box = (x1 - cx1, y1 - cy1, x2 - cx1, y2 - cy1)
    if flip:
        crop = crop[:, ::-1].copy()
        box = (crop.shape[1] - box[2], box[1], crop.shape[1] - box[0], box[3])
    return Face(crop, box, label)


@cache
def background() -> np.ndarray:
    image = cv2.imread(str(Path(skimage.data_dir) / "rocket.jpg"))
    return cv2.resize(image, (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA)


def paste(canvas: np.ndarray, sprite: Face, cx: float, cy: float, face_width: float) -> tuple:
    """Draw ``sprite`` scaled so its face box is ``face_width`` wide and centred at (cx, cy).

    Returns the face box in frame pixels, clipped to the frame, or None when it is off the frame.
    """
    bx1, by1, bx2, by2 = sprite.box
    scale = face_width / (bx2 - bx1)
    crop = cv2.resize(sprite.crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    ox = round(cx - (bx1 + bx2) / 2 * scale)
    oy = round(cy - (by1 + by2) / 2 * scale)
    h, w = crop.shape[:2]
    x0, y0, x1, y1 = max(0, ox), max(0, oy), min(WIDTH, ox + w), min(HEIGHT, oy + h)
    if x1 > x0 and y1 > y0:
        canvas[y0:y1, x0:x1] = crop[y0 - oy : y1 - oy, x0 - ox : x1 - ox]
    fx1, fy1 = ox + bx1 * scale, oy + by1 * scale
    fx2, fy2 = ox + bx2 * scale, oy + by2 * scale
    box = (max(0.0, fx1), max(0.0, fy1), min(WIDTH, fx2), min(HEIGHT, fy2))
    # a face mostly outside the frame is not "in view"
    if (box[2] - box[0]) * (box[3] - box[1]) < 0.6 * (fx2 - fx1) * (fy2 - fy1):
        return None
    return box


#: A placement: (identity, sprite, cx, cy, face width), drawn in order (later ones in front).
Placement = tuple[str, Face, float, float, float]


def render(t: float, placements: list[Placement]) -> Frame:
    canvas = background().copy()
    faces = []
    for identity, sprite, cx, cy, width in placements:
        box = paste(canvas, sprite, cx, cy, width)
        if box is not None:
            faces.append(GtFace(identity, box, sprite.label))
    # a face mostly hidden behind a later one is not "in view" either
    visible = []
    for i, f in enumerate(faces):
        area = (f.box[2] - f.box[0]) * (f.box[3] - f.box[1])
        hidden = max(
            (_overlap(f.box, g.box) for g in faces[i + 1 :]),
            default=0.0,
        )
        if hidden < 0.5 * area:
            visible.append(f)
    return Frame(canvas, t, tuple(visible))


def _overlap(a: tuple, b: tuple) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return w * h


def sequence(duration: float, fps: float, placements_at: Callable[[float], list[Placement]]) -> list[Frame]:
    return [render(i / fps, placements_at(i / fps)) for i in range(round(duration * fps))]


def _lerp(a: float, b: float, u: float) -> float:
    return a + (b - a) * min(1.0, max(0.0, u))


# -- the scenarios the tests and the benchmark share ----------------------------------------------
def crossing(fps: float = 30.0) -> list[Frame]:
    """Two faces walk past each other (the smiling one passes in front), 3 s."""
    smile, neutral = face("astronaut"), face("grace_hopper")

    def at(t: float) -> list[Placement]:
        u = t / 3.0
        return [
            ("neutral", neutral, _lerp(520, 120, u), 230, 120),
            ("smile", smile, _lerp(110, 530, u), 260, 110),
        ]

    return sequence(3.0, fps, at)


def leave_return_enter(keep_s: float = 1.0, fps: float = 30.0) -> list[Frame]:
    """A stays; B leaves for longer than ``keep_s`` and comes back (a new identity); C enters."""
    a, b, c = face("grace_hopper"), face("astronaut"), face("zidane", 0)
    back = 1.0 + keep_s + 0.7  # B is away 0.7 s longer than the keep time

    def at(t: float) -> list[Placement]:
        out: list[Placement] = [("A", a, _lerp(150, 190, t / 5), 150, 120)]
        if t < 1.0:
            out.append(("B1", b, 460, 320, 110))
        elif t >= back:
            out.append(("B2", b, 460, 320, 110))
        if t >= 1.5:
            out.append(("C", c, _lerp(-60, 330, (t - 1.5) / 1.2), 320, 110))
        return out

    return sequence(back + 1.5, fps, at)


def five_faces(fps: float = 30.0, duration: float = 4.0) -> list[Frame]:
    """Five faces swaying in their own places, never overlapping (the cost benchmark)."""
    sprites = [
        face("astronaut"),
        face("grace_hopper"),
        face("zidane", 0),
        face("astronaut", flip=True),
        face("grace_hopper", flip=True),
    ]
    centres = [(110, 120), (320, 110), (530, 120), (210, 350), (430, 350)]

    def at(t: float) -> list[Placement]:
        return [
            (f"p{i}", s, x + 35 * math.sin(1.3 * t + i), y + 15 * math.cos(0.9 * t + 2 * i), 90)
            for i, (s, (x, y)) in enumerate(zip(sprites, centres))
        ]

    return sequence(duration, fps, at)


def expression_change(fps: float = 30.0, flicker_s: float = 1.5, steady_s: float = 1.5) -> list[Frame]:
    """One place, one identity: neutral and smiling faces alternate every frame, then the smiling
    one stays (a real change at ``flicker_s + steady_s``, after a steady neutral stretch)."""
    smile, neutral = face("astronaut"), face("grace_hopper")
    change = flicker_s + steady_s

    def at(t: float) -> list[Placement]:
        i = round(t * fps)
        if t < flicker_s:
            sprite = smile if i % 2 else neutral
        else:
            sprite = smile if t >= change else neutral
        return [("X", sprite, 320, 240, 130)]

    return sequence(change + 1.5, fps, at)


def carphone_frames() -> list[np.ndarray]:
    """The bundled clip (one person talking in a car, 120 frames at 29.97 FPS), as BGR frames."""
    cap = cv2.VideoCapture(str(sample_stream_path()))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    return frames


CARPHONE_FPS = 30000 / 1001
