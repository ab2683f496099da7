"""Frames from a camera index, a video file or a folder of images, as BGR arrays.

ROS-free, so the camera node, the demo and the tests read frames the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


class SourceError(RuntimeError):
    """The source cannot be opened; the message says what to check."""


class FrameSource:
    """Iterates BGR frames; ``loop`` restarts files and folders at their end."""

    def __init__(self, source: str, loop: bool = False, width: int = 0, height: int = 0) -> None:
        self.source = source
        self.loop = loop
        self.width, self.height = width, height
        self._images: list[Path] = []
        self.unreadable: list[Path] = []
        self._capture: cv2.VideoCapture | None = None
        self.is_device = source.isdigit()
        path = Path(source).expanduser()
        if self.is_device:
            self._capture = self._open_device(int(source))
        elif path.is_dir():
            self._images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not self._images:
                raise SourceError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in folder {path}")
        elif path.is_file():
            self._capture = cv2.VideoCapture(str(path))
            if not self._capture.isOpened():
                raise SourceError(f"cannot open video file {path}: not a video OpenCV can decode")
        else:
            raise SourceError(
                f"source {source!r} is neither a camera index (e.g. 0), a video file nor a folder of images"
            )

    def _open_device(self, index: int) -> cv2.VideoCapture:
        cap = cv2.VideoCapture(index)
        if not cap.isOpened():
            raise SourceError(
                f"cannot open camera {index} (/dev/video{index}): check that it exists, that you may "
                "read it (group 'video') and that no other program holds it"
            )
        if self.width and self.height:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        return cap

    @property
    def native_fps(self) -> float:
        """The video's own frame rate, 0 when unknown (folders, some cameras)."""
        if self._capture is None:
            return 0.0
        fps = float(self._capture.get(cv2.CAP_PROP_FPS) or 0.0)
        return fps if 0.0 < fps < 1000.0 else 0.0

    def __iter__(self) -> Iterator[np.ndarray]:
        while True:
            produced = 0
            for frame in self._images_once() if self._images else self._capture_once():
                produced += 1
                yield frame
            if not self.loop or self.is_device or produced == 0:
                return
            if self._capture is not None:
                self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)

    def _images_once(self) -> Iterator[np.ndarray]:
        for path in self._images:
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                if path not in self.unreadable:
                    self.unreadable.append(path)
                continue
            yield image

    def _capture_once(self) -> Iterator[np.ndarray]:
        assert self._capture is not None
        while True:
            ok, frame = self._capture.read()
            if not ok:
                return
            yield frame

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
