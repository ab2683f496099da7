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

from face_expression.ros.transport_hint import PROFILE_ENV

HINT = "shared-memory segment"
LARGE_FRAMES_DOMAIN_OFFSET = 60  # its own domain: a publisher left by another module would mute the hint


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
