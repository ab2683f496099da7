"""The one YOLO label-line format: written by label_line/format_labels, read back by the same module."""

from __future__ import annotations

import pytest

from face_expression.data.labels import (
    LabelLineError,
    format_labels,
    label_line,
    parse_label_line,
    pixel_label,
    read_labels,
)
from face_expression.data.spec import LabelProblems


def test_label_line_format_is_pinned_and_round_trips(tmp_path):
    label = (1, 0.4375, 0.2304687, 1 / 6, 0.23)
    assert label_line(label) == "1 0.437500 0.230469 0.166667 0.230000"
    assert parse_label_line(label_line(label), 2) == pytest.approx((1, 0.4375, 0.230469, 0.166667, 0.23))
    labels = [label, (0, 0.5, 0.5, 1.0, 1.0)]
    path = tmp_path / "a.txt"
    path.write_text(format_labels(labels))
    assert (
        path.read_text() == "1 0.437500 0.230469 0.166667 0.230000\n0 0.500000 0.500000 1.000000 1.000000\n"
    )
    assert read_labels(path, 2) == [parse_label_line(line, 2) for line in path.read_text().splitlines()]
    assert format_labels(read_labels(path, 2)) == path.read_text()  # a second round trip changes nothing


def test_pixel_label_clips_to_the_image():
    # the astronaut's face in the 512x512 photo, and a box running off the right and bottom edges
    assert pixel_label(1, (182, 58, 270, 178), 512, 512) == pytest.approx(
        (1, 226 / 512, 118 / 512, 88 / 512, 120 / 512)
    )
    assert pixel_label(0, (400, 300, 700, 600), 640, 480) == pytest.approx(
        (0, 520 / 640, 390 / 480, 240 / 640, 180 / 480)
    )


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("smile 0.5 0.5 0.1 0.1", "malformed"),
        ("0 0.5 0.5 0.1", "malformed"),
        ("1.5 0.5 0.5 0.1 0.1", "malformed"),
        ("2 0.5 0.5 0.1 0.1", "bad_class"),
        ("0 0.5 1.2 0.1 0.1", "bad_coords"),
        ("0 0.98 0.5 0.1 0.1", "bad_coords"),
    ],
)
def test_unusable_lines_are_sorted_into_problems(tmp_path, line, kind):
    with pytest.raises(LabelLineError) as err:
        parse_label_line(line, 2)
    assert err.value.kind == kind
    path = tmp_path / "bad.txt"
    path.write_text(f"0 0.5 0.5 0.2 0.2\n{line}\n")
    problems = LabelProblems()
    assert len(read_labels(path, 2, problems)) == 1
    assert getattr(problems, kind) == [f"{path}:2: {line}"]
