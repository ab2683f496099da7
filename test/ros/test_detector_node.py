"""The detector node as a real process over Fast DDS, with the bundled model and real photos.

Bad frames, parameters, model files, params files and signals: test_bad_input_catalogue.py.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from classifier_models import renamed_detector
from rclpy.qos import ReliabilityPolicy
from ros_probe import NodeProcess, Probe, other_domain, wait_until

from face_expression.core.geometry import iou
from face_expression.ros.messages import msg_to_detections

NODE = "face_expression_detector"


@pytest.fixture(scope="module")
def detector(tmp_path_factory: pytest.TempPathFactory, model_path: Path) -> Iterator[NodeProcess]:
    """The node exactly as `ros2 run face_expression detector` starts it: no parameters."""
    proc = NodeProcess("detector", {}, tmp_path_factory.mktemp("detector") / "node.log")
    yield proc
    assert proc.stop() == 0, proc.output()


@pytest.fixture(scope="module")
def probe(detector: NodeProcess) -> Iterator[Probe]:
    p = Probe()
    p.watch_annotated()
    p.wait_for_detector_or_fail(detector)
    yield p
    p.close()


def _assert_on_faces(msg, faces, min_iou: float = 0.5) -> None:
    dets = msg_to_detections(msg)
    for box, label in faces:
        best = max(dets, key=lambda d: iou(d, box), default=None)
        assert best is not None and iou(best, box) >= min_iou, f"no box on face {box}: {dets}"
        if label in ("smile", "neutral"):
            assert best.class_name == label, f"face {box} is {label}, model said {best.class_name}"


@pytest.mark.parametrize("name", ["astronaut", "grace_hopper", "zidane"])
def test_real_photo_gives_boxes_on_faces_with_same_header(
    probe: Probe, photos, name: str, model_names: dict[int, str]
) -> None:
    photo = photos[name]
    image = cv2.imread(str(photo.path))
    stamp = (1000 + len(name), 123456789)
    msg = probe.ask(image, stamp, frame_id=f"cam_{name}")
    assert msg.header.frame_id == f"cam_{name}"
    for det in msg.detections:
        assert det.header.frame_id == f"cam_{name}"
        assert (det.header.stamp.sec, det.header.stamp.nanosec) == stamp
        assert det.results[0].hypothesis.class_id in model_names.values()
        assert 0.0 < det.results[0].hypothesis.score <= 1.0
        assert 0 <= det.bbox.center.position.x <= image.shape[1]
        assert 0 <= det.bbox.center.position.y <= image.shape[0]
    _assert_on_faces(msg, photo.faces)


def test_auto_qos_follows_a_reliable_publisher(probe: Probe, detector: NodeProcess) -> None:
    """The probe publishes reliably: the detector's own subscription, seen in the graph, turns reliable."""

    def detector_reliability() -> list[ReliabilityPolicy]:
        infos = probe.node.get_subscriptions_info_by_topic("/camera/image_raw")
        return [i.qos_profile.reliability for i in infos if i.node_name == NODE]

    wait_until(lambda: detector_reliability() == [ReliabilityPolicy.RELIABLE], 10, "not reliable")
    out = detector.output()  # reliable from the start when the probe was seen while the model loaded
    assert "image_qos auto: subscribing reliable" in out or "(auto: reliable, " in out, out


def test_no_face_gives_an_empty_array(probe: Probe) -> None:
    stamp = (2000, 1)
    assert probe.ask(np.full((480, 640, 3), 90, np.uint8), stamp).detections == []


def test_annotated_image_arrives_with_same_header(probe: Probe, astronaut: np.ndarray) -> None:
    stamp = (3000, 7)
    probe.ask(astronaut, stamp, frame_id="annotated_cam")
    wait_until(lambda: any(m.header.stamp.sec == 3000 for m in probe.annotated), 20, "no annotated image")
    msg = next(m for m in probe.annotated if m.header.stamp.sec == 3000)
    assert msg.header.frame_id == "annotated_cam" and (msg.width, msg.height) == (512, 512)
    drawn = np.frombuffer(msg.data, np.uint8).reshape(512, msg.step)[:, : 512 * 3].reshape(512, 512, 3)
    assert not np.array_equal(drawn, astronaut), "no boxes drawn"


def test_late_subscriber_gets_label_info(probe: Probe, model_names: dict[int, str]) -> None:
    late = Probe("late_probe")
    try:
        late.watch_label_info()
        wait_until(lambda: late.labels, 20, "no LabelInfo for a late subscriber")
        info = late.labels[0]
        assert [(c.class_id, c.class_name) for c in info.class_map] == sorted(model_names.items())
        assert abs(info.threshold - 0.25) < 1e-6
    finally:
        late.close()


@pytest.mark.parametrize("encoding", ["bgr8", "rgb8"])
def test_colour_encodings_over_the_wire(probe: Probe, astronaut: np.ndarray, encoding: str) -> None:
    msg = probe.ask(astronaut, (4000 + len(encoding), 5), encoding=encoding)
    _assert_on_faces(msg, [((181, 58, 269, 177), "smile")])


def test_mono_and_yuyv_frames_are_answered(probe: Probe, astronaut: np.ndarray) -> None:
    assert probe.ask(astronaut, (4100, 1), encoding="mono8").header.frame_id == "test_cam"
    yuyv = np.zeros((480, 640 * 2), np.uint8)
    yuyv[:, 0::2], yuyv[:, 1::2] = 120, 128  # flat grey in YUYV
    probe.send_raw(yuyv.tobytes(), "yuv422_yuy2", 640, 480, 1280, stamp=(4100, 2))
    assert probe.detection_for((4100, 2)).detections == []


def test_flood_of_100_frames_stays_responsive_and_answers_newest(probe: Probe, astronaut: np.ndarray) -> None:
    frames = [cv2.resize(astronaut, (640, 480))] * 100
    for i, frame in enumerate(frames):
        probe.send(frame, (6000, i))
    last = probe.detection_for((6000, 99), timeout=30)  # the newest frame is always processed
    assert last.detections
    answered = [m for m in probe.detections if m.header.stamp.sec == 6000]
    stamps = [m.header.stamp.nanosec for m in answered]
    assert stamps == sorted(stamps), "answers must come in order"
    assert len(answered) < 100, "a flood faster than the model must drop stale frames, not queue them"
    t0 = time.monotonic()
    probe.ask(astronaut, (6001, 0), timeout=10)
    assert time.monotonic() - t0 < 5.0, "no backlog may remain after the flood"


def _set(probe: Probe, name: str, value) -> tuple[bool, str]:
    return probe.set_parameter(NODE, name, value)


def test_valid_threshold_change_applies_at_run_time(probe: Probe, astronaut: np.ndarray) -> None:
    before = probe.ask(astronaut, (7000, 1))
    score = max(d.results[0].hypothesis.score for d in before.detections)
    above = score + (1.0 - score) / 2
    assert _set(probe, "conf_threshold", above) == (True, "")
    try:
        after = probe.ask(astronaut, (7000, 2))
        assert all(d.results[0].hypothesis.score >= above for d in after.detections)
        assert len(after.detections) < len(before.detections)
    finally:
        assert _set(probe, "conf_threshold", 0.25)[0]


def test_new_model_parameter_reloads_the_model(
    probe: Probe, detector: NodeProcess, model_path: Path, astronaut: np.ndarray, tmp_path: Path
) -> None:
    copy = tmp_path / "copy.pt"
    copy.write_bytes(model_path.read_bytes())
    assert _set(probe, "model", str(copy)) == (True, "")
    wait_until(lambda: f"loaded model {copy}" in detector.output(), 10, "no reload logged")
    assert f"loading model {copy}; the running one serves meanwhile" in detector.output()
    assert probe.ask(astronaut, (7100, 1)).detections
    assert _get(probe, "model") == str(copy)


def _get(probe: Probe, name: str):
    return probe.get_parameter(NODE, name)


def test_expression_classifier_relabels_faces_at_run_time(
    probe: Probe, detector: NodeProcess, model_path: Path, photos, tmp_path: Path
) -> None:
    """Neutral and smile swapped in a detector: alone it calls the smiling astronaut neutral; the second
    stage, switched on at run time, says smile (box and face found by the same detector)."""
    swapped = renamed_detector(model_path, {0: "smile", 1: "neutral"}, tmp_path / "swapped.pt")
    image = cv2.imread(str(photos["astronaut"].path))
    face = photos["astronaut"].faces[0][0]
    before = {name: _get(probe, name) for name in ("model", "expression_classifier")}
    assert before["expression_classifier"] == "auto"
    loaded = f"loaded model {swapped}"
    try:
        assert _set(probe, "model", str(swapped)) == (True, "")  # auto: not the bundled model, so off
        wait_until(lambda: loaded in detector.output(), 30, "no reload logged")
        _assert_on_faces(probe.ask(image, (7200, 1)), [(face, "neutral")])
        assert _set(probe, "expression_classifier", "bundled") == (True, "")
        wait_until(lambda: detector.output().count(loaded) == 2, 30, "no reload logged")
        assert "fer_mini_xception.onnx (onnxruntime) re-labels each face" in detector.output()
        _assert_on_faces(probe.ask(image, (7200, 2)), [(face, "smile")])
    finally:
        for name, value in before.items():
            assert _set(probe, name, value)[0]
        last_load = lambda: [x for x in detector.output().splitlines() if "loaded model" in x][-1]  # noqa: E731
        wait_until(lambda: str(swapped) not in last_load(), 30, "the running model was not restored")


def test_sensor_data_qos_receives_from_a_best_effort_camera(
    tmp_path: Path, model_path: Path, astronaut: np.ndarray
) -> None:
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    domain = other_domain()  # away from the module's detector, which would answer too
    proc = NodeProcess("detector", {"image_qos": "sensor_data"}, tmp_path / "node.log", domain_id=domain)
    probe = Probe("best_effort_probe", domain_id=domain)
    try:
        probe.node.destroy_publisher(probe.images)
        probe.images = probe.node.create_publisher(Image, "/camera/image_raw", qos_profile_sensor_data)
        probe.wait_for_detector()
        small = cv2.resize(astronaut, (256, 256))  # fits a shared-memory segment
        msg = probe.ask(small, (8000, 1))
        _assert_on_faces(msg, [((90, 29, 134, 88), "any")])
        assert "image_qos auto" not in proc.output()
    finally:
        probe.close()
        assert proc.stop() == 0
