"""Writing the output data set folder: a fresh folder, images and labels per split, flips, data.yaml."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from face_expression.data.labels import Label, flipped, format_labels, label_path
from face_expression.data.spec import (
    SPLIT_FOLDERS,
    SPLIT_KEYS,
    DataSetError,
    write_roboflow_yaml,
)

if TYPE_CHECKING:
    from face_expression.data.splitting import Record


@dataclass
class BuildReport:
    """What happened, for the summary, dataset.json and the tests."""

    names: list[str]
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)
    segmented_groups: list[str] = field(default_factory=list)
    no_face: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:40] or "x"


def write_image(path: Path, image: np.ndarray) -> None:
    if not cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 95]):
        raise DataSetError(f"cannot write {path}; check the output folder's free space and permissions")


def prepare_output(out: Path, force: bool, inputs: Sequence[Path], pending: bool = True) -> Path:
    """An empty output folder that is neither an input nor inside one (inputs stay untouched).

    ``pending``: with the ``.pending`` folder where builders gather images before the split.
    """
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
    (out / ".pending" if pending else out).mkdir(parents=True, exist_ok=True)
    return out


def move_into_splits(out: Path, records: Sequence[Record], splits: Sequence[str]) -> list[Path]:
    """Move each pending image into its split's ``images/`` and write its label file; returns the images."""
    for key in SPLIT_KEYS:
        for sub in ("images", "labels"):
            (out / SPLIT_FOLDERS[key] / sub).mkdir(parents=True, exist_ok=True)
    moved = []
    for record, key in zip(records, splits):
        image_dst = out / SPLIT_FOLDERS[key] / "images" / record.pending.name
        record.pending.replace(image_dst)
        label_path(image_dst).write_text(format_labels(record.labels))
        moved.append(image_dst)
    shutil.rmtree(out / ".pending", ignore_errors=True)
    return moved


def add_flipped_copies(images: Sequence[tuple[Path, Sequence[Label]]]) -> None:
    """A horizontally mirrored copy (``<stem>_flip``) of each image, with mirrored labels."""
    for image, labels in images:
        mirror = cv2.flip(cv2.imread(str(image)), 1)
        flip_dst = image.with_name(f"{image.stem}_flip{image.suffix}")
        write_image(flip_dst, mirror)
        label_path(flip_dst).write_text(format_labels(flipped(labels)))


def tally(
    records: Sequence[Record], splits: Sequence[str], names: Sequence[str], flip: bool
) -> tuple[dict[str, dict[str, int]], dict[str, list[str]]]:
    """Images and faces per class, and the groups, of each split folder (flipped train copies counted)."""
    counts = {k: Counter() for k in SPLIT_KEYS}
    groups: dict[str, set[str]] = {k: set() for k in SPLIT_KEYS}
    for record, key in zip(records, splits):
        for _ in range(2 if flip and key == "train" else 1):
            counts[key]["images"] += 1
            for c, *_ in record.labels:
                counts[key][names[c]] += 1
        groups[key].add(record.group)
    return (
        {SPLIT_FOLDERS[k]: dict(v) for k, v in counts.items()},
        {SPLIT_FOLDERS[k]: sorted(v) for k, v in groups.items()},
    )


def empty_splits(counts: dict[str, dict[str, int]], fractions: Sequence[float]) -> list[str]:
    """Split folders that were meant to get images (a positive share) but got none."""
    return [
        SPLIT_FOLDERS[k]
        for k, f in zip(SPLIT_KEYS, fractions)
        if f > 0 and not counts[SPLIT_FOLDERS[k]].get("images")
    ]


def write_metadata(out: Path, report: BuildReport) -> None:
    """data.yaml (Roboflow layout) and dataset.json (counts, groups, settings) of the finished set."""
    write_roboflow_yaml(out, report.names)
    (out / "dataset.json").write_text(
        json.dumps(
            {
                "names": report.names,
                "counts": report.counts,
                "groups": report.groups,
                "segmented_groups": report.segmented_groups,
                "images_without_faces": report.no_face,
                "settings": report.settings,
            },
            indent=2,
        )
    )
