"""Splitting a data set into train/valid/test without leakage, and splitting an existing labelled folder."""

from __future__ import annotations

import random
import re
import shutil
import sys
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2

from face_expression.data.labels import Label, label_path, read_labels
from face_expression.data.spec import (
    SPLIT_FOLDERS,
    SPLIT_KEYS,
    DataSetError,
    LabelProblems,
    image_files,
    image_problem,
    listing,
    parse_names,
)
from face_expression.data.writing import (
    BuildReport,
    add_flipped_copies,
    empty_splits,
    move_into_splits,
    prepare_output,
    slug,
    tally,
    write_image,
    write_metadata,
)

DEFAULT_SPLIT = (0.6, 0.2, 0.2)


@dataclass(frozen=True)
class SplitOptions:
    """How an output data set is written and split; shared by both builders."""

    resize: tuple[int, int] | None = None  #: stretch every image to (width, height)
    flip: bool = False  #: add a mirrored copy of every train image
    fractions: Sequence[float] = DEFAULT_SPLIT  #: train, valid, test proportions
    seed: int = 0  #: seed of the split
    group_regex: str | None = None  #: first group of this regex on a file name = its person/video
    force: bool = False  #: replace a non-empty output folder
    progress: bool = True  #: progress bars

    def settings(self) -> dict:
        """The options as dataset.json records them."""
        return {
            "resize": list(self.resize) if self.resize else None,
            "flip": self.flip,
            "split": list(self.fractions),
            "seed": self.seed,
        }


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


def check_every_split_has_every_class(
    records: Sequence[Record], splits: Sequence[str], names: list[str], fractions: Sequence[float]
) -> None:
    """Raise DataSetError when a split asked for got no face of some class.

    Whole clips go to one split, so a class with few clips (three, at 60/20/20) can leave the
    test split without it: its figures would then silently leave the class out.
    """
    found: dict[str, set[int]] = defaultdict(set)
    clips: dict[int, set[str]] = defaultdict(set)
    for record, key in zip(records, splits):
        for c, *_ in record.labels:
            found[key].add(c)
            clips[c].add(record.group)
    gaps = [
        f"  - {SPLIT_FOLDERS[key]}: no "
        f"{', '.join(names[c] for c in range(len(names)) if c not in found[key])}"
        for key, share in zip(SPLIT_KEYS, fractions)
        if share > 0 and len(found[key]) < len(names)
    ]
    if gaps:
        per_class = ", ".join(f"{n}: {len(clips[c])}" for c, n in enumerate(names))
        raise DataSetError(
            "too few videos/persons per class to give every split faces of every class (each one is kept "
            f"whole in one split; groups per class: {per_class}):\n" + "\n".join(gaps) + "\nAdd videos or "
            "persons (five or more per class suit 60/20/20), or leave a split out, e.g. --split 80 20 0. "
            "Nothing was written."
        )


def finish(out: Path, records: list[Record], options: SplitOptions, report: BuildReport) -> None:
    """Give each pending image a split, write the split folders (and flips), data.yaml and dataset.json."""
    splits, report.segmented_groups = assign_splits(records, options.fractions, options.seed)
    check_every_split_has_every_class(records, splits, report.names, options.fractions)
    images = move_into_splits(out, records, splits)
    if options.flip:
        add_flipped_copies([(i, r.labels) for i, r, s in zip(images, records, splits) if s == "train"])
    report.counts, report.groups = tally(records, splits, report.names, options.flip)
    empty = empty_splits(report.counts, options.fractions)
    if empty:
        print(f"warning: splits {empty} are empty: add more images or videos", file=sys.stderr)
    write_metadata(out, report)


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


def _check_existing(folder: Path, names: list[str], progress: bool) -> list[tuple[Path, list[Label]]]:
    """(image, labels) of every image of an unsplit folder; raises DataSetError listing every problem."""
    from tqdm import tqdm

    pairs = _existing_pairs(folder)
    if not pairs:
        raise DataSetError(
            f"no images in {folder} (expected images/ and labels/ folders, or images with .txt beside)"
        )
    problems = LabelProblems()
    labelled: list[tuple[Path, list[Label]]] = []
    unlabelled = []
    for image, lp in tqdm(pairs, desc="checking", unit="img", disable=not progress):
        problem = image_problem(image)
        if problem:
            problems.unreadable.append(problem)
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
    return labelled


def split_existing(
    folder: Path, out: Path, names: list[str] | None = None, options: SplitOptions | None = None
) -> BuildReport:
    """Split an existing labelled (unsplit) YOLO folder into the Roboflow layout; input untouched."""
    options = options or SplitOptions()
    if not folder.is_dir():
        raise DataSetError(f"folder not found: {folder}")
    names = existing_names(folder, names)
    labelled = _check_existing(folder, names, options.progress)
    regex = re.compile(options.group_regex) if options.group_regex else None
    base = folder / "images" if (folder / "images").is_dir() else folder
    out = prepare_output(out, options.force, [folder])
    report = BuildReport(names=names, settings={"from_folder": str(folder), **options.settings()})
    try:
        records = []
        for order, (image, labels) in enumerate(labelled):
            pending = out / ".pending" / f"{order:06d}_{slug(image.stem)}{image.suffix.lower()}"
            if options.resize:
                pending = pending.with_suffix(".jpg")
                write_image(pending, cv2.resize(cv2.imread(str(image), cv2.IMREAD_COLOR), options.resize))
            else:
                shutil.copyfile(image, pending)
            records.append(Record(str(image), group_of(image, base, regex), order, labels, pending))
        finish(out, records, options, report)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    return report
