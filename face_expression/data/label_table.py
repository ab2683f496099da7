"""The plain CSV between the teachers and the person checking them: one row per face.

``face-expression-label propose`` writes it; people correct it in any spreadsheet or text editor
(only the ``label`` column needs touching, other columns may be sorted, added or left as they are);
``face-expression-label apply`` reads it back. Columns:

``id``            the face's number, shown under its tile on the contact sheets
``image``         the image file (relative paths are relative to the CSV's folder: sampled video
                  frames are saved under ``frames/`` beside it)
``face``          the face's index in its image
``x1 y1 x2 y2``   the box in image pixels
``face_score``    CenterFace's confidence (empty for boxes taken from a data set)
``group``         images of one group (a video, a person's folder) stay in one split; rename freely
``given``         the class an input data set gave the box (empty otherwise)
``proposal``      neutral, smile or unsure (set aside for review)
``confidence``    0..1, see face_expression.data.consensus
``p_smile``       the teachers' weighted mean P(smile)
``agree``         teachers whose own vote matches the lean, out of those that answered ("3/4")
``<teacher>``     each teacher's P(smile) (haar, fer, ...); empty where it gave no answer
``label``         yours: empty = take the proposal; a class name; ``unsure`` = leave the image out;
                  ``no-face`` = not a face (the box is dropped, the image kept)
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from face_expression.data.spec import DataSetError, listing

HEAD = ("id", "image", "face", "x1", "y1", "x2", "y2", "face_score", "group", "given")
VERDICT = ("proposal", "confidence", "p_smile", "agree")
REQUIRED = ("id", "image", "x1", "y1", "x2", "y2", "proposal", "label")
NO_FACE = "no-face"


@dataclass
class FaceRow:
    """One face of the CSV."""

    id: int
    image: str
    face: int
    box: tuple[float, float, float, float]
    group: str = ""
    face_score: float | None = None
    given: str = ""
    proposal: str = ""
    confidence: float | None = None
    p_smile: float | None = None
    agree: str = ""
    votes: dict[str, float | None] = field(default_factory=dict)
    label: str = ""

    @property
    def final(self) -> str:
        """The label that counts: the person's, else the proposal; lower case, trimmed."""
        return (self.label.strip() or self.proposal.strip()).lower()


def _num(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def write_rows(path: Path, rows: Sequence[FaceRow], teachers: Sequence[str]) -> None:
    """Write the CSV (UTF-8, comma separated, a header line); ``teachers`` = the vote columns, in order."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow([*HEAD, *VERDICT, *teachers, "label"])
        for r in rows:
            out.writerow(
                [
                    r.id,
                    r.image,
                    r.face,
                    *(_num(v, 2) for v in r.box),
                    _num(r.face_score, 3),
                    r.group,
                    r.given,
                    r.proposal,
                    _num(r.confidence, 3),
                    _num(r.p_smile, 3),
                    r.agree,
                    *(_num(r.votes.get(t), 3) for t in teachers),
                    r.label,
                ]
            )


def _float(text: str | None) -> float | None:
    text = (text or "").strip()
    return float(text) if text else None


def read_rows(path: Path, teachers: Iterable[str] = ()) -> list[FaceRow]:
    """The rows of a (possibly hand-edited) CSV; DataSetError listing every row that cannot be read.

    Columns named in ``teachers`` are read as votes; columns this module does not know are ignored,
    so a spreadsheet may add its own (notes, say).
    """
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            raw = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataSetError(f"cannot read {path}: {exc}") from exc
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise DataSetError(
            f"{path} lacks the columns {missing}; it must be a proposals.csv written by "
            "face-expression-label propose (columns may be reordered, not renamed)"
        )
    vote_columns = [t for t in teachers if t in header]
    rows, bad, seen = [], [], set()
    for line, r in enumerate(raw, start=2):
        if not any((v or "").strip() for v in r.values() if isinstance(v, str)):
            continue  # blank line
        try:
            row = FaceRow(
                id=int(r["id"]),
                image=(r["image"] or "").strip(),
                face=int(r.get("face") or 0),
                box=tuple(float(r[k]) for k in ("x1", "y1", "x2", "y2")),  # type: ignore[arg-type]
                group=(r.get("group") or "").strip(),
                face_score=_float(r.get("face_score")),
                given=(r.get("given") or "").strip(),
                proposal=(r["proposal"] or "").strip(),
                confidence=_float(r.get("confidence")),
                p_smile=_float(r.get("p_smile")),
                agree=(r.get("agree") or "").strip(),
                votes={t: _float(r.get(t)) for t in vote_columns},
                label=(r["label"] or "").strip(),
            )
        except (TypeError, ValueError):
            bad.append(f"line {line}: {', '.join(str(r.get(k)) for k in REQUIRED)}")
            continue
        x1, y1, x2, y2 = row.box
        if not all(math.isfinite(v) for v in row.box):
            bad.append(f"line {line} (id {row.id}): the box must be finite numbers, not nan or inf")
        elif not row.image or x2 <= x1 or y2 <= y1:
            bad.append(f"line {line} (id {row.id}): no image or an empty box")
        elif row.id in seen:
            bad.append(f"line {line}: id {row.id} appears twice")
        else:
            seen.add(row.id)
            rows.append(row)
    if bad:
        raise DataSetError(
            f"{path} has rows that cannot be read (numbers expected in id, x1..y2):\n" + listing(bad)
        )
    return rows


def image_path(csv_path: Path, image: str) -> Path:
    """An ``image`` cell as a path: relative ones are relative to the CSV's folder."""
    p = Path(image).expanduser()
    return p if p.is_absolute() else (csv_path.parent / p)
