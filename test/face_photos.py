"""Real face photos that install offline, with face boxes checked by eye.

Boxes are (x1, y1, x2, y2) in image pixels; labels are the expression seen by eye
("other" = neither clearly smiling nor clearly neutral).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib
import skimage
import ultralytics


@dataclass(frozen=True)
class FacePhoto:
    path: Path
    faces: tuple[tuple[tuple[float, float, float, float], str], ...]


def _pkg(module, *parts: str) -> Path:
    return Path(module.__file__).parent.joinpath(*parts)


FACE_PHOTOS: dict[str, FacePhoto] = {
    "astronaut": FacePhoto(_pkg(skimage, "data", "astronaut.png"), (((181, 58, 269, 177), "smile"),)),
    "grace_hopper": FacePhoto(
        _pkg(matplotlib, "mpl-data", "sample_data", "grace_hopper.jpg"), (((170, 122, 361, 338), "neutral"),)
    ),
    "zidane": FacePhoto(
        _pkg(ultralytics, "assets", "zidane.jpg"),
        (((908, 94, 1055, 277), "neutral"), ((563, 260, 664, 431), "other")),
    ),
}
