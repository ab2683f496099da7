"""The camera node publishes a source's frames on /camera/image_raw and exits at its end."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from ros_probe import NodeProcess, Probe, wait_until
from sensor_msgs.msg import Image

from face_expression.ros import messages


def test_folder_is_published_with_frame_id_and_pixels(tmp_path: Path, astronaut: np.ndarray) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    images = [cv2.resize(astronaut, (160, 120)), cv2.resize(astronaut, (160, 120))[:, ::-1].copy()]
    for i, image in enumerate(images):
        cv2.imwrite(str(folder / f"{i}.png"), image)
    probe = Probe("camera_probe")
    received: list[Image] = []
    probe.node.create_subscription(Image, "/camera/image_raw", received.append, 10)
    node = NodeProcess(
        "camera",
        {"source": str(folder), "rate": 20.0, "frame_id": "my_cam", "wait_for_subscribers": True},
        tmp_path / "camera.log",
    )
    try:
        assert node.wait_exit(timeout=60) == 0, node.output()
        wait_until(lambda: len(received) == 2, 5, "frames missing")
    finally:
        node.stop()
        probe.close()
    assert "source ended after 2 frames" in node.output()
    for msg, image in zip(received, images):
        assert msg.header.frame_id == "my_cam" and msg.encoding == "rgb8"
        assert np.array_equal(messages.image_to_bgr(msg), image)
    assert (received[1].header.stamp.sec, received[1].header.stamp.nanosec) > (
        received[0].header.stamp.sec,
        received[0].header.stamp.nanosec,
    )


def test_unopenable_source_exits_with_a_clear_error(tmp_path: Path) -> None:
    node = NodeProcess("camera", {"source": str(tmp_path / "nope.mp4")}, tmp_path / "c.log")
    try:
        assert node.wait_exit(timeout=60) == 1
    finally:
        node.stop()
    assert "neither a camera index" in node.output() and "Traceback" not in node.output()
