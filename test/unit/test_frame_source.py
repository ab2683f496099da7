"""Frames from video files and image folders; clear errors for sources that cannot be opened."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from face_expression.core.frame_source import FrameSource, SourceError
from face_expression.core.resources import sample_stream_path


def test_bundled_clip_has_120_real_frames() -> None:
    src = FrameSource(str(sample_stream_path()))
    frames = list(src)
    assert len(frames) == 120 and frames[0].shape == (144, 176, 3)
    assert abs(src.native_fps - 29.97) < 0.1


def test_folder_in_name_order_skipping_unreadable(tmp_path: Path, astronaut: np.ndarray) -> None:
    cv2.imwrite(str(tmp_path / "b.png"), astronaut)
    cv2.imwrite(str(tmp_path / "a.jpg"), cv2.resize(astronaut, (64, 64)))
    (tmp_path / "c.png").write_bytes(b"not an image")
    (tmp_path / "notes.txt").write_text("ignored")
    src = FrameSource(str(tmp_path))
    frames = list(src)
    assert [f.shape for f in frames] == [(64, 64, 3), (512, 512, 3)]
    assert src.unreadable == [tmp_path / "c.png"]


def test_loop_restarts_the_folder(tmp_path: Path, astronaut: np.ndarray) -> None:
    cv2.imwrite(str(tmp_path / "a.png"), astronaut)
    frames = iter(FrameSource(str(tmp_path), loop=True))
    assert all(next(frames) is not None for _ in range(5))


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda p: str(p / "missing.mp4"), "neither a camera index"),
        (lambda p: str(p), "no images"),
        (lambda p: (p / "fake.mp4").write_text("x") and str(p / "fake.mp4"), "cannot open video file"),
        (lambda p: "97", "cannot open camera 97"),
    ],
)
def test_unopenable_sources_say_why(tmp_path: Path, make, words: str) -> None:
    with pytest.raises(SourceError, match=words):
        FrameSource(make(tmp_path))
