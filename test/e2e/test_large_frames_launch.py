"""The launch files give every process they start the large-frame Fast DDS profile, unless one is set.

640x480..1920x1080 rgb8 frames do not fit Fast DDS' default 512 KB shared-memory segment; from a
camera driver started without the bundled profile they arrive late or not at all. Before their
first process the launch files set FASTDDS_DEFAULT_PROFILES_FILE for every process after it. Run
with the real launch package against a real (minimal) ament prefix.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = "face_expression"
PROFILES_ENV = "FASTDDS_DEFAULT_PROFILES_FILE"
PROFILE = REPO / "config" / "fastdds_large_frames.xml"
LAUNCH_FILES = sorted((REPO / "launch").glob("*.launch.py"))
#: The largest frame the profile must carry: 1920x1080 rgb8, with room for a second one in flight.
LARGEST_FRAME = 1920 * 1080 * 3

launch = pytest.importorskip("launch", reason="launch not installed (no ROS 2 distro here)")
pytest.importorskip("launch_ros")


@pytest.fixture()
def prefix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An ament prefix holding the package's index entry and config, as an install has them."""
    (tmp_path / "share" / "ament_index" / "resource_index" / "packages").mkdir(parents=True)
    (tmp_path / "share" / "ament_index" / "resource_index" / "packages" / PACKAGE).write_text("")
    shutil.copytree(REPO / "config", tmp_path / "share" / PACKAGE / "config")
    monkeypatch.setenv("AMENT_PREFIX_PATH", str(tmp_path))
    return tmp_path


def first_actions(path: Path) -> list:
    spec = importlib.util.spec_from_file_location(path.stem.replace(".", "_"), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate_launch_description().entities


def run_until_first_process(path: Path, arguments: dict[str, str] | None = None) -> None:
    """Execute the launch file's actions as launch would, up to the first process it starts.

    Arguments are declared (with ``arguments`` given on the command line) and the environment is
    set; nothing is started.
    """
    from launch import LaunchContext
    from launch.actions import IncludeLaunchDescription
    from launch_ros.actions import Node

    context = LaunchContext()
    context.launch_configurations.update(arguments or {})
    pending = list(first_actions(path))
    while pending:
        entity = pending.pop(0)
        if isinstance(entity, (Node, IncludeLaunchDescription)):
            return
        pending[:0] = entity.execute(context) or []
    pytest.fail(f"{path.name} starts no process")


@pytest.fixture()
def no_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    """No profile exported; teardown removes what the launch action sets."""
    # setenv first, so that teardown removes what the launch action sets (delenv of an unset
    # variable records nothing): the profile must not leak into later tests' processes.
    monkeypatch.setenv(PROFILES_ENV, "unset by this test")
    monkeypatch.delenv(PROFILES_ENV)


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_sets_the_installed_large_frame_profile(path: Path, prefix: Path, no_profile: None) -> None:
    run_until_first_process(path)
    profile = Path(os.environ[PROFILES_ENV])
    assert profile == prefix / "share" / PACKAGE / "config" / "fastdds_large_frames.xml"
    assert profile.is_file()


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_a_profile_the_user_set_is_kept(path: Path, prefix: Path, monkeypatch) -> None:
    monkeypatch.setenv(PROFILES_ENV, "/home/me/my_profile.xml")
    run_until_first_process(path)
    assert os.environ[PROFILES_ENV] == "/home/me/my_profile.xml"


NS = {"d": "http://www.eprosima.com"}


def shm_descriptors(profile: Path) -> list[ET.Element]:
    return [
        t
        for t in ET.parse(profile).getroot().iterfind(".//d:transport_descriptor", NS)
        if t.findtext("d:type", namespaces=NS) == "SHM"
    ]


def test_profile_has_a_shared_memory_segment_for_full_hd_frames() -> None:
    root = ET.parse(PROFILE).getroot()
    descriptors = list(root.iterfind(".//d:transport_descriptor", NS))
    shm = shm_descriptors(PROFILE)
    assert len(shm) == 1
    assert int(shm[0].findtext("d:segment_size", namespaces=NS)) >= 2 * LARGEST_FRAME
    participant = root.find(".//d:participant", NS)
    assert participant is not None and participant.get("is_default_profile") == "true"
    used = [e.text for e in participant.iterfind(".//d:userTransports/d:transport_id", NS)]
    assert shm[0].findtext("d:transport_id", namespaces=NS) in used
    assert participant.findtext(".//d:useBuiltinTransports", namespaces=NS) == "false"
    assert any(
        t.findtext("d:type", namespaces=NS) == "UDPv4" and t.findtext("d:transport_id", namespaces=NS) in used
        for t in descriptors
    ), "UDP must stay for discovery and other machines"


def test_profile_checks_shared_memory_ports_quickly_and_fast_dds_accepts_it(tmp_path: Path) -> None:
    """A starting node opens the camera's shared-memory port; Fast DDS' health check of it may
    sleep a third of healthy_check_timeout_ms (333 ms by default) while the node's creation waits
    (the profile's comment has the measurements). Fast DDS drops a whole profile over one tag it
    does not know, so a real rclpy node loads it here and must not report a parse error."""
    shm = shm_descriptors(PROFILE)
    assert 300 <= int(shm[0].findtext("d:healthy_check_timeout_ms", "1000", NS)) <= 500
    bogus = tmp_path / "bogus.xml"  # the control: a tag Fast DDS does not know must be reported
    bogus.write_text(PROFILE.read_text().replace("</segment_size>", "</segment_size><bogus>1</bogus>"))
    code = "import rclpy; from rclpy.node import Node; rclpy.init(); Node('profile_check'); print('node ok')"
    for profile, parses in ((PROFILE, True), (bogus, False)):
        env = dict(os.environ, **{PROFILES_ENV: str(profile)})
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 0 and "node ok" in out.stdout, out.stderr
        said = out.stdout + out.stderr
        assert ("XMLPARSER" not in said) == parses, f"{profile.name}: {said}"
