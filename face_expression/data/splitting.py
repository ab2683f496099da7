"""Splitting a data set into train/valid/test without leakage, and splitting an existing labelled folder."""

from __future__ import annotations

import json
import random
import re
import shutil
import sys
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2

from face_expression.data.labels import Label, flipped, format_labels, label_path, read_labels
from face_expression.data.spec import (
    SPLIT_FOLDERS,
    SPLIT_KEYS,
    DataSetError,
    LabelProblems,
    listing,
    parse_names,
    write_roboflow_yaml,
)
from face_expression.data.writing import BuildReport, image_files, prepare_output, slug, write_image

DEFAULT_SPLIT = (0.6, 0.2, 0.2)


@dataclass
class Record:
    """One image of the new data set before it is given a split."""

    source: str
    group: str
    order: int
    labels: list[Label]
    pending: Path


def group_of(path: Path, class_dir: Path | None, regex: re.Pattern | None) -> str:
    """The person/video a file belongs to: --group-regex on the name, else subfolder, else the file."""
    if regex is not None:
        m = regex.search(path.stem if class_dir is not None else path.name)
        if m:
            return m.group(1) if m.groups() else m.group(0)
    if class_dir is not None:
        rel = path.relative_to(class_dir)
        if len(rel.parts) > 1:
            return rel.parts[0]
    return str(path)


def _cut(n: int, fractions: Sequence[float]) -> list[int]:
    """Split index boundaries of n ordered items by fractions (cumulative rounding)."""
    bounds, acc = [0], 0.0
    for f in fractions:
        acc += f
        bounds.append(round(acc * n))
    bounds[-1] = n
    return bounds


def assign_splits(
    records: Sequence[Record], fractions: Sequence[float] = DEFAULT_SPLIT, seed: int = 0
) -> tuple[list[str], list[str]]:
    """A split name per record, keeping each group in one split where the data allow it.

    Groups are dealt out greedily (largest first, shuffled with ``seed``) to the split whose
    per-class quota is furthest from full. A class with fewer groups than non-empty splits
    cannot be split that way; its groups are cut into consecutive segments (by ``order``)
    instead. Returns (splits, names of segmented groups).
    """
    total = sum(fractions)
    fractions = [f / total for f in fractions]
    active = [k for k, f in zip(SPLIT_KEYS, fractions) if f > 0]
    frac = dict(zip(SPLIT_KEYS, fractions))
    by_group: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(records):
        by_group[r.group].append(i)
    group_classes: dict[str, Counter] = {
        g: Counter(lab[0] for i in idx for lab in records[i].labels[:1]) for g, idx in by_group.items()
    }
    groups_per_class: Counter = Counter()
    for counter in group_classes.values():
        groups_per_class.update(counter.keys())
    segmented = sorted(
        g for g, counter in group_classes.items() if any(groups_per_class[c] < len(active) for c in counter)
    )
    out = [""] * len(records)
    for g in segmented:
        idx = sorted(by_group[g], key=lambda i: (records[i].order, records[i].source))
        bounds = _cut(len(idx), fractions)
        for s, key in enumerate(SPLIT_KEYS):
            for i in idx[bounds[s] : bounds[s + 1]]:
                out[i] = key
    whole = sorted(g for g in by_group if g not in set(segmented))
    random.Random(seed).shuffle(whole)
    whole.sort(key=lambda g: -len(by_group[g]))  # stable: ties keep the shuffled order
    class_totals: Counter = Counter()
    for g in whole:
        class_totals.update(group_classes[g])
    current: dict[str, Counter] = {k: Counter() for k in active}
    for g in whole:
        counts = group_classes[g]

        def score(key: str, counts: Counter = counts) -> tuple[float, float]:
            need = {c: frac[key] * class_totals[c] - current[key][c] for c in counts}
            fill = sum(min(n, max(0.0, need[c])) for c, n in counts.items())
            deficit = sum(need.values()) / max(1, sum(counts.values()))
            return fill, deficit

        best = max(active, key=score)
        current[best].update(counts)
        for i in by_group[g]:
            out[i] = best
    return out, segmented


def finish(
    out: Path,
    records: list[Record],
    names: list[str],
    fractions: Sequence[float],
    seed: int,
    flip: bool,
    report: BuildReport,
) -> None:
    """Split, move pending files into train/valid/test, add flipped train copies, write data.yaml."""
    splits, segmented = assign_splits(records, fractions, seed)
    report.segmented_groups = segmented
    counts = {k: Counter() for k in SPLIT_KEYS}
    groups: dict[str, set[str]] = {k: set() for k in SPLIT_KEYS}
    for key in SPLIT_KEYS:
        for sub in ("images", "labels"):
            (out / SPLIT_FOLDERS[key] / sub).mkdir(parents=True, exist_ok=True)
    for record, key in zip(records, splits):
        folder = out / SPLIT_FOLDERS[key]
        image_dst = folder / "images" / record.pending.name
        record.pending.replace(image_dst)
        (folder / "labels" / image_dst.name).with_suffix(".txt").write_text(format_labels(record.labels))
        counts[key]["images"] += 1
        for c, *_ in record.labels:
            counts[key][names[c]] += 1
        groups[key].add(record.group)
        if flip and key == "train":
            mirror = cv2.flip(cv2.imread(str(image_dst)), 1)
            flip_dst = image_dst.with_name(f"{image_dst.stem}_flip{image_dst.suffix}")
            write_image(flip_dst, mirror)
            (folder / "labels" / flip_dst.name).with_suffix(".txt").write_text(
                format_labels(flipped(record.labels))
            )
            counts[key]["images"] += 1
            for c, *_ in record.labels:
                counts[key][names[c]] += 1
    shutil.rmtree(out / ".pending", ignore_errors=True)
    write_roboflow_yaml(out, names)
    report.counts = {SPLIT_FOLDERS[k]: dict(v) for k, v in counts.items()}
    report.groups = {SPLIT_FOLDERS[k]: sorted(v) for k, v in groups.items()}
    empty = [
        SPLIT_FOLDERS[k] for k in SPLIT_KEYS if not counts[k]["images"] and fractions[SPLIT_KEYS.index(k)] > 0
    ]
    if empty:
        print(f"warning: splits {empty} are empty: add more images or videos", file=sys.stderr)
    (out / "dataset.json").write_text(
        json.dumps(
            {
                "names": names,
                "counts": report.counts,
                "groups": report.groups,
                "segmented_groups": segmented,
                "images_without_faces": report.no_face,
                "settings": report.settings,
            },
            indent=2,
        )
    )


def _existing_pairs(folder: Path) -> list[tuple[Path, Path]]:
    """(image, label) pairs of an unsplit YOLO folder: images/ + labels/, or side by side."""
    images = image_files(folder / "images") if (folder / "images").is_dir() else image_files(folder)
    return [(p, label_path(p) if (folder / "images").is_dir() else p.with_suffix(".txt")) for p in images]


def existing_names(folder: Path, names: list[str] | None) -> list[str]:
    """Class names of an unsplit folder: --names, else its data.yaml, else classes.txt."""
    import yaml

    if names:
        return names
    for candidate in ("data.yaml", "data.yml"):
        path = folder / candidate
        if path.is_file():
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            return parse_names(data.get("names"), data.get("nc"))
    classes = folder / "classes.txt"
    if classes.is_file():
        return [line.strip() for line in classes.read_text(encoding="utf-8").splitlines() if line.strip()]
    raise DataSetError(
        f"no class names for {folder}: pass --names neutral,smile, or add a data.yaml or classes.txt"
    )


def split_existing(
    folder: Path,
    out: Path,
    names: list[str] | None = None,
    resize: tuple[int, int] | None = None,
    flip: bool = False,
    fractions: Sequence[float] = DEFAULT_SPLIT,
    seed: int = 0,
    group_regex: str | None = None,
    force: bool = False,
    progress: bool = True,
) -> BuildReport:
    """Split an existing labelled (unsplit) YOLO folder into the Roboflow layout; input untouched."""
    from tqdm import tqdm

    if not folder.is_dir():
        raise DataSetError(f"folder not found: {folder}")
    names = existing_names(folder, names)
    pairs = _existing_pairs(folder)
    if not pairs:
        raise DataSetError(
            f"no images in {folder} (expected images/ and labels/ folders, or images with .txt beside)"
        )
    problems = LabelProblems()
    labelled: list[tuple[Path, list[Label]]] = []
    unlabelled = []
    for image, lp in tqdm(pairs, desc="checking", unit="img", disable=not progress):
        if cv2.imread(str(image), cv2.IMREAD_REDUCED_GRAYSCALE_8) is None:
            problems.unreadable.append(str(image))
            continue
        labels = read_labels(lp, len(names), problems)
        if not lp.is_file():
            unlabelled.append(str(image))
        labelled.append((image, labels))
    per_class = Counter(names[c] for _, labels in labelled for c, *_ in labels)
    empty = [n for n in names if per_class[n] == 0]
    messages = [problems.message(len(names))] if problems else []
    if empty:
        messages.append(f"classes with no labelled faces: {empty}; label some or drop them from the names")
    if messages:
        raise DataSetError(f"cannot split {folder}; nothing was changed:\n" + "\n".join(messages))
    if unlabelled:
        print(
            f"warning: {len(unlabelled)} image(s) have no label file and are kept as background images:\n"
            + listing(unlabelled),
            file=sys.stderr,
        )
    regex = re.compile(group_regex) if group_regex else None
    base = folder / "images" if (folder / "images").is_dir() else folder
    out = prepare_output(out, force, [folder])
    report = BuildReport(
        names=names,
        settings={
            "from_folder": str(folder),
            "resize": list(resize) if resize else None,
            "flip": flip,
            "split": list(fractions),
            "seed": seed,
        },
    )
    try:
        records = []
        for order, (image, labels) in enumerate(labelled):
            pending = out / ".pending" / f"{order:06d}_{slug(image.stem)}{image.suffix.lower()}"
            if resize:
                pending = pending.with_suffix(".jpg")
                write_image(pending, cv2.resize(cv2.imread(str(image), cv2.IMREAD_COLOR), resize))
            else:
                shutil.copyfile(image, pending)
            records.append(Record(str(image), group_of(image, base, regex), order, labels, pending))
        finish(out, records, names, fractions, seed, flip, report)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    return report
