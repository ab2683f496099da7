"""The proposals CSV: what propose writes, a person edits in a spreadsheet, and apply reads back."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from face_expression.data.label_table import FaceRow, image_path, read_rows, write_rows
from face_expression.data.spec import DataSetError

TEACHERS = ("haar", "fer")


def rows() -> list[FaceRow]:
    return [
        FaceRow(
            1, "/photos/a.jpg", 0, (10.0, 20.5, 110.0, 140.25), group="/photos/a.jpg", face_score=0.93,
            proposal="smile", confidence=0.9, p_smile=0.95, agree="2/2", votes={"haar": 0.9, "fer": 1.0},
        ),
        FaceRow(
            2, "frames/001_clip_f000010.jpg", 0, (1.0, 2.0, 30.0, 40.0), group="/v/clip.mp4", face_score=0.61,
            proposal="unsure", confidence=0.1, p_smile=0.55, agree="1/2", votes={"haar": 0.2, "fer": None},
            label="neutral",
        ),
        FaceRow(
            3, "/data/x.jpg", 1, (5.0, 5.0, 50.0, 60.0), group="x", given="smile", proposal="neutral",
            confidence=0.5, p_smile=0.25, agree="2/2", votes={"haar": 0.25, "fer": 0.25}, label="no-face",
        ),
    ]  # fmt: skip


def test_rows_survive_a_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "proposals.csv"
    write_rows(path, rows(), TEACHERS)
    back = read_rows(path, TEACHERS)
    assert [(r.id, r.image, r.face, r.box, r.group, r.given, r.proposal, r.agree, r.label) for r in back] == [
        (r.id, r.image, r.face, r.box, r.group, r.given, r.proposal, r.agree, r.label) for r in rows()
    ]
    assert back[1].votes == {"haar": 0.2, "fer": None} and back[2].face_score is None
    assert back[0].p_smile == pytest.approx(0.95) and back[0].confidence == pytest.approx(0.9)
    assert [r.final for r in back] == ["smile", "neutral", "no-face"]  # the person's label wins
    text = path.read_bytes().decode()  # as written: read_text() would turn \r\n into \n
    assert "\r" not in text and text.splitlines()[0].endswith(",haar,fer,label")


def test_a_spreadsheet_may_reorder_columns_add_its_own_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "proposals.csv"
    write_rows(path, rows(), TEACHERS)
    with path.open(newline="") as fh:
        table = list(csv.DictReader(fh))
    fields = ["label", "note", *reversed([f for f in table[0] if f != "label"])]
    with path.open("w", newline="", encoding="utf-8-sig") as fh:  # Excel writes a BOM
        out = csv.DictWriter(fh, fields)
        out.writeheader()
        for r in table:
            out.writerow({**r, "note": "checked", "label": " Smile " if r["id"] == "1" else r["label"]})
        fh.write(",,,,,,,,,,,,,,,,,,,\n")
    back = read_rows(path, TEACHERS)
    assert [r.id for r in back] == [1, 2, 3] and back[0].final == "smile"


def test_rows_that_cannot_be_read_are_all_listed(tmp_path: Path) -> None:
    path = tmp_path / "proposals.csv"
    write_rows(path, rows(), TEACHERS)
    text = (
        path.read_text()
        .replace(",10.00,20.50,", ",ten,20.50,")
        .replace("/data/x.jpg,1,5.00,5.00,50.00", "/data/x.jpg,1,5.00,5.00,4.00")
    )
    path.write_text(text + "2,/photos/b.jpg,0,1,1,9,9,,,,smile,,,,,,\n")
    with pytest.raises(DataSetError) as err:
        read_rows(path, TEACHERS)
    message = str(err.value)
    assert (
        "line 2" in message
        and "id 3" in message
        and "empty box" in message
        and "id 2 appears twice" in message
    )


def test_a_file_that_is_not_a_proposals_csv_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("image_id,face,x1,y1,x2,y2,label\nastronaut,0,1,2,3,4,smile\n")
    with pytest.raises(DataSetError, match=r"lacks the columns \['id', 'image', 'proposal'\]"):
        read_rows(path)


def test_relative_images_are_relative_to_the_csv(tmp_path: Path) -> None:
    csv_path = tmp_path / "labelling" / "proposals.csv"
    assert image_path(csv_path, "frames/a.jpg") == tmp_path / "labelling" / "frames" / "a.jpg"
    assert image_path(csv_path, "/abs/b.png") == Path("/abs/b.png")


def test_a_box_of_nan_or_inf_is_named(tmp_path: Path) -> None:
    """A hand-edited nan/inf slips past `x2 <= x1` and would write NaN labels for training."""
    path = tmp_path / "proposals.csv"
    write_rows(path, rows(), TEACHERS)
    path.write_text(path.read_text().replace(",10.00,20.50,", ",nan,20.50,"))
    with pytest.raises(DataSetError, match="finite numbers, not nan or inf"):
        read_rows(path, TEACHERS)
