"""Raw camera buffers to BGR arrays and back, without ROS.

The model is fed BGR (OpenCV's order, which Ultralytics assumes for numpy input), so every
decoder here returns an ``HxWx3`` uint8 BGR array. A BGR/RGB swap silently costs accuracy,
so the conversion lives in one place and is tested per encoding.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: encoding -> bytes per pixel, as in sensor_msgs/image_encodings.
BYTES_PER_PIXEL: dict[str, int] = {
    "bgr8": 3,
    "rgb8": 3,
    "bgra8": 4,
    "rgba8": 4,
    "mono8": 1,
    "yuv422_yuy2": 2,  # usb_cam's default pixel_format "yuyv"
    "yuv422": 2,  # UYVY, usb_cam's pixel_format "uyvy"
}

SUPPORTED_ENCODINGS: tuple[str, ...] = tuple(BYTES_PER_PIXEL)

_TO_BGR: dict[str, int | None] = {
    "bgr8": None,
    "rgb8": cv2.COLOR_RGB2BGR,
    "bgra8": cv2.COLOR_BGRA2BGR,
    "rgba8": cv2.COLOR_RGBA2BGR,
    "mono8": cv2.COLOR_GRAY2BGR,
    "yuv422_yuy2": cv2.COLOR_YUV2BGR_YUY2,
    "yuv422": cv2.COLOR_YUV2BGR_UYVY,
}


class FrameError(ValueError):
    """A frame that cannot be decoded; the message names the problem and the fix."""


@dataclass(frozen=True)
class RawFrame:
    """The fields of a sensor_msgs/Image that decoding needs, free of ROS types."""

    data: bytes | bytearray | memoryview | np.ndarray
    encoding: str
    width: int
    height: int
    step: int


def describe(frame: RawFrame) -> str:
    """A one-line summary used in every error message about a frame."""
    return (
        f"encoding={frame.encoding!r} width={frame.width} height={frame.height} "
        f"step={frame.step} data={_nbytes(frame.data)} bytes"
    )


def _nbytes(data: bytes | bytearray | memoryview | np.ndarray) -> int:
    if isinstance(data, np.ndarray):
        return int(data.nbytes)
    return len(memoryview(data).cast("B"))


def validate(frame: RawFrame) -> int:
    """Check a frame's geometry; return its bytes per pixel or raise FrameError."""
    bpp = BYTES_PER_PIXEL.get(frame.encoding)
    if bpp is None:
        raise FrameError(
            f"unsupported image encoding ({describe(frame)}); supported: "
            f"{', '.join(SUPPORTED_ENCODINGS)}. Configure the camera driver to publish one of "
            "them (usb_cam: pixel_format rgb8 or yuyv)."
        )
    if frame.width <= 0 or frame.height <= 0:
        raise FrameError(f"image has zero width or height ({describe(frame)}); frame dropped.")
    if frame.step < frame.width * bpp:
        raise FrameError(
            f"row step is smaller than width x {bpp} bytes per pixel ({describe(frame)}); "
            "the publisher sets a wrong step."
        )
    if frame.encoding.startswith("yuv422") and frame.width % 2:
        raise FrameError(f"yuv422 images need an even width ({describe(frame)}).")
    expected = frame.step * frame.height
    if _nbytes(frame.data) != expected:
        raise FrameError(
            f"data length disagrees with step x height = {expected} bytes ({describe(frame)}); "
            "the message is truncated or its step/height are wrong."
        )
    return bpp


def decode(frame: RawFrame) -> np.ndarray:
    """Decode a frame to an HxWx3 BGR uint8 array.

    ``bgr8`` without row padding is returned as a read-only view of the buffer (no copy);
    every other case copies exactly once, in the OpenCV colour conversion.
    """
    bpp = validate(frame)
    buf = np.frombuffer(frame.data, dtype=np.uint8)
    rows = buf.reshape(frame.height, frame.step)
    pixels = rows[:, : frame.width * bpp]
    channels = bpp if frame.encoding != "mono8" else 1
    if frame.encoding.startswith("yuv422"):
        image = pixels.reshape(frame.height, frame.width, 2)
    elif channels == 1:
        image = pixels
    else:
        image = pixels.reshape(frame.height, frame.width, channels)
    code = _TO_BGR[frame.encoding]
    if code is None:
        return image if image.flags.c_contiguous else np.ascontiguousarray(image)
    if not image.flags.c_contiguous and frame.encoding.startswith("yuv422"):
        image = np.ascontiguousarray(image)
    return cv2.cvtColor(image, code)


def encode(image_bgr: np.ndarray, encoding: str = "bgr8") -> tuple[np.ndarray, int]:
    """Encode a BGR image for publishing; return (contiguous uint8 array, step)."""
    if image_bgr.ndim != 3 or image_bgr.shape[2] != 3 or image_bgr.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 BGR image, got {image_bgr.shape} {image_bgr.dtype}")
    if encoding == "bgr8":
        out = np.ascontiguousarray(image_bgr)
    elif encoding == "rgb8":
        out = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
    elif encoding == "mono8":
        out = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)
    else:
        raise ValueError(f"cannot encode to {encoding!r}; use bgr8, rgb8 or mono8")
    return out, int(out.strides[0])
