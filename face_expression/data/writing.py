"""Writing the output data set folder: a fresh folder, images, the build report."""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from face_expression.data.spec import IMAGE_SUFFIXES, DataSetError


@dataclass
class BuildReport:
    """What happened, for the summary, dataset.json and the tests."""

    names: list[str]
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)
    segmented_groups: list[str] = field(default_factory=list)
    no_face: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)


def image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:40] or "x"


def write_image(path: Path, image: np.ndarray) -> None:
    if not cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 95]):
        raise DataSetError(f"cannot write {path}; check the output folder's free space and permissions")


def prepare_output(out: Path, force: bool, inputs: Sequence[Path]) -> Path:
    """An empty output folder that is neither an input nor inside one (inputs stay untouched)."""
    out = out.expanduser().resolve()
    for src in inputs:
        src = src.resolve()
        if out == src or src in out.parents or out in src.parents:
            raise DataSetError(
                f"output {out} overlaps the input {src}; choose an output folder outside the inputs "
                "(the input is never modified)."
            )
    if out.exists() and any(out.iterdir()):
        if not force:
            raise DataSetError(
                f"output folder {out} is not empty; choose another or pass --force to replace it"
            )
        shutil.rmtree(out)
    (out / ".pending").mkdir(parents=True, exist_ok=True)
    return out
