"""face-expression-label on real photos and a real clip: propose, correct the CSV by hand, apply.

Runs with the Haar teacher only (in every OpenCV 4 wheel), so it is the same everywhere; the other
teachers are checked on the same photos in test_teachers.py where they are installed.
"""

from __future__ import annotations

import csv
import shutil
import sys
from pathlib import Path

import cv2
import pytest
from file_tree import tree_hash

from face_expression.cli import label as cli
from face_expression.core.geometry import iou
from face_expression.core.resources import sample_stream_path
from face_expression.data.label_table import read_rows
from face_expression.data.labels import format_labels, label_path, pixel_label, read_labels
from face_expression.data.spec import check, load, write_roboflow_yaml

CLIP = sample_stream_path()  # the bundled carphone clip: one person, neutral or talking


@pytest.fixture(scope="module")
def proposed(tmp_path_factory: pytest.TempPathFactory, photos) -> tuple[Path, Path, str]:
    """Photos folder + clip -> labelling folder (Haar only); returns (inputs, output, tree hash before)."""
    root = tmp_path_factory.mktemp("labelling")
    inputs = root / "in"
    inputs.mkdir()
    for name in ("astronaut", "grace_hopper", "zidane"):
        shutil.copy(photos[name].path, inputs / photos[name].path.name)
    before = tree_hash(inputs)
    out = root / "proposed"
    rc = cli.main(
        ["propose", str(inputs), str(CLIP), "--every", "40", "--teachers", "haar", "-o", str(out), "--quiet"]
    )
    assert rc == 0
    return inputs, out, before


def test_propose_writes_a_row_per_face_with_the_checked_boxes(proposed, photos) -> None:
    inputs, out, before = proposed
    assert tree_hash(inputs) == before, "the inputs were modified"
    assert sorted(p.name for p in out.iterdir()) == ["frames", "labelling.json", "proposals.csv", "sheets"]
    rows = read_rows(out / "proposals.csv", ["haar"])
    for name in ("astronaut", "grace_hopper", "zidane"):
        mine = [r for r in rows if Path(r.image).name == photos[name].path.name]
        for box, _ in photos[name].faces:
            assert max((iou(box, r.box) for r in mine), default=0) > 0.5, f"{name}: face {box} not proposed"
    frames = [r for r in rows if r.image.startswith("frames/")]
    assert len(frames) == 3 and all((out / r.image).is_file() for r in frames)  # 120 frames, every 40th
    assert {r.group for r in frames} == {str(CLIP.resolve())}
    assert all(r.agree in ("0/1", "1/1") and r.votes["haar"] is not None for r in rows)
    assert [r.id for r in rows] == list(range(1, len(rows) + 1))
    astronaut = next(r for r in rows if r.image.endswith("astronaut.png"))
    assert astronaut.proposal == "smile" and astronaut.p_smile > 0.5  # a clear smile, even for Haar


def test_propose_sheets_show_the_faces_set_aside_and_each_proposed_label(proposed) -> None:
    _, out, _ = proposed
    rows = read_rows(out / "proposals.csv")
    kinds = {r.proposal for r in rows}
    sheets = sorted(p.name for p in (out / "sheets").glob("*.png"))
    expected = {"unsure": "review_001.png", "smile": "smile_001.png", "neutral": "neutral_001.png"}
    assert sheets == sorted(expected[k] for k in kinds)
    for name in sheets:
        sheet = cv2.imread(str(out / "sheets" / name))
        assert sheet is not None and sheet.shape[1] == 1120 and sheet.std() > 10


def corrected(out: Path, photos) -> Path:
    """The CSV as a person leaves it: grace hopper neutral, zidane's talking face unsure, one frame
    marked as no face, everything else as proposed. Edited as text, not through the package."""
    path = out / "proposals.csv"
    with path.open(newline="") as fh:
        table = list(csv.DictReader(fh))
    zidane_other = photos["zidane"].faces[1][0]
    first_frame = next(r for r in table if r["image"].startswith("frames/"))
    for r in table:
        box = tuple(float(r[k]) for k in ("x1", "y1", "x2", "y2"))
        if r["image"].endswith("grace_hopper.jpg"):
            r["label"] = "neutral"
        elif r["image"].endswith("zidane.jpg"):
            r["label"] = "unsure" if iou(box, zidane_other) > 0.5 else "neutral"
        elif r is first_frame:
            r["label"] = "no-face"
        elif r["proposal"] == "unsure":
            r["label"] = "neutral"  # the clip: one person, not smiling
    fixed = out.parent / "corrected.csv"
    with fixed.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, list(table[0]))
        writer.writeheader()
        writer.writerows(table)
    moved = out / "proposals_corrected.csv"  # beside proposals.csv: relative frames/ paths resolve
    shutil.copy(fixed, moved)
    return moved


def test_apply_writes_the_corrected_labels_as_a_yolo_data_set(proposed, photos, tmp_path) -> None:
    inputs, out, before = proposed
    fixed = corrected(out, photos)
    proposals_before = tree_hash(out)
    data = tmp_path / "data"
    assert cli.main(["apply", str(fixed), "-o", str(data), "--split", "100", "0", "0"]) == 0
    assert tree_hash(out) == proposals_before and tree_hash(inputs) == before

    spec = load(data)
    assert spec.names == ["neutral", "smile"]
    images = check(spec, ["train"], progress=False)["train"]
    by_name = {p.name: read_labels(label_path(p), 2) for p in images}
    assert not any("zidane" in n for n in by_name), "an image with an unsure face must be left out"
    (astro,) = (v for n, v in by_name.items() if "astronaut" in n)
    (grace,) = (v for n, v in by_name.items() if "grace" in n)
    assert [c for c, *_ in astro] == [1] and [c for c, *_ in grace] == [0]
    image = cv2.imread(str(photos["astronaut"].path))
    h, w = image.shape[:2]
    _, cx, cy, bw, bh = astro[0]
    box = ((cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h)
    assert iou(box, photos["astronaut"].faces[0][0]) > 0.5
    frames = sorted(v for n, v in by_name.items() if "carphone" in n)
    assert len(frames) == 3 and frames[0] == [] and all(f and f[0][0] == 0 for f in frames[1:])


def test_apply_refuses_labels_that_are_not_classes(proposed, tmp_path, capsys) -> None:
    _, out, _ = proposed
    path = out / "typo.csv"
    text = (out / "proposals.csv").read_text().splitlines()
    text[1] = text[1] + "smiel"  # the label column is last and empty
    path.write_text("\n".join(text) + "\n")
    try:  # beside proposals.csv (its image paths are relative to it); gone even if the test fails
        assert cli.main(["apply", str(path), "-o", str(tmp_path / "data"), "--split", "100", "0", "0"]) == 2
        assert "smiel" in capsys.readouterr().err and not (tmp_path / "data").exists()
    finally:
        path.unlink()


def test_propose_names_what_to_install_for_a_teacher_that_is_missing(
    tmp_path, monkeypatch, capsys, photos
) -> None:
    empty = tmp_path / "nothing"  # no teacher weights anywhere the command looks
    monkeypatch.setenv("FACE_EXPRESSION_TEACHERS", str(empty))
    monkeypatch.setenv("XDG_CACHE_HOME", str(empty))
    monkeypatch.setattr(sys, "prefix", str(empty))
    photo = tmp_path / "in"
    photo.mkdir()
    shutil.copy(photos["grace_hopper"].path, photo)
    assert cli.main(["propose", str(photo), "--teachers", "haar,fer", "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "face-expression-label teachers --fetch fer" in err and not (tmp_path / "out").exists()
    assert cli.main(["propose", str(photo), "--teachers", "smiles", "-o", str(tmp_path / "out")]) == 2
    assert "unknown teachers ['smiles']" in capsys.readouterr().err


def test_propose_never_writes_into_its_inputs(proposed, capsys) -> None:
    inputs, _, before = proposed
    assert cli.main(["propose", str(inputs), "--teachers", "haar", "-o", str(inputs / "out"), "--quiet"]) == 2
    assert "overlaps the input" in capsys.readouterr().err and tree_hash(inputs) == before


def test_propose_on_a_roboflow_export_uses_its_boxes_and_shows_its_classes(photos, tmp_path) -> None:
    export = tmp_path / "export"
    for split, name in (("train", "astronaut"), ("valid", "zidane")):
        folder = export / split
        (folder / "images").mkdir(parents=True)
        (folder / "labels").mkdir()
        image = cv2.imread(str(photos[name].path))
        cv2.imwrite(str(folder / "images" / f"{name}_jpg.rf.0123abcd.jpg"), image)
        h, w = image.shape[:2]
        labels = [pixel_label(0 if e != "smile" else 1, box, w, h) for box, e in photos[name].faces]
        (folder / "labels" / f"{name}_jpg.rf.0123abcd.txt").write_text(format_labels(labels))
    write_roboflow_yaml(export, ["neutral", "smile"], ["train", "val"])
    before = tree_hash(export)
    out = tmp_path / "out"
    assert cli.main(["propose", str(export), "--teachers", "haar", "-o", str(out), "--quiet"]) == 0
    assert tree_hash(export) == before
    rows = read_rows(out / "proposals.csv")
    expected = [
        (box, "smile" if e == "smile" else "neutral")
        for n in ("astronaut", "zidane")
        for box, e in photos[n].faces
    ]
    assert len(rows) == len(expected)
    for row, (box, given) in zip(rows, expected):
        assert row.given == given and iou(row.box, box) > 0.99 and row.face_score is None
    assert {r.group for r in rows} == {
        "astronaut_jpg",
        "zidane_jpg",
    }  # Roboflow copies of one photo: one group
