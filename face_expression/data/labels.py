"""YOLO label files: one ``class cx cy w h`` line per box, normalized to the image size."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from face_expression.data.spec import LabelProblems

Label = tuple[int, float, float, float, float]  # class, cx, cy, w, h (normalized)


def format_labels(labels: Sequence[Label]) -> str:
    return "".join(f"{c} {x:.6f} {y:.6f} {w:.6f} {h:.6f}\n" for c, x, y, w, h in labels)


def flipped(labels: Sequence[Label]) -> list[Label]:
    """Labels of the horizontally mirrored image."""
    return [(c, 1.0 - x, y, w, h) for c, x, y, w, h in labels]


def label_path(image: Path) -> Path:
    """YOLO convention: the last ``images`` folder becomes ``labels``, the suffix ``.txt``."""
    parts = list(image.parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            return Path(*parts).with_suffix(".txt")
    return image.with_suffix(".txt")


def read_labels(
    path: Path, nc: int, problems: LabelProblems | None = None
) -> list[tuple[int, float, float, float, float]]:
    """(class, cx, cy, w, h) boxes of one label file; polygons become their bounding box."""
    if not path.is_file():
        return []
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        where = f"{path}:{n}: {line.strip()[:80]}"
        try:
            cls = float(fields[0])
            values = [float(v) for v in fields[1:]]
        except ValueError:
            if problems is not None:
                problems.malformed.append(where)
            continue
        if cls != int(cls) or len(values) < 4 or (len(values) > 4 and len(values) % 2):
            if problems is not None:
                problems.malformed.append(where)
            continue
        if not 0 <= int(cls) < nc:
            if problems is not None:
                problems.bad_class.append(where)
            continue
        if len(values) > 4:  # segment polygon x1 y1 x2 y2 ...: use its bounding box
            xs, ys = values[0::2], values[1::2]
            coords_ok = all(0.0 <= v <= 1.0 for v in values)
            x1, x2, y1, y2 = min(xs), max(xs), min(ys), max(ys)
            box = ((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1)
        else:
            cx, cy, w, h = values
            box = (cx, cy, w, h)
            coords_ok = all(0.0 <= v <= 1.0 for v in values) and w > 0 and h > 0
            coords_ok = coords_ok and cx - w / 2 >= -1e-3 and cx + w / 2 <= 1 + 1e-3
            coords_ok = coords_ok and cy - h / 2 >= -1e-3 and cy + h / 2 <= 1 + 1e-3
        if not coords_ok:
            if problems is not None:
                problems.bad_coords.append(where)
            continue
        out.append((int(cls), *box))
    return out
