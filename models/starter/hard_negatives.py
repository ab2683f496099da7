"""Face-like things that are not faces, drawn procedurally, for the starter data set's hard negatives.

Users saw the v2 model call a light switch on a wall a smiling face. No offline package ships photos
of wall plates, sockets or patterned fabric, so these are drawn: plates with two "eyes" (holes,
screws, rockers) and a "mouth" (a ground hole, a slot), smiley posters and dotted fabric, shaded and
rotated, pasted on the training backgrounds. They are trained as background (no box), so the
detector learns that two dark dots above a third on a plate are not a person.
"""

from __future__ import annotations

import random

import cv2
import numpy as np

KINDS = ("socket", "switch", "double_switch", "smiley", "fabric", "clock")


def _colour(rng: random.Random, light: bool | None = None) -> tuple[int, int, int]:
    if light is None:
        light = rng.random() < 0.7
    base = rng.randint(170, 250) if light else rng.randint(20, 120)
    tint = [rng.randint(-15, 15) for _ in range(3)]
    return tuple(int(np.clip(base + t, 0, 255)) for t in tint)


def _rounded_plate(size: tuple[int, int], colour: tuple[int, int, int], radius: int) -> np.ndarray:
    h, w = size
    mask = np.zeros((h, w), np.uint8)
    cv2.rectangle(mask, (radius, 0), (w - radius, h), 255, -1)
    cv2.rectangle(mask, (0, radius), (w, h - radius), 255, -1)
    for cx, cy in ((radius, radius), (w - radius, radius), (radius, h - radius), (w - radius, h - radius)):
        cv2.circle(mask, (cx, cy), radius, 255, -1)
    plate = np.zeros((h, w, 4), np.uint8)
    plate[..., :3] = colour
    plate[..., 3] = mask
    return plate


def _hole(img: np.ndarray, centre: tuple[int, int], axes: tuple[int, int], dark: int) -> None:
    cv2.ellipse(img, centre, axes, 0, 0, 360, (dark, dark, dark, 255), -1, cv2.LINE_AA)


def _socket(rng: random.Random, s: int) -> np.ndarray:
    plate = _rounded_plate((s, int(s * rng.uniform(0.8, 1.1))), _colour(rng), max(2, s // 10))
    h, w = plate.shape[:2]
    dark = rng.randint(10, 60)
    if rng.random() < 0.5:  # round recess with two round pins (European)
        rec = tuple(int(c * 0.85) for c in plate[0, w // 2, :3].tolist())
        cv2.circle(plate, (w // 2, h // 2), int(min(w, h) * 0.38), (*rec, 255), -1, cv2.LINE_AA)
        for dx in (-1, 1):
            _hole(plate, (w // 2 + dx * int(w * 0.16), h // 2), (max(2, s // 16),) * 2, dark)
    else:  # two slots and a ground hole (North American): the classic surprised face
        for dx in (-1, 1):
            _hole(
                plate, (w // 2 + dx * int(w * 0.15), int(h * 0.4)), (max(1, s // 30), max(2, s // 10)), dark
            )
        _hole(plate, (w // 2, int(h * 0.68)), (max(2, s // 14), max(2, s // 14)), dark)
    return plate


def _switch(rng: random.Random, s: int, rockers: int) -> np.ndarray:
    plate = _rounded_plate(
        (s, int(s * rng.uniform(0.8, 1.2) * (1 + 0.4 * (rockers - 1)))), _colour(rng), s // 12
    )
    h, w = plate.shape[:2]
    shade = [int(c) for c in plate[h // 2, w // 2, :3]]
    for k in range(rockers):
        cx = int(w * (k + 1) / (rockers + 1))
        rw, rh = int(w * 0.32 / rockers), int(h * 0.28)
        f = rng.uniform(0.8, 1.05)
        top = tuple(int(np.clip(c * f, 0, 255)) for c in shade)
        cv2.rectangle(plate, (cx - rw // 2, h // 2 - rh), (cx + rw // 2, h // 2 + rh), (*top, 255), -1)
        cv2.rectangle(
            plate, (cx - rw // 2, h // 2), (cx + rw // 2, h // 2 + rh), (*[c * 0.85 for c in top], 255), -1
        )
    if rng.random() < 0.6:  # screws: two dots above and below, or left and right
        r = max(1, s // 25)
        vertical = ((w // 2, int(h * 0.1)), (w // 2, int(h * 0.9)))
        pts = vertical if rng.random() < 0.5 else ((int(w * 0.1), h // 2), (int(w * 0.9), h // 2))
        for p in pts:
            _hole(plate, p, (r, r), rng.randint(60, 140))
    return plate


def _smiley(rng: random.Random, s: int) -> np.ndarray:
    img = np.zeros((s, s, 4), np.uint8)
    face = _colour(rng, light=True) if rng.random() < 0.5 else (40, 200, 250)
    cv2.circle(img, (s // 2, s // 2), s // 2 - 1, (*face, 255), -1, cv2.LINE_AA)
    ink = rng.randint(0, 60)
    for dx in (-1, 1):
        _hole(img, (s // 2 + dx * s // 6, int(s * 0.38)), (max(2, s // 16), max(2, s // 10)), ink)
    arc = (0, 180) if rng.random() < 0.7 else (180, 360)
    cv2.ellipse(
        img,
        (s // 2, int(s * 0.6)),
        (s // 4, s // 7),
        0,
        *arc,
        (ink, ink, ink, 255),
        max(1, s // 25),
        cv2.LINE_AA,
    )
    return img


def _fabric(rng: random.Random, s: int) -> np.ndarray:
    w = int(s * rng.uniform(1.0, 2.0))
    img = np.zeros((s, w, 4), np.uint8)
    img[..., :3] = _colour(rng)
    img[..., 3] = 255
    ink = _colour(rng, light=False)
    step = max(6, s // rng.randint(3, 6))
    r = max(1, step // rng.randint(4, 7))
    for y in range(step // 2, s, step):
        off = step // 2 if (y // step) % 2 else 0
        for x in range(off + step // 2, w, step):
            cv2.circle(img, (x, y), r, (*ink, 255), -1, cv2.LINE_AA)
    return img


def _clock(rng: random.Random, s: int) -> np.ndarray:
    img = np.zeros((s, s, 4), np.uint8)
    cv2.circle(img, (s // 2, s // 2), s // 2 - 1, (*_colour(rng, light=False), 255), -1, cv2.LINE_AA)
    cv2.circle(img, (s // 2, s // 2), int(s * 0.43), (*_colour(rng, light=True), 255), -1, cv2.LINE_AA)
    ink = rng.randint(0, 50)
    for a in rng.sample(range(0, 360, 30), 2):
        end = (int(s / 2 + np.cos(np.radians(a)) * s * 0.33), int(s / 2 + np.sin(np.radians(a)) * s * 0.33))
        cv2.line(img, (s // 2, s // 2), end, (ink, ink, ink, 255), max(1, s // 30), cv2.LINE_AA)
    return img


def face_like_object(rng: random.Random, size: int, kind: str | None = None) -> np.ndarray:
    """One BGRA patch about ``size`` px tall: shaded, slightly rotated, alpha = its outline."""
    kind = kind or rng.choice(KINDS)
    if kind == "socket":
        patch = _socket(rng, size)
    elif kind in ("switch", "double_switch"):
        patch = _switch(rng, size, 2 if kind == "double_switch" else 1)
    elif kind == "smiley":
        patch = _smiley(rng, size)
    elif kind == "fabric":
        patch = _fabric(rng, size)
    else:
        patch = _clock(rng, size)
    h, w = patch.shape[:2]
    light = np.linspace(rng.uniform(0.75, 1.0), rng.uniform(0.9, 1.15), h, dtype=np.float32)[:, None, None]
    patch[..., :3] = np.clip(patch[..., :3] * light, 0, 255).astype(np.uint8)
    angle = rng.uniform(-12, 12)
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    return cv2.warpAffine(patch, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0, 0))


def paste_objects(
    rng: random.Random, img: np.ndarray, count: int, avoid: list[tuple[float, float, float, float]] = ()
) -> np.ndarray:
    """Paste ``count`` face-like objects into a copy of ``img``, away from the boxes in ``avoid``."""
    out = img.copy()
    H, W = out.shape[:2]
    for _ in range(count):
        for _attempt in range(20):
            size = int(rng.uniform(0.08, 0.45) * min(H, W))
            if size < 12:
                break
            patch = face_like_object(rng, size)
            ph, pw = patch.shape[:2]
            if pw >= W or ph >= H:
                continue
            x, y = rng.randint(0, W - pw), rng.randint(0, H - ph)
            if any(x < bx2 and x + pw > bx1 and y < by2 and y + ph > by1 for bx1, by1, bx2, by2 in avoid):
                continue
            if rng.random() < 0.5:  # a soft shadow, as on a wall
                shadow = cv2.GaussianBlur(patch[..., 3].astype(np.float32) / 255, (0, 0), max(1, size / 20))
                dx = min(W - x - pw, max(1, size // 15))
                region = out[y : y + ph, x + dx : x + dx + pw].astype(np.float32)
                dim = 1 - 0.35 * shadow[:, : region.shape[1], None]
                out[y : y + ph, x + dx : x + dx + pw] = (region * dim).astype(np.uint8)
            alpha = patch[..., 3:].astype(np.float32) / 255
            roi = out[y : y + ph, x : x + pw].astype(np.float32)
            out[y : y + ph, x : x + pw] = (alpha * patch[..., :3] + (1 - alpha) * roi).astype(np.uint8)
            avoid = [*avoid, (x, y, x + pw, y + ph)]
            break
    return out


def wall(rng: random.Random, size: tuple[int, int] = (480, 640)) -> np.ndarray:
    """A plain painted wall with a little texture and light falloff."""
    h, w = size
    img = np.empty((h, w, 3), np.float32)
    img[:] = _colour(rng, light=rng.random() < 0.8)
    img += np.random.default_rng(rng.randint(0, 2**31)).normal(0, 4, (h, w, 1))
    fall = np.linspace(rng.uniform(0.7, 1.0), rng.uniform(0.85, 1.1), w, dtype=np.float32)[None, :, None]
    return np.clip(img * fall, 0, 255).astype(np.uint8)
