"""The one contact-sheet renderer, as the data set's review.png and the starter's label sheets use it."""

from __future__ import annotations

import cv2
import numpy as np
import skimage.data

from face_expression.data.labels import format_labels, pixel_label
from face_expression.data.review_sheets import FaceTile, contact_sheet, face_crop, review_sheet

ASTRO_FACE = (182.0, 58.0, 270.0, 178.0)  # the astronaut's face in the 512x512 photo, checked by eye


def astronaut() -> np.ndarray:
    return cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)


def test_face_crop_is_square_centred_and_grey_outside_the_image():
    image = astronaut()
    crop, (a, b) = face_crop(image, ASTRO_FACE, 1.3)
    assert crop.shape == (156, 156, 3) and (a, b) == (148, 40)
    assert np.array_equal(crop, image[40:196, 148:304])
    edge, (a, b) = face_crop(image, (0, 0, 40, 40), 2.0)  # a face in the corner: half the crop is padding
    assert edge.shape == (80, 80, 3) and (a, b) == (-20, -20)
    assert (edge[:20] == 114).all() and np.array_equal(edge[20:, 20:], image[:60, :60])


def test_grid_layout_captions_title_and_box():
    image = astronaut()
    tiles = [FaceTile(image, ASTRO_FACE, f"astro:{i}") for i in range(13)]
    sheet = contact_sheet(tiles, cols=12, tile=96)  # the starter's label sheets
    assert sheet.shape == (2 * (96 + 16), 12 * 96, 3)
    expected = cv2.resize(face_crop(image, ASTRO_FACE, 1.3)[0], (96, 96), interpolation=cv2.INTER_AREA)
    assert np.array_equal(sheet[112:208, 0:96], expected)  # the 13th face starts the second row
    assert (sheet[208:224, 0:96] < 128).any()  # its caption under it
    assert (sheet[112:224, 96:] == 255).all()  # nothing else on that row
    titled = contact_sheet(tiles[:2], cols=8, tile=112, margin=1.5, title="1: smile (2 faces)", mark_box=True)
    assert titled.shape == (28 + 112 + 16, 8 * 112, 3)
    assert (titled[:28, :200] < 128).any()  # the title
    green = (titled[28:140, :112, 1] > 150) & (titled[28:140, :112, 2] < 80) & (titled[28:140, :112, 0] < 80)
    assert green.sum() > 200  # the labelled box drawn on the crop
    assert contact_sheet([], cols=8, tile=112, title="0: neutral (0 faces)").shape == (156, 896, 3)


def test_review_sheet_has_a_block_per_class_and_skips_flipped_copies(tmp_path):
    image = astronaut()
    for split in ("train", "valid"):
        (tmp_path / split / "images").mkdir(parents=True)
        (tmp_path / split / "labels").mkdir(parents=True)
        for stem in ("a", "a_flip"):
            cv2.imwrite(str(tmp_path / split / "images" / f"{stem}.jpg"), image)
            (tmp_path / split / "labels" / f"{stem}.txt").write_text(
                format_labels([pixel_label(1, ASTRO_FACE, 512, 512)])
            )
    out = review_sheet(tmp_path, ["neutral", "smile"], tmp_path / "review.png")
    sheet = cv2.imread(str(out))
    # neutral: title and one empty row; smile: title and one row of two faces (flips left out)
    assert sheet.shape == (2 * (28 + 112 + 16), 8 * 112, 3)
    smile = sheet[156 + 28 : 156 + 28 + 112]
    assert (smile[:, :224] != 255).any() and (smile[:, 224:] == 255).all()
    assert (sheet[28:140] == 255).all()
