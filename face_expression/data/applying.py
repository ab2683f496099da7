"""face-expression-label apply: the corrected proposals.csv -> a split YOLO data set (Roboflow layout).

Each face's label is the ``label`` column where a person filled it, else the teachers' proposal.
An image with any face still ``unsure`` (or without a label) is left out whole: its other faces
are fine, but leaving that face unlabelled would teach the detector that it is background. Faces
marked ``no-face`` are dropped and their image kept, so a false face becomes a hard negative; an
image left with no face at all is kept as a background image. Images are copied (or resized) into
the new folder, never changed where they are; the split keeps each ``group`` in one split, as
``face-expression-dataset`` does, and the result is what ``face-expression-train`` reads.
"""

from __future__ import annotations

import shutil
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2

from face_expression.data.consensus import NEUTRAL, SMILE, UNSURE
from face_expression.data.label_table import NO_FACE, FaceRow, image_path, read_rows
from face_expression.data.labels import Label, pixel_label
from face_expression.data.spec import DataSetError, image_problem, listing
from face_expression.data.splitting import Record, SplitOptions, finish
from face_expression.data.writing import BuildReport, prepare_output, slug, write_image


@dataclass
class ApplyReport:
    """The data set written, and what was left out of it."""

    build: BuildReport
    left_out: list[str] = field(default_factory=list)  #: images with a face still unsure
    dropped_faces: int = 0  #: boxes marked no-face
    background: int = 0  #: images kept without any face


def class_names(rows: Sequence[FaceRow], names: Sequence[str] | None) -> list[str]:
    """``names`` if given, else neutral, smile and any other label used (sorted)."""
    if names:
        return list(names)
    extra = sorted({r.final for r in rows} - {NEUTRAL, SMILE, UNSURE, NO_FACE, ""})
    return [NEUTRAL, SMILE, *extra]


def check_labels(rows: Sequence[FaceRow], names: Sequence[str]) -> None:
    """Raise DataSetError listing every face whose label is none of the classes, unsure or no-face."""
    allowed = {*names, UNSURE, NO_FACE, ""}
    bad = [f"id {r.id}: '{r.label or r.proposal}' ({r.image})" for r in rows if r.final not in allowed]
    if bad:
        raise DataSetError(
            f"labels that are not a class ({', '.join(names)}), '{UNSURE}' or '{NO_FACE}'; fix them in the "
            "CSV or pass --names with every class:\n" + listing(bad)
        )


def apply_labels(
    csv_path: Path, out: Path, names: Sequence[str] | None = None, options: SplitOptions | None = None
) -> ApplyReport:
    """Write the data set of the labels in ``csv_path``; the CSV and the images are not changed."""
    options = options or SplitOptions()
    csv_path = Path(csv_path).expanduser().resolve()
    rows = read_rows(csv_path)
    if not rows:
        raise DataSetError(f"{csv_path} lists no faces")
    names = class_names(rows, names)
    check_labels(rows, names)
    by_image: dict[str, list[FaceRow]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: r.id):
        by_image[row.image].append(row)
    paths = {cell: image_path(csv_path, cell).resolve() for cell in by_image}
    problems = [p for p in (image_problem(path) for path in paths.values()) if p]
    if problems:
        raise DataSetError(
            "images the CSV names that cannot be read (moved or deleted since propose?):\n"
            + listing(problems)
        )
    sources = {csv_path.parent, *(p.parent for p in paths.values())}
    out = prepare_output(out, options.force, sorted(sources))
    report = ApplyReport(
        BuildReport(names=names, settings={"labels_csv": str(csv_path), **options.settings()})
    )
    try:
        records = []
        for order, (cell, faces) in enumerate(by_image.items()):
            if any(f.final in (UNSURE, "") for f in faces):
                report.left_out.append(
                    f"{cell} (id {', '.join(str(f.id) for f in faces if f.final in (UNSURE, ''))})"
                )
                continue
            src = paths[cell]
            image = cv2.imread(str(src), cv2.IMREAD_COLOR)
            h, w = image.shape[:2]
            labels: list[Label] = [
                pixel_label(names.index(f.final), f.box, w, h) for f in faces if f.final != NO_FACE
            ]
            report.dropped_faces += sum(f.final == NO_FACE for f in faces)
            report.background += not labels
            pending = out / ".pending" / f"{order:06d}_{slug(src.stem)}{src.suffix.lower()}"
            if options.resize:
                pending = pending.with_suffix(".jpg")
                write_image(pending, cv2.resize(image, options.resize))
            else:
                shutil.copyfile(src, pending)
            records.append(Record(str(src), faces[0].group or str(src), order, labels, pending))
        if not records:
            raise DataSetError(
                "every image still has an unsure face; label them in the CSV's label column first "
                "(see the review sheets)"
            )
        report.build.settings["left_out_unsure"] = report.left_out
        finish(out, records, options, report.build)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    return report
