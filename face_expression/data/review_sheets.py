"""Review sheets: labelled faces side by side on one PNG, to check labels by eye.

One renderer (``contact_sheet``) for every sheet this repository makes: the data set's
``review.png`` (``face-expression-dataset --review``), the teachers' proposals
(``face-expression-label propose``) and the starter model's label sheets
(``models/starter/build_dataset.py sheets``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from face_expression.data.label_table import FaceRow, image_path
from face_expression.data.labels import label_path, read_labels
from face_expression.data.spec import SPLIT_FOLDERS, SPLIT_KEYS, DataSetError, image_files

TITLE_H = 28  #: height of a sheet's title band
CAPTION_H = 16  #: height of the caption line under each tile
GREY = (114, 114, 114)  #: outside the image (Ultralytics' letterbox grey)


@dataclass(frozen=True)
class FaceTile:
    """One face to show: its image, its box in pixel corners (x1, y1, x2, y2), the text under it."""

    image: np.ndarray
    box: tuple[float, float, float, float]
    caption: str


def face_crop(image: np.ndarray, box: Sequence[float], margin: float) -> tuple[np.ndarray, tuple[int, int]]:
    """Square crop centred on a box, ``margin`` x its longer side, grey outside the image.

    Returns the crop and its top-left corner in image pixels (to place the box on the crop).
    """
    x1, y1, x2, y2 = box
    cx, cy, side = (x1 + x2) / 2, (y1 + y2) / 2, max(x2 - x1, y2 - y1) * margin
    a, b = round(cx - side / 2), round(cy - side / 2)
    s = max(1, round(side))
    pad = cv2.copyMakeBorder(image, s, s, s, s, cv2.BORDER_CONSTANT, value=GREY)
    return pad[b + s : b + 2 * s, a + s : a + 2 * s], (a, b)


def contact_sheet(
    tiles: Sequence[FaceTile],
    cols: int,
    tile: int = 96,
    margin: float = 1.3,
    title: str | None = None,
    mark_box: bool = False,
) -> np.ndarray:
    """A grid of face crops, ``cols`` wide, each ``tile`` px square with its caption under it.

    ``title`` adds a band above the grid (a sheet with a title is drawn even without tiles);
    ``mark_box`` draws the labelled box on each crop in green.
    """
    top = TITLE_H if title is not None else 0
    rows = max(1 if title is not None else 0, math.ceil(len(tiles) / cols))
    sheet = np.full((top + rows * (tile + CAPTION_H), cols * tile, 3), 255, np.uint8)
    if title is not None:
        cv2.putText(sheet, title, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    for i, face in enumerate(tiles):
        crop, (a, b) = face_crop(face.image, face.box, margin)
        scale = tile / crop.shape[0]
        crop = cv2.resize(crop, (tile, tile), interpolation=cv2.INTER_AREA)
        if mark_box:
            x1, y1, x2, y2 = ((v - o) * scale for v, o in zip(face.box, (a, b, a, b)))
            cv2.rectangle(crop, (int(x1), int(y1)), (int(x2), int(y2)), (0, 200, 0), 2)
        y, x = top + (i // cols) * (tile + CAPTION_H), (i % cols) * tile
        sheet[y : y + tile, x : x + tile] = crop
        cv2.putText(sheet, face.caption, (x + 2, y + tile + 12), cv2.FONT_HERSHEY_SIMPLEX, 0.36, (0, 0, 0), 1)
    return sheet


def review_sheet(
    root: Path, names: Sequence[str], out_png: Path, per_class: int = 40, tile: int = 112
) -> Path:
    """``review.png`` of a built data set: one block per class (title: id, name, number of faces),
    at most ``per_class`` faces spread over the class, each boxed and captioned with its split."""
    items: dict[int, list[tuple[Path, tuple, str]]] = defaultdict(list)
    for key in SPLIT_KEYS:
        for image in image_files(root / SPLIT_FOLDERS[key] / "images"):
            if image.stem.endswith("_flip"):
                continue
            for lab in read_labels(label_path(image), len(names)):
                items[lab[0]].append((image, lab, SPLIT_FOLDERS[key]))
    blocks = []
    for cid, name in enumerate(names):
        chosen = items.get(cid, [])
        if len(chosen) > per_class:
            step = len(chosen) / per_class
            chosen = [chosen[int(i * step)] for i in range(per_class)]
        tiles = []
        for image, (_, cx, cy, w, h), split in chosen:
            img = cv2.imread(str(image), cv2.IMREAD_COLOR)
            if img is None:
                continue
            ih, iw = img.shape[:2]
            box = ((cx - w / 2) * iw, (cy - h / 2) * ih, (cx + w / 2) * iw, (cy + h / 2) * ih)
            tiles.append(FaceTile(img, box, split))
        title = f"{cid}: {name} ({len(items.get(cid, []))} faces)"
        blocks.append(contact_sheet(tiles, cols=8, tile=tile, margin=1.5, title=title, mark_box=True))
    if not cv2.imwrite(str(out_png), np.vstack(blocks)):
        raise DataSetError(f"cannot write {out_png}")
    return out_png


def proposal_sheets(
    csv_path: Path, rows: Sequence[FaceRow], out_dir: Path, per_page: int = 100, tile: int = 112
) -> list[Path]:
    """Contact sheets of proposed labels: ``review_NNN.png`` (faces set aside as unsure) first, then
    ``<label>_NNN.png`` per proposed label; each face boxed and captioned ``#id P(smile)``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    by_label: dict[str, list[FaceRow]] = defaultdict(list)
    for row in rows:
        by_label[row.proposal].append(row)
    order = ["unsure", *sorted(k for k in by_label if k != "unsure")]
    written = []
    for label in order:
        chosen = by_label.get(label, [])
        name = "review" if label == "unsure" else label
        what = "set aside for review by eye" if label == "unsure" else f"proposed {label}"
        for page, start in enumerate(range(0, len(chosen), per_page), start=1):
            part = chosen[start : start + per_page]
            images: dict[str, np.ndarray | None] = {}
            tiles = []
            for row in part:
                if row.image not in images:
                    images[row.image] = cv2.imread(str(image_path(csv_path, row.image)), cv2.IMREAD_COLOR)
                img = images[row.image]
                if img is not None:
                    p = "-" if row.p_smile is None else f"{row.p_smile:.2f}"
                    tiles.append(FaceTile(img, row.box, f"#{row.id} {p}"))
            title = (
                f"{what}: faces {start + 1}-{start + len(part)} of {len(chosen)} (caption: CSV id, P(smile))"
            )
            path = out_dir / f"{name}_{page:03d}.png"
            sheet = contact_sheet(tiles, cols=10, tile=tile, margin=1.4, title=title, mark_box=True)
            if not cv2.imwrite(str(path), sheet):
                raise DataSetError(f"cannot write {path}")
            written.append(path)
    return written
