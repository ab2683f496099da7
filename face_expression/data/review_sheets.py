"""Review sheets: labelled face crops on one PNG, to check labels by eye."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from face_expression.data.labels import Label, label_path, read_labels
from face_expression.data.spec import SPLIT_FOLDERS, SPLIT_KEYS, DataSetError
from face_expression.data.writing import image_files


def contact_sheet(
    root: Path, names: Sequence[str], out_png: Path, per_class: int = 40, tile: int = 112
) -> Path:
    """A PNG of labelled face crops, one block per class, to check the labels by eye."""
    items: dict[int, list[tuple[Path, Label, str]]] = defaultdict(list)
    for key in SPLIT_KEYS:
        for image in image_files(root / SPLIT_FOLDERS[key] / "images"):
            if image.stem.endswith("_flip"):
                continue
            for lab in read_labels(label_path(image), len(names)):
                items[lab[0]].append((image, lab, SPLIT_FOLDERS[key]))
    cols = 8
    blocks = []
    for cid, name in enumerate(names):
        chosen = items.get(cid, [])
        if len(chosen) > per_class:
            step = len(chosen) / per_class
            chosen = [chosen[int(i * step)] for i in range(per_class)]
        rows = max(1, math.ceil(len(chosen) / cols))
        block = np.full((28 + rows * (tile + 4), cols * (tile + 4), 3), 255, np.uint8)
        cv2.putText(
            block,
            f"{cid}: {name} ({len(items.get(cid, []))} faces)",
            (6, 20),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.6,
            (0, 0, 0),
            1,
            cv2.LINE_AA,
        )
        for i, (image, (_, cx, cy, w, h), split) in enumerate(chosen):
            img = cv2.imread(str(image), cv2.IMREAD_COLOR)
            if img is None:
                continue
            ih, iw = img.shape[:2]
            x1, y1, x2, y2 = (cx - w / 2) * iw, (cy - h / 2) * ih, (cx + w / 2) * iw, (cy + h / 2) * ih
            pad = 0.25 * max(x2 - x1, y2 - y1)
            cx1, cy1 = int(max(0, x1 - pad)), int(max(0, y1 - pad))
            cx2, cy2 = int(min(iw, x2 + pad)), int(min(ih, y2 + pad))
            crop = img[cy1:cy2, cx1:cx2].copy()
            cv2.rectangle(
                crop, (int(x1 - cx1), int(y1 - cy1)), (int(x2 - cx1), int(y2 - cy1)), (0, 200, 0), 2
            )
            scale = tile / max(crop.shape[:2])
            crop = cv2.resize(crop, (max(1, int(crop.shape[1] * scale)), max(1, int(crop.shape[0] * scale))))
            r, c = divmod(i, cols)
            y0, x0 = 28 + r * (tile + 4), c * (tile + 4)
            block[y0 : y0 + crop.shape[0], x0 : x0 + crop.shape[1]] = crop
            cv2.putText(
                block, split, (x0 + 3, y0 + tile - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 2
            )
            cv2.putText(block, split, (x0 + 3, y0 + tile - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
        blocks.append(block)
    sheet = np.vstack(blocks)
    if not cv2.imwrite(str(out_png), sheet):
        raise DataSetError(f"cannot write {out_png}")
    return out_png
