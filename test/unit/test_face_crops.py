"""Face crops: fer's expression crop (square, offsets, grayscale, [-1, 1]) and the ROS4HRI square crop."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from face_expression.core.face_crops import (
    cut_square,
    expression_crop,
    expression_crops,
    expression_window,
    square_crop,
)


def fer_reference(gray: np.ndarray, x: int, y: int, w: int, h: int) -> np.ndarray:
    """fer 25.10.3's FER.detect_emotions on one (x, y, w, h) box, step by step (pad, tosquare, offsets)."""
    pad = 40
    bottom = gray[-2:, :]
    padded = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=cv2.mean(bottom)[0])
    if h > w:
        x, w = x - (h - w) // 2, h
    elif w > h:
        y, h = y - (w - h) // 2, w
    x1, x2, y1, y2 = x - 10 + pad, x + w + 10 + pad, y - 10 + pad, y + h + 10 + pad
    face = cv2.resize(padded[max(0, y1) : y2, max(0, x1) : x2], (64, 64)).astype(np.float32)
    return (face / 255.0 - 0.5) * 2.0


@pytest.fixture(scope="module")
def gray() -> np.ndarray:
    rng = np.random.default_rng(0)
    return cv2.GaussianBlur(rng.integers(0, 256, (240, 320), dtype=np.uint8), (0, 0), 3)


@pytest.mark.parametrize("box", [(100, 60, 180, 140), (90, 50, 150, 170), (60, 100, 200, 140)])
def test_interior_face_matches_fers_own_preprocessing(gray: np.ndarray, box: tuple[int, ...]) -> None:
    """Square, even boxes away from the edges: the same pixels as fer's code path."""
    x1, y1, x2, y2 = box
    ours = expression_crop(gray, box)
    assert ours.shape == (64, 64) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, fer_reference(gray, x1, y1, x2 - x1, y2 - y1), atol=1e-6)


def test_window_is_squared_on_the_longer_side_around_the_centre_with_10_px_more() -> None:
    assert expression_window((100, 60, 140, 140)) == (70, 50, 100)  # 40x80: square 80, centre (120, 100)
    assert expression_window((10, 20, 70, 40)) == (0, -10, 80)  # 60x20: square 60, centre (40, 30)


def test_colour_and_gray_frames_give_the_same_crop(gray: np.ndarray) -> None:
    bgr = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    np.testing.assert_array_equal(
        expression_crop(bgr, (30, 40, 110, 130)), expression_crop(gray, (30, 40, 110, 130))
    )


def test_face_at_the_corner_keeps_its_centre_and_black_outside() -> None:
    white = np.full((100, 100), 255, np.uint8)
    crop = expression_crop(white, (0, 0, 40, 40))  # window (-10, -10) side 60: 1/6 of it outside
    assert crop.min() == -1.0 and crop.max() == 1.0
    assert (crop[:9, :] == -1.0).all() and (crop[:, :9] == -1.0).all()
    assert (crop[12:, 12:] == 1.0).all()


def test_crops_stack_and_an_empty_frame_gives_none(gray: np.ndarray) -> None:
    boxes = [(10, 10, 50, 50), (200, 100, 260, 180)]
    stacked = expression_crops(gray, boxes)
    assert stacked.shape == (2, 64, 64)
    np.testing.assert_array_equal(stacked[1], expression_crop(gray, boxes[1]))
    assert expression_crops(gray, []).shape == (0, 64, 64)
    assert expression_crops(gray, boxes, side=48).shape == (2, 48, 48)


def test_cut_square_pads_with_zero_and_keeps_the_pixels_inside() -> None:
    image = np.arange(1, 26, dtype=np.uint8).reshape(5, 5)
    out = cut_square(image, -1, 3, 3)
    assert out.tolist() == [[0, 16, 17], [0, 21, 22], [0, 0, 0]]
    assert cut_square(image, 10, 10, 2).tolist() == [[0, 0], [0, 0]]


def test_hri_square_crop_centres_the_face() -> None:
    image = np.zeros((100, 200, 3), np.uint8)
    image[40:60, 90:110] = 255  # a 20x20 white face
    crop = square_crop(image, (90.0, 40.0, 110.0, 60.0), 64)
    assert crop.shape == (64, 64, 3) and crop.min() == 255
    wide = square_crop(image, (80.0, 45.0, 120.0, 55.0), 40)  # 40x10 box -> 40x40 square, centred
    assert wide.shape == (40, 40, 3)
    assert wide[20, 20].tolist() == [255, 255, 255] and wide[0, 0].tolist() == [0, 0, 0]
