"""Every supported encoding decodes to the same BGR pixels, padded rows included; bad frames fail clearly."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from face_expression.core.image_codec import (
    SUPPORTED_ENCODINGS,
    FrameError,
    RawFrame,
    decode,
    encode,
    validate,
)


def _pad_rows(pixels: np.ndarray, pad: int) -> tuple[bytes, int]:
    """Row-major bytes with ``pad`` junk bytes after every row, like drivers with aligned strides."""
    rows = pixels.reshape(pixels.shape[0], -1)
    junk = np.full((rows.shape[0], pad), 0xAB, np.uint8)
    padded = np.hstack([rows, junk]) if pad else rows
    return padded.tobytes(), padded.shape[1]


def _as(encoding: str, bgr: np.ndarray) -> np.ndarray:
    """Produce the raw pixels of ``encoding`` from a BGR image (the reverse of decode)."""
    if encoding == "bgr8":
        return bgr
    if encoding == "rgb8":
        return bgr[..., ::-1].copy()
    if encoding == "bgra8":
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA)
    if encoding == "rgba8":
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGBA)
    if encoding == "mono8":
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    # YUV 4:2:2 from BGR by BT.601 video range, as webcams send it (OpenCV has no BGR->YUYV).
    b, g, r = (bgr[..., i].astype(np.float32) / 255.0 for i in range(3))
    y = 16 + 65.481 * r + 128.553 * g + 24.966 * b
    cb = 128 - 37.797 * r - 74.203 * g + 112.0 * b
    cr = 128 + 112.0 * r - 93.786 * g - 18.214 * b
    u = (cb[:, 0::2] + cb[:, 1::2]) / 2
    v = (cr[:, 0::2] + cr[:, 1::2]) / 2
    out = np.empty((bgr.shape[0], bgr.shape[1], 2), np.float32)
    out[..., 0 if encoding == "yuv422_yuy2" else 1] = y
    chroma = out[..., 1 if encoding == "yuv422_yuy2" else 0]
    chroma[:, 0::2], chroma[:, 1::2] = u, v
    return np.clip(out.round(), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def face(astronaut: np.ndarray) -> np.ndarray:
    return cv2.resize(astronaut, (64, 48))


@pytest.mark.parametrize("pad", [0, 7])
@pytest.mark.parametrize("encoding", SUPPORTED_ENCODINGS)
def test_decode_matches_source_pixels(face: np.ndarray, encoding: str, pad: int) -> None:
    raw = _as(encoding, face)
    data, step = _pad_rows(raw, pad)
    out = decode(RawFrame(data, encoding, face.shape[1], face.shape[0], step))
    assert out.shape == face.shape and out.dtype == np.uint8
    if encoding == "mono8":
        expected = cv2.cvtColor(cv2.cvtColor(face, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
        assert np.array_equal(out, expected)
    elif encoding.startswith("yuv422"):
        # Chroma is shared by pixel pairs: compare to within the 4:2:2 loss, and check that
        # the channel order is right (a BGR/RGB swap would move the mean far more).
        assert np.abs(out.astype(int) - face.astype(int)).mean() < 12
        assert np.abs(out.mean(axis=(0, 1)) - face.mean(axis=(0, 1))).max() < 6
    else:
        assert np.array_equal(out, face), f"{encoding} decoded to the wrong pixels or channel order"


def test_rgb8_is_not_passed_through_as_bgr(face: np.ndarray) -> None:
    out = decode(RawFrame(face[..., ::-1].tobytes(), "rgb8", face.shape[1], face.shape[0], face.shape[1] * 3))
    assert np.array_equal(out, face)
    assert not np.array_equal(out, face[..., ::-1])


def test_bgr8_without_padding_is_a_view_not_a_copy(face: np.ndarray) -> None:
    buf = bytearray(face.tobytes())
    out = decode(RawFrame(buf, "bgr8", face.shape[1], face.shape[0], face.shape[1] * 3))
    assert np.shares_memory(out, np.frombuffer(buf, np.uint8))


@pytest.mark.parametrize(
    ("frame", "words"),
    [
        (
            RawFrame(b"\0" * 12, "bayer_rggb8", 2, 2, 2),
            ["unsupported image encoding", "bayer_rggb8", "supported"],
        ),
        (RawFrame(b"\0" * 12, "16UC1", 2, 2, 4), ["unsupported", "16UC1"]),
        (RawFrame(b"", "rgb8", 0, 10, 0), ["zero width or height", "width=0"]),
        (RawFrame(b"", "rgb8", 10, 0, 30), ["zero width or height", "height=0"]),
        (RawFrame(b"\0" * 40, "rgb8", 10, 2, 20), ["step is smaller", "step=20"]),
        (RawFrame(b"\0" * 50, "rgb8", 10, 2, 30), ["data length", "60 bytes", "data=50"]),
        (RawFrame(b"\0" * 70, "rgb8", 10, 2, 30), ["data length", "data=70"]),
        (RawFrame(b"\0" * 30, "yuv422_yuy2", 5, 2, 10), ["even width"]),
    ],
)
def test_bad_frames_raise_clear_errors(frame: RawFrame, words: list[str]) -> None:
    with pytest.raises(FrameError) as err:
        decode(frame)
    for word in words:
        assert word in str(err.value)


def test_validate_returns_bytes_per_pixel() -> None:
    assert validate(RawFrame(b"\0" * 8, "yuv422", 2, 2, 4)) == 2


@pytest.mark.parametrize("encoding", ["bgr8", "rgb8", "mono8"])
def test_encode_roundtrip(face: np.ndarray, encoding: str) -> None:
    pixels, step = encode(face, encoding)
    back = decode(RawFrame(pixels.tobytes(), encoding, face.shape[1], face.shape[0], step))
    if encoding == "mono8":
        assert np.array_equal(back[..., 0], cv2.cvtColor(face, cv2.COLOR_BGR2GRAY))
    else:
        assert np.array_equal(back, face)


def test_encode_rejects_unknown_encoding(face: np.ndarray) -> None:
    with pytest.raises(ValueError, match="yuv422"):
        encode(face, "yuv422")
