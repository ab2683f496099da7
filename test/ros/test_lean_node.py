"""The detector node on an ONNX export runs without torch and Ultralytics, and answers real frames.

A robot that only runs exported models should not need torch installed, nor pay its ~500 MB and
seconds of start-up. The node reports, once it answered its first frame, which of the two
modules its process has loaded; here that line must say neither, and the answers must be right.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest
from ros_probe import NodeProcess, Probe, other_domain, wait_until

from face_expression.core.geometry import iou
from face_expression.ros.messages import msg_to_detections


@pytest.fixture()
def lean_node(onnx_model: Path, tmp_path: Path) -> Iterator[tuple[NodeProcess, Probe]]:
    domain = other_domain()  # away from any other module's detector
    proc = NodeProcess("detector", {"model": onnx_model}, tmp_path / "node.log", domain_id=domain)
    probe = Probe("lean_probe", domain_id=domain)
    probe.wait_for_detector_or_fail(proc, timeout=30, stop=True)
    yield proc, probe
    probe.close()
    assert proc.stop() == 0, proc.output()


def test_onnx_node_answers_frames_without_torch_or_ultralytics(lean_node, photos) -> None:
    proc, probe = lean_node
    photo = photos["astronaut"]
    image = cv2.resize(cv2.imread(str(photo.path)), (640, 480))
    sx, sy = 640 / 512, 480 / 512  # the photo is 512x512
    msg = probe.ask(image, (4242, 7))
    found = msg_to_detections(msg)
    for (x1, y1, x2, y2), label in photo.faces:
        face = (x1 * sx, y1 * sy, x2 * sx, y2 * sy)
        best = max(found, key=lambda d: iou(d, face), default=None)
        assert best is not None and iou(best, face) >= 0.5, f"no box on face {face}: {found}"
        assert best.class_name == label
    # an export of the bundled model gets the second stage too (expression_classifier auto), torch-free
    assert "fer_mini_xception.onnx (onnxruntime) re-labels each face" in proc.output()

    wait_until(lambda: "first frame answered" in proc.output(), 10, "no first-frame line")
    line = next(x for x in proc.output().splitlines() if "first frame answered" in x)
    assert "(onnx, classifier on onnxruntime)" in line, line
    assert "modules loaded: neither torch nor ultralytics" in line, line
    assert re.search(r"answered \d+\.\d+ s after start", line), line
    assert "ultralytics is not installed" not in proc.output()


def test_onnx_node_runs_two_frames_at_once_and_answers_in_frame_order(lean_node, photos) -> None:
    """parallel_frames auto = 2 on an export: a flood is answered newest-last, in order, no backlog."""
    proc, probe = lean_node
    assert "2 frame(s) at once" in proc.output()
    frames = [cv2.resize(cv2.imread(str(p.path)), (640, 480)) for p in photos.values()]
    # the node must already receive our frames: seeing its subscription only says that our side
    # discovered it (one clean-clone run flooded before the node had discovered us: 1 answer of 150)
    probe.ask(frames[0], (6999, 0))
    for i in range(150):  # faces and face counts vary, so two frames at once take different times
        probe.send(frames[i % len(frames)], (7000, i))
        time.sleep(0.004)  # about 250 Hz: faster than the model, frames overlap
    probe.detection_for((7000, 149), timeout=30)  # the newest frame is always answered
    answered = [m.header.stamp.nanosec for m in probe.detections if m.header.stamp.sec == 7000]
    assert answered == sorted(set(answered)), "answers must come in frame order, each once"
    assert len(answered) > 1
