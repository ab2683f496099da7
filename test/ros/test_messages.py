"""Detections to vision_msgs with upstream semantics; images to and from sensor_msgs."""

from __future__ import annotations

import array

import numpy as np
from builtin_interfaces.msg import Time
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from face_expression.core.detections import Detection
from face_expression.ros import messages


def _header() -> Header:
    return Header(stamp=Time(sec=12, nanosec=345), frame_id="head_camera")


def test_detections_to_msg_uses_centre_size_pixels_and_class_names() -> None:
    dets = [Detection(100, 50, 180, 150, 1, "smile", 0.9, "a3"), Detection(0, 0, 10, 20, 0, "neutral", 0.4)]
    msg = messages.detections_to_msg(dets, _header())
    assert msg.header.frame_id == "head_camera" and msg.header.stamp.nanosec == 345
    assert len(msg.detections) == 2
    d = msg.detections[0]
    assert d.header == msg.header
    assert (d.bbox.center.position.x, d.bbox.center.position.y) == (140.0, 100.0)
    assert (d.bbox.size_x, d.bbox.size_y) == (80.0, 100.0)
    assert d.results[0].hypothesis.class_id == "smile"
    assert abs(d.results[0].hypothesis.score - 0.9) < 1e-9
    assert [d.id for d in msg.detections] == ["a3", ""]  # the tracking id; empty when untracked
    back = messages.msg_to_detections(msg)
    assert [(b.x1, b.y1, b.x2, b.y2, b.class_name, b.track_id) for b in back] == [
        (100, 50, 180, 150, "smile", "a3"),
        (0, 0, 10, 20, "neutral", ""),
    ]


def test_no_faces_gives_an_empty_array_with_the_header() -> None:
    msg = messages.detections_to_msg([], _header())
    assert msg.detections == [] and msg.header.frame_id == "head_camera"


def test_label_info_lists_the_class_map_in_id_order() -> None:
    msg = messages.label_info({1: "smile", 0: "neutral"}, 0.25, _header())
    assert [(c.class_id, c.class_name) for c in msg.class_map] == [(0, "neutral"), (1, "smile")]
    assert abs(msg.threshold - 0.25) < 1e-6


def test_image_roundtrip_keeps_header_and_pixels(astronaut: np.ndarray) -> None:
    msg = messages.bgr_to_image(astronaut, _header(), "rgb8")
    assert isinstance(msg.data, array.array)
    assert (msg.width, msg.height, msg.step, msg.encoding) == (512, 512, 512 * 3, "rgb8")
    assert np.array_equal(messages.image_to_bgr(msg), astronaut)


def test_image_to_bgr_honours_step_padding(astronaut: np.ndarray) -> None:
    small = astronaut[:4, :5]
    padded = np.zeros((4, 20), np.uint8)
    padded[:, :15] = small.reshape(4, 15)
    msg = Image(height=4, width=5, encoding="bgr8", step=20)
    msg.data = array.array("B", padded.tobytes())
    assert np.array_equal(messages.image_to_bgr(msg), small)
