"""The Fast DDS profile webcam.launch.py writes: the bundled one with a segment for the camera's frames."""

from __future__ import annotations

from pathlib import Path

import pytest

from face_expression.core.dds_profile import MIB, profile_folder, segment_bytes, segment_in, sized_profile
from face_expression.core.resources import large_frames_profile_path


@pytest.mark.parametrize(
    ("size", "mib"),
    [
        ((640, 480), 4),
        ((1280, 720), 11),
        ((1920, 1080), 16),
        ((3840, 2160), 16),
        ((320, 240), 4),
        ((0, 0), 4),
    ],
)
def test_segment_holds_four_rgb8_frames_within_4_to_16_mib(size: tuple[int, int], mib: int) -> None:
    assert segment_bytes(*size) == mib * MIB
    if 4 < mib < 16:
        assert segment_bytes(*size) >= 4 * size[0] * size[1] * 3


def test_sized_profile_changes_only_the_segment_and_is_written_once(tmp_path: Path) -> None:
    bundled = large_frames_profile_path()
    profile = sized_profile(bundled, 4 * MIB, tmp_path / "profiles")
    assert profile.name == "fastdds_large_frames_4MiB.xml"
    assert segment_in(profile) == 4 * MIB
    assert profile.read_text().replace(str(4 * MIB), str(16 * MIB)) == bundled.read_text()
    assert profile.stat().st_mode & 0o777 == 0o644, "readable by nodes run as another user"
    written = profile.stat().st_ino  # a rewrite replaces the file: a new inode
    assert sized_profile(bundled, 4 * MIB, tmp_path / "profiles") == profile
    assert profile.stat().st_ino == written, "an unchanged profile is not rewritten"
    assert [p.name for p in profile.parent.iterdir()] == [profile.name], "no temporary file left"
    assert segment_in(bundled) == 16 * MIB, "the bundled file is untouched"


def test_a_profile_without_one_segment_size_is_refused(tmp_path: Path) -> None:
    odd = tmp_path / "odd.xml"
    odd.write_text("<dds><profiles/></dds>")
    with pytest.raises(ValueError, match="0 <segment_size> elements"):
        sized_profile(odd, 4 * MIB, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_profiles_go_under_ros_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ROS_HOME", str(tmp_path))
    assert profile_folder() == tmp_path / "face_expression"
    monkeypatch.delenv("ROS_HOME")
    assert profile_folder() == Path.home() / ".ros" / "face_expression"
