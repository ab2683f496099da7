"""Large frames from a camera process without the large-frame Fast DDS profile: the node says so once.

1920x1080 rgb8 frames (5.9 MiB) from a best-effort publisher on Fast DDS' defaults mostly never
arrive (their fragments crowd each other out of the segment: 6 of 240 measured,
benchmarks/results/realtime.md). 640x480 ones lose less, and on a quiet machine too few to tell
for sure; the node must log one hint naming the fix, not stay silent.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from rclpy.qos import qos_profile_sensor_data
from ros_probe import NodeProcess, Probe, other_domain, wait_until
from sensor_msgs.msg import Image

from face_expression.core.dds_profile import MIB, segment_bytes, sized_profile
from face_expression.core.resources import large_frames_profile_path
from face_expression.ros.transport_hint import PROFILE_ENV

HINT = "shared-memory segment"
LARGE_FRAMES_DOMAIN_OFFSET = 60  # its own domain: a publisher left by another module would mute the hint
SIZED_SEGMENT_DOMAIN_OFFSET = 61


def test_large_frames_arriving_badly_give_one_hint(tmp_path: Path, astronaut: np.ndarray) -> None:
    if os.environ.get(PROFILE_ENV):  # checked when the test runs: an earlier test may have set it
        pytest.skip(f"{PROFILE_ENV} is set: frames arrive whole")
    domain = other_domain(LARGE_FRAMES_DOMAIN_OFFSET)
    proc = NodeProcess("detector", {"image_qos": "sensor_data"}, tmp_path / "node.log", domain_id=domain)
    probe = Probe("default_dds_camera", domain_id=domain)
    try:
        probe.node.destroy_publisher(probe.images)
        probe.images = probe.node.create_publisher(Image, "/camera/image_raw", qos_profile_sensor_data)
        probe.wait_for_detector()
        frame = cv2.resize(astronaut, (1920, 1080))
        deadline = time.monotonic() + 30
        i = 0
        while HINT not in proc.output() and time.monotonic() < deadline:
            probe.send(frame, (9000 + i, 0))
            i += 1
            time.sleep(1 / 30)
        wait_until(lambda: HINT in proc.output(), 3, f"no hint after {i} frames at 30 Hz:\n{proc.output()}")
        hint = next(line for line in proc.output().splitlines() if HINT in line)
        assert "WARN" in hint and f"{PROFILE_ENV}=" in hint and "fastdds_large_frames.xml" in hint, hint
        assert "1920x1080 rgb8" in hint or "no frame arrived" in hint, hint
        for _ in range(60):  # keeps sending: still one hint
            probe.send(frame, (9500, 0))
            time.sleep(1 / 30)
        time.sleep(1.5)
        assert proc.output().count(HINT) == 1, proc.output()
    finally:
        probe.close()
        assert proc.stop() == 0


def test_the_webcam_launch_profile_carries_a_30_hz_640x480_camera_whole(
    tmp_path: Path, astronaut: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """webcam.launch.py gives a 640x480 camera a 4 MiB segment (four frames) instead of the bundled
    16 MiB: a best-effort subscriber in another process still gets at least 9 in 10 frames of a
    30 Hz camera (on Fast DDS' 512 KB default 1-2 per second arrived here)."""
    assert segment_bytes(640, 480) == 4 * MIB
    profile = sized_profile(large_frames_profile_path(), segment_bytes(640, 480), tmp_path / "profiles")
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(8):  # real frames, a little different each
        cv2.imwrite(str(folder / f"{i}.bmp"), cv2.resize(np.roll(astronaut, 16 * i, axis=1), (640, 480)))
    domain = other_domain(SIZED_SEGMENT_DOMAIN_OFFSET)
    monkeypatch.setenv(PROFILE_ENV, str(profile))  # for the camera's process only (copied at its start)
    camera = NodeProcess(
        "camera", {"source": folder, "loop": True, "rate": 30.0}, tmp_path / "camera.log", domain_id=domain
    )
    monkeypatch.delenv(PROFILE_ENV)
    probe = Probe("sized_segment_subscriber", domain_id=domain)
    stamps: list[tuple[int, int]] = []

    def keep(msg: Image) -> None:
        stamps.append((msg.header.stamp.sec, msg.header.stamp.nanosec))

    try:
        probe.node.create_subscription(Image, "/camera/image_raw", keep, qos_profile_sensor_data)
        wait_until(lambda: len(stamps) > 0, 20, f"no frame arrived:\n{camera.output()}")
        start, before = time.monotonic(), len(stamps)
        time.sleep(4.0)
        got = len(set(stamps[before:])) / (time.monotonic() - start)
        assert got >= 27.0, f"{got:.1f} frames/s of 30 arrived:\n{camera.output()}"
    finally:
        probe.close()
        assert camera.stop() == 0, camera.output()
