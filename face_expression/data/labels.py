"""YOLO label files: one ``class cx cy w h`` line per box, normalized to the image size.

Every label file this package writes goes through ``label_line`` and every one it reads through
``parse_label_line``, so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from face_expression.data.spec import LabelProblems

Label = tuple[int, float, float, float, float]  # class, cx, cy, w, h (normalized)


class LabelLineError(ValueError):
    """A label line that cannot be used; ``kind`` names the ``LabelProblems`` list it belongs to."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def label_line(label: Label) -> str:
    """The YOLO text of one box, without newline: class id, then centre and size to 6 decimals."""
    c, x, y, w, h = label
    return f"{c} {x:.6f} {y:.6f} {w:.6f} {h:.6f}"


def format_labels(labels: Sequence[Label]) -> str:
    """The contents of a label file: one line per box, each ending in a newline."""
    return "".join(label_line(lab) + "\n" for lab in labels)


def pixel_label(cls: int, box: Sequence[float], width: int, height: int) -> Label:
    """A label from a box in pixel corners (x1, y1, x2, y2), clipped to the ``width`` x ``height`` image."""
    x1, y1, x2, y2 = max(0, box[0]), max(0, box[1]), min(width, box[2]), min(height, box[3])
    return (cls, (x1 + x2) / 2 / width, (y1 + y2) / 2 / height, (x2 - x1) / width, (y2 - y1) / height)


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


def _inside(cx: float, cy: float, w: float, h: float) -> bool:
    """A normalized box that lies in the image (a thousandth of slack for rounding)."""
    ok = all(0.0 <= v <= 1.0 for v in (cx, cy, w, h)) and w > 0 and h > 0
    ok = ok and cx - w / 2 >= -1e-3 and cx + w / 2 <= 1 + 1e-3
    return ok and cy - h / 2 >= -1e-3 and cy + h / 2 <= 1 + 1e-3


def parse_label_line(line: str, nc: int) -> Label:
    """A box from ``class cx cy w h`` (or a segment polygon ``class x1 y1 x2 y2 ...``: its bounding box).

    Raises LabelLineError("malformed" | "bad_class" | "bad_coords") for a line that cannot be used.
    """
    fields = line.split()
    try:
        cls = float(fields[0])
        values = [float(v) for v in fields[1:]]
    except (ValueError, IndexError):
        raise LabelLineError("malformed") from None
    if cls != int(cls) or len(values) < 4 or (len(values) > 4 and len(values) % 2):
        raise LabelLineError("malformed")
    if not 0 <= int(cls) < nc:
        raise LabelLineError("bad_class")
    if len(values) > 4:  # segment polygon x1 y1 x2 y2 ...: use its bounding box
        xs, ys = values[0::2], values[1::2]
        coords_ok = all(0.0 <= v <= 1.0 for v in values)
        x1, x2, y1, y2 = min(xs), max(xs), min(ys), max(ys)
        box = ((x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1)
    else:
        box = (values[0], values[1], values[2], values[3])
        coords_ok = _inside(*box)
    if not coords_ok:
        raise LabelLineError("bad_coords")
    return (int(cls), *box)


def read_labels(path: Path, nc: int, problems: LabelProblems | None = None) -> list[Label]:
    """(class, cx, cy, w, h) boxes of one label file; lines that cannot be used go to ``problems``."""
    if not path.is_file():
        return []
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not line.split():
            continue
        try:
            out.append(parse_label_line(line, nc))
        except LabelLineError as exc:
            if problems is not None:
                getattr(problems, exc.kind).append(f"{path}:{n}: {line.strip()[:80]}")
    return out
