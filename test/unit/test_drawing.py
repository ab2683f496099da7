"""Annotated frames show a box and label for each face and leave the input untouched."""

from __future__ import annotations

import numpy as np

from face_expression.core.detections import Detection
from face_expression.core.drawing import annotate, colour


def test_boxes_are_drawn_in_the_class_colour_on_a_copy() -> None:
    image = np.zeros((200, 300, 3), np.uint8)
    det = Detection(50, 60, 150, 180, 1, "smile", 0.87)
    out = annotate(image, [det])
    assert image.max() == 0, "input frame must not be modified"
    assert out.shape == image.shape
    assert tuple(out[120, 50]) == colour(1)  # left edge of the box
    assert out[100:170, 60:140].max() == 0, "inside of the box stays clear"
    assert (out[:60, 50:150] != 0).any(), "label above the box"


def test_the_label_leads_with_the_track_id() -> None:
    """ "a3 smile 0.87" is wider than "smile 0.87": the label's filled background reaches further."""
    image = np.zeros((200, 300, 3), np.uint8)
    plain = annotate(image, [Detection(50, 60, 150, 180, 1, "smile", 0.87)])
    tracked = annotate(image, [Detection(50, 60, 150, 180, 1, "smile", 0.87, "a3")])

    def label_right_edge(out: np.ndarray) -> int:
        return int(np.nonzero((out[40:58] == colour(1)).all(axis=2).any(axis=0))[0].max())

    assert label_right_edge(tracked) > label_right_edge(plain) + 10


def test_no_detections_returns_equal_image() -> None:
    image = np.full((50, 60, 3), 9, np.uint8)
    assert np.array_equal(annotate(image, []), image)
