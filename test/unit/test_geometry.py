"""Letterbox geometry matches Ultralytics, and boxes map back to camera pixels exactly."""

from __future__ import annotations

import numpy as np
import pytest
from ultralytics.data.augment import LetterBox

from face_expression.core.detections import Detection, to_detections
from face_expression.core.geometry import Letterbox, clip_boxes, iou, match_boxes


@pytest.mark.parametrize(
    ("w", "h", "imgsz"), [(640, 480, 640), (176, 144, 320), (1280, 720, 640), (512, 600, 416)]
)
def test_letterbox_pixels_match_ultralytics(w: int, h: int, imgsz: int) -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    ours = Letterbox.for_imgsz(w, h, imgsz).apply(image)
    theirs = LetterBox((imgsz, imgsz), auto=True, stride=32)(image=image)
    assert ours.shape == theirs.shape
    assert np.array_equal(ours, theirs)


def test_camera_4_3_at_640_needs_no_padding() -> None:
    lb = Letterbox.for_imgsz(640, 480, 640)
    assert (lb.dst_w, lb.dst_h, lb.gain, lb.left, lb.top) == (640, 480, 1.0, 0, 0)


def test_undo_maps_model_boxes_back_to_source_pixels() -> None:
    lb = Letterbox.fit(1280, 720, 640, 640)  # gain 0.5, 140 px bars top and bottom
    assert (lb.gain, lb.left, lb.top) == (0.5, 0, 140)
    src = np.array([[100.0, 50.0, 300.0, 250.0]])
    model = src * lb.gain + [lb.left, lb.top, lb.left, lb.top]
    assert np.allclose(lb.undo(model), src)


def test_undo_clips_to_the_image() -> None:
    lb = Letterbox.fit(200, 100, 320, 320)
    out = lb.undo(np.array([[-50.0, 0.0, 400.0, 330.0]]))
    assert out.tolist() == [[0.0, 0.0, 200.0, 100.0]]


def test_reused_buffer_is_overwritten_completely() -> None:
    lb = Letterbox.fit(100, 50, 128, 128)
    buf = np.zeros((128, 128, 3), np.uint8)
    out = lb.apply(np.full((50, 100, 3), 7, np.uint8), buf)
    assert out is buf
    assert out[0, 0, 0] == 114 and out[64, 64, 0] == 7


def test_to_detections_names_classes_and_drops_empty_boxes() -> None:
    xyxy = clip_boxes(np.array([[10, 10, 50, 60], [700, 10, 800, 60]]), 640, 480)
    dets = to_detections(xyxy, np.array([0.9, 0.8]), np.array([1, 0]), {0: "neutral", 1: "smile"})
    assert dets == [Detection(10, 10, 50, 60, 1, "smile", pytest.approx(0.9))]
    assert dets[0].center == (30, 35) and dets[0].size == (40, 50)


def test_iou() -> None:
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0


def test_matching_takes_the_highest_iou_first_not_the_highest_score() -> None:
    """The two old matchers disagreed here; eval and the accuracy benchmark now share this rule."""
    truth = [(0, 0, 100, 100), (90, 0, 190, 100)]
    predicted = [(0, 0, 100, 100), (40, 0, 140, 100)]  # exact box (score 0.3), a straddling one (0.9)
    # score first would give the straddling box face 0 and leave face 1 unmatched
    assert match_boxes(truth, predicted, 0.3, scores=[0.3, 0.9]) == [(0, 0), (1, 1)]


def test_matching_ties_go_to_the_more_confident_box_whatever_the_order() -> None:
    truth = [(0, 0, 100, 100)]
    twins = [(0, 0, 100, 90), (0, 10, 100, 100)]  # the same IoU with the face
    assert match_boxes(truth, twins, 0.5, scores=[0.4, 0.8]) == [(0, 1)]
    assert match_boxes(truth, twins[::-1], 0.5, scores=[0.8, 0.4]) == [(0, 0)]
    assert match_boxes(truth, twins, 0.5) == [(0, 0)]  # no scores: the lower index


@pytest.mark.parametrize(("w", "h"), [(4000, 10), (10, 4000), (4000, 1)])
def test_very_thin_frames_keep_at_least_one_pixel(w: int, h: int) -> None:
    lb = Letterbox.for_imgsz(w, h, 320)
    assert lb.new_w >= 1 and lb.new_h >= 1
    assert lb.apply(np.zeros((h, w, 3), np.uint8)).shape == (lb.dst_h, lb.dst_w, 3)
