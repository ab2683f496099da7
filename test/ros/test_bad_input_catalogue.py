"""The bad-input catalogue: what a hostile or careless user can hand the detector node, over real DDS.

Each row names the input, the message the node must give and what it must still do: a bad frame
is dropped with a line that names the problem, or answered with an empty Detection2DArray under
the frame's own header when no face can be in it; a bad parameter is refused with its reason; a
model that cannot be used leaves the running one serving; every case ends with the next good
frame answered. Start-up failures are one FATAL line and exit code 1, signals a quiet exit.

One detector process serves all frame, parameter and run-time model rows (module scope); only the
start-up and signal rows start processes of their own, several at a time.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pytest
from hostile_models import HostileModels
from ros_probe import NodeProcess, Probe, other_domain, wait_until

NODE = "face_expression_detector"
CATALOGUE_DOMAIN_OFFSET = 50  # start-up and signal rows: away from the shared detector and other modules


@pytest.fixture(scope="module")
def detector(
    tmp_path_factory: pytest.TempPathFactory, hostile_models: HostileModels
) -> Iterator[NodeProcess]:
    proc = NodeProcess("detector", {}, tmp_path_factory.mktemp("catalogue") / "node.log")
    yield proc
    assert proc.stop() == 0, proc.output()
    out = proc.output()
    assert "Traceback" not in out, out


@pytest.fixture(scope="module")
def probe(detector: NodeProcess) -> Iterator[Probe]:
    p = Probe("catalogue_probe")
    p.wait_for_detector_or_fail(detector)
    yield p
    p.close()


@pytest.fixture(scope="module")
def good(astronaut: np.ndarray) -> np.ndarray:
    return cv2.resize(astronaut, (320, 320))


_next_stamp = iter(range(10_000, 100_000))


def stamp() -> tuple[int, int]:
    return next(_next_stamp), 42


def answers_good_frame(probe: Probe, good: np.ndarray) -> None:
    assert probe.ask(good, stamp()).detections, "the astronaut's face was not found after the bad input"


def logged(detector: NodeProcess, *parts: str, timeout: float = 15.0) -> str:
    """The first log line holding every part (waits for it)."""

    def line() -> str | None:
        return next((x for x in detector.output().splitlines() if all(p in x for p in parts)), None)

    wait_until(lambda: line() is not None, timeout, f"no log line with {parts}:\n{detector.output()[-3000:]}")
    return line() or ""


# -- frames ------------------------------------------------------------------------------------------
def rgb(width: int, height: int, step: int | None = None, size: int | None = None) -> dict:
    step = width * 3 if step is None else step
    data = b"\x5a" * (step * height if size is None else size)
    return dict(data=data, encoding="rgb8", width=width, height=height, step=step)


@dataclass(frozen=True)
class FrameCase:
    frame: dict
    message: str = ""  # in the node's log
    answer: str = "dropped"  # dropped | empty (an empty array under the frame's header) | answered


DROPPED = "frame dropped"
FRAME_CASES = {
    "unsupported encoding bayer": FrameCase(
        dict(data=b"\0" * 64, encoding="bayer_rggb8", width=8, height=8, step=8), "'bayer_rggb8'"
    ),
    "unsupported encoding 16UC1": FrameCase(
        dict(data=b"\0" * 128, encoding="16UC1", width=8, height=8, step=16), "'16UC1'"
    ),
    "unsupported encoding empty": FrameCase(
        dict(data=b"\0" * 64, encoding="", width=8, height=8, step=8), "''"
    ),
    "truncated data": FrameCase(
        rgb(32, 32, size=100), "data length disagrees with step x height = 3072 bytes"
    ),
    "over-long data": FrameCase(rgb(32, 32, size=32 * 32 * 3 + 7), "data=3079 bytes"),
    "step smaller than a row": FrameCase(rgb(32, 32, step=20, size=640), "step is smaller"),
    "zero size": FrameCase(
        dict(data=b"", encoding="rgb8", width=0, height=0, step=0), "zero width or height"
    ),
    "huge claimed size, tiny data": FrameCase(rgb(100_000, 100_000, size=10), "width=100000 height=100000"),
    "odd-width yuv422": FrameCase(
        dict(data=b"\x80" * 7 * 2 * 8, encoding="yuv422_yuy2", width=7, height=8, step=14), "even width"
    ),
    # a frame no face fits in: the consumer learns "no face" for that stamp
    "4000x1": FrameCase(rgb(4000, 1), "frame 4000x1 is too small to hold a face", "empty"),
    "1x4000": FrameCase(rgb(1, 4000), "frame 1x4000 is too small to hold a face", "empty"),
    "4x4": FrameCase(rgb(4, 4), "frame 4x4 is too small to hold a face", "empty"),
    "4000x10 (thin but inferable)": FrameCase(rgb(4000, 10), "", "answered"),
    # odd but valid: answered
    "padded rows": FrameCase(rgb(320, 240, step=320 * 3 + 64), "", "answered"),
    "big-endian flag on 8-bit data": FrameCase({**rgb(64, 48), "is_bigendian": 1}, "", "answered"),
    "empty frame_id": FrameCase({**rgb(64, 48), "frame_id": ""}, "", "answered"),
}


@pytest.mark.parametrize("case", list(FRAME_CASES))
def test_bad_frame(probe: Probe, detector: NodeProcess, good: np.ndarray, case: str) -> None:
    row = FRAME_CASES[case]
    when = stamp()
    if row.answer == "dropped":
        probe.send_raw(**row.frame, stamp=when)
        line = logged(detector, DROPPED, row.message)
        assert "ERROR" in line
    else:
        msg = probe.ask_raw(when, **row.frame)
        assert msg.header.frame_id == row.frame.get("frame_id", "test_cam")
        if row.answer == "empty":
            assert msg.detections == []
        if row.message:
            assert "WARN" in logged(detector, row.message)
    assert detector.alive()
    answers_good_frame(probe, good)


def test_zero_stamp_and_empty_frame_id_come_back_unchanged(probe: Probe, good: np.ndarray) -> None:
    msg = probe.ask(good, (0, 0), frame_id="")
    assert msg.header.frame_id == "" and msg.detections
    answers_good_frame(probe, good)


def test_a_4k_frame_is_answered(probe: Probe, astronaut: np.ndarray, good: np.ndarray) -> None:
    msg = probe.ask(cv2.resize(astronaut, (3840, 2160)), stamp(), encoding="bgr8", timeout=60)
    assert msg.detections, "no face in the 4K astronaut"
    answers_good_frame(probe, good)


def test_rapid_encoding_and_size_switching(
    probe: Probe, detector: NodeProcess, astronaut: np.ndarray
) -> None:
    before = detector.output().count("ERROR")
    encodings = ["rgb8", "bgr8", "mono8"]
    sizes = [(640, 480), (320, 240), (1280, 720), (200, 360)]
    sent = []
    for i in range(24):
        when = (90_000 + i, 1)
        probe.send(cv2.resize(astronaut, sizes[i % len(sizes)]), when, encoding=encodings[i % len(encodings)])
        sent.append(when)
        time.sleep(0.01)
    last = probe.ask(cv2.resize(astronaut, (640, 480)), (90_100, 1))
    assert last.detections
    answered = [m for m in probe.detections if m.header.stamp.sec in {s[0] for s in sent}]
    assert answered, "none of the switching frames was answered"
    assert detector.output().count("ERROR") == before, detector.output()[-3000:]


# -- run-time parameters --------------------------------------------------------------------------------
REFUSED_PARAMETERS = {
    "conf_threshold above 1": ("conf_threshold", 1.5, "Parameter conf_threshold out of range"),
    "iou_threshold below 0": ("iou_threshold", -0.1, "Parameter iou_threshold out of range"),
    "imgsz not a multiple of 32": ("imgsz", 100, "imgsz is not a valid step"),
    "imgsz above 4096": ("imgsz", 4128, "imgsz out of range"),
    "max_det 0": ("max_det", 0, "max_det out of range"),
    "threads negative": ("threads", -1, "threads out of range"),
    "conf_threshold as a string": ("conf_threshold", "high", "Wrong parameter type"),  # rclpy's words
    "half as a string": ("half", "yes", "Wrong parameter type"),
    "image_qos is read-only": ("image_qos", "reliable", "read-only parameter: image_qos"),
    "allow_unsafe_model_load is read-only": ("allow_unsafe_model_load", True, "read-only"),
    "unknown device": ("device", "tpu", "device='tpu' is unknown"),
    "absent CUDA device": ("device", "cuda:7", "no CUDA device is available"),
    "half on the CPU": ("half", True, "half=true needs a CUDA device"),
    "missing model": ("model", "/nonexistent/model.pt", "model file not found: /nonexistent/model.pt"),
    "not a model file": ("model", "/etc/hostname", "unsupported model file: /etc/hostname"),
    "missing expression classifier": (
        "expression_classifier",
        "/nonexistent/classifier.onnx",
        "expression classifier not found: /nonexistent/classifier.onnx",
    ),
    "expression classifier not .onnx": (
        "expression_classifier",
        "/etc/hostname",
        "unsupported expression classifier: /etc/hostname is not an .onnx file",
    ),
}


@pytest.mark.parametrize("case", list(REFUSED_PARAMETERS))
def test_refused_parameter(probe: Probe, good: np.ndarray, case: str) -> None:
    name, value, reason = REFUSED_PARAMETERS[case]
    before = probe.get_parameter(NODE, name)
    ok, why = probe.set_parameter(NODE, name, value)
    assert not ok, f"{name}={value!r} was accepted"
    assert reason in why.replace("The parameter value for ", "").replace("Trying to set a ", ""), why
    assert probe.get_parameter(NODE, name) == before
    answers_good_frame(probe, good)


def test_huge_imgsz_is_accepted_with_its_cost_and_does_not_upscale(
    probe: Probe, detector: NodeProcess, good: np.ndarray, model_imgsz: int
) -> None:
    """imgsz 4096 on a 320x320 frame: inferred at the frame's size, not enlarged 12.8x (seconds per frame)."""
    frame = cv2.resize(good, (512, 512))
    probe.ask(frame, stamp())
    t0 = time.monotonic()
    probe.ask(frame, stamp())
    baseline = time.monotonic() - t0
    assert probe.set_parameter(NODE, "imgsz", 4096) == (True, "")
    try:
        assert "WARN" in logged(
            detector,
            f"imgsz 4096 is above the model's native {model_imgsz} px",
            f"about {(4096 / model_imgsz) ** 2:.0f}x the work",
        )
        t0 = time.monotonic()
        msg = probe.ask(frame, stamp())
        took = time.monotonic() - t0
        assert msg.detections
        assert took < 1.5 + 3 * baseline, f"{took:.2f} s per frame at imgsz 4096 (baseline {baseline:.2f} s)"
    finally:
        assert probe.set_parameter(NODE, "imgsz", 0) == (True, "")
    answers_good_frame(probe, good)


# -- run-time model files ----------------------------------------------------------------------------
MODEL_FILES = {
    # the change is accepted (the file exists and has a model suffix); the background load fails
    "empty.pt": "cannot load model",
    "truncated.pt": "cannot load model",
    "image.pt": "cannot load model",
    "garbage.onnx": "cannot load model",
    "classify.pt": "is a 'classify' model; face_expression needs an Ultralytics 'detect' model",
    "segment.pt": "is a 'segment' model",
    "pose.pt": "is a 'pose' model",
    "yolov5_original.pt": "original ultralytics/yolov5 repository",
    "payload.pt": "refused to load",
    "tampered.pt": "differs from 0000000000000000000000000000000000000000000000000000000000000000",
}


@pytest.mark.parametrize("name", list(MODEL_FILES))
def test_unusable_model_at_run_time_keeps_the_running_one(
    probe: Probe, detector: NodeProcess, good: np.ndarray, hostile_models: HostileModels, name: str
) -> None:
    path = hostile_models[name]
    running = probe.get_parameter(NODE, "model")
    assert probe.set_parameter(NODE, "model", str(path)) == (True, "")
    line = logged(detector, "model load failed, keeping", str(path), MODEL_FILES[name], timeout=60)
    assert "ERROR" in line
    assert not hostile_models.marker.exists(), "the model file ran its code in the node"
    wait_until(lambda: probe.get_parameter(NODE, "model") == running, 10, "model parameter not put back")
    answers_good_frame(probe, good)


def test_unusable_expression_classifier_at_run_time_keeps_the_running_model(
    probe: Probe, detector: NodeProcess, good: np.ndarray, hostile_models: HostileModels
) -> None:
    path = hostile_models["garbage.onnx"]
    running = probe.get_parameter(NODE, "expression_classifier")
    assert probe.set_parameter(NODE, "expression_classifier", str(path)) == (True, "")
    line = logged(
        detector, "model load failed, keeping", f"cannot load expression classifier {path}", timeout=60
    )
    assert "ERROR" in line and "expression_classifier to 'bundled'" in line
    wait_until(
        lambda: probe.get_parameter(NODE, "expression_classifier") == running, 10, "parameter not put back"
    )
    answers_good_frame(probe, good)


# -- start-up --------------------------------------------------------------------------------------------
@dataclass
class StartCase:
    params: dict = field(default_factory=dict)
    args: list[str] = field(default_factory=list)
    message: str = ""


def start_cases(models: HostileModels, tmp: Path) -> dict[str, StartCase]:
    invalid_yaml = tmp / "invalid.yaml"
    invalid_yaml.write_text("/**:\n  ros__parameters:\n    imgsz: [320\n")
    not_params = tmp / "list.yaml"
    not_params.write_text("- imgsz\n- 320\n")
    return {
        "payload model": StartCase({"model": str(models["payload.pt"])}, message="refused to load"),
        "pose model": StartCase({"model": str(models["pose.pt"])}, message="is a 'pose' model"),
        "tampered model": StartCase({"model": str(models["tampered.pt"])}, message="its card"),
        "missing model": StartCase({"model": str(tmp / "nope.pt")}, message="model file not found"),
        "corrupt model": StartCase({"model": str(models["truncated.pt"])}, message="cannot load model"),
        "corrupt expression classifier": StartCase(
            {"expression_classifier": str(models["garbage.onnx"])},
            message="cannot load expression classifier",
        ),
        "missing expression classifier": StartCase(
            {"expression_classifier": str(tmp / "nope.onnx")}, message="expression classifier not found"
        ),
        "half on the CPU": StartCase({"half": True}, message="half=true needs a CUDA device"),
        "bad image_qos": StartCase({"image_qos": "fastest"}, message="image_qos='fastest' is unknown"),
        "missing params file": StartCase(
            args=["--params-file", str(tmp / "absent.yaml")], message="absent.yaml does not exist"
        ),
        "params file not YAML": StartCase(
            args=["--params-file", str(invalid_yaml)], message="invalid.yaml is not valid YAML at line"
        ),
        "params file not a parameter map": StartCase(
            args=["--params-file", str(not_params)], message="cannot start: failed to initialize rcl"
        ),
    }


def run_to_exit(case: StartCase, log: Path) -> tuple[int, str]:
    proc = NodeProcess(
        "detector", case.params, log, args=case.args, domain_id=other_domain(CATALOGUE_DOMAIN_OFFSET)
    )
    try:
        code = proc.wait_exit(timeout=90)
    except subprocess.TimeoutExpired:
        code = None
    finally:
        proc.stop()
    return code, proc.output()


def test_start_up_failures_are_one_clear_line_and_exit_1(
    tmp_path: Path, hostile_models: HostileModels
) -> None:
    cases = start_cases(hostile_models, tmp_path)
    with ThreadPoolExecutor(max_workers=4) as pool:  # a few at a time: each may import torch
        results = dict(
            zip(
                cases,
                pool.map(lambda c: run_to_exit(cases[c], tmp_path / f"{c.replace(' ', '_')}.log"), cases),
            )
        )
    problems = []
    for name, (code, out) in results.items():
        fatal = [line for line in out.splitlines() if "[FATAL]" in line]
        if code != 1 or "Traceback" in out or len(fatal) != 1 or cases[name].message not in fatal[0]:
            problems.append(f"--- {name}: exit {code}\n{out[-2000:]}")
    if hostile_models.marker.exists():
        problems.append("--- payload model: the payload ran at start-up")
    assert not problems, "\n".join(problems)


# -- signals ---------------------------------------------------------------------------------------------
def test_sigterm_while_the_model_loads_exits_quietly(tmp_path: Path) -> None:
    proc = NodeProcess("detector", {}, tmp_path / "node.log", domain_id=other_domain(CATALOGUE_DOMAIN_OFFSET))
    try:
        wait_until(
            lambda: "loading model" in proc.output() or not proc.alive(), 60, "no 'loading model' line"
        )
        proc.proc.send_signal(signal.SIGTERM)
        code = proc.wait_exit(timeout=60)
    finally:
        proc.stop()
    out = proc.output()
    assert code == 0 and "Traceback" not in out and "listening on" not in out, out


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_under_load_exits_quietly(tmp_path: Path, astronaut: np.ndarray, signum: int) -> None:
    """Frames keep coming while the node shuts down: the worker stops before the context goes."""
    domain = other_domain(CATALOGUE_DOMAIN_OFFSET)
    proc = NodeProcess("detector", {}, tmp_path / "node.log", domain_id=domain)
    probe = Probe("flood_probe", domain_id=domain)
    stop = threading.Event()
    frame = cv2.resize(astronaut, (640, 480))

    def flood() -> None:
        i = 0
        while not stop.is_set():
            probe.send(frame, (1, i))
            i += 1
            time.sleep(0.01)

    flooder = threading.Thread(target=flood, daemon=True)
    try:
        probe.wait_for_detector()
        flooder.start()
        wait_until(lambda: len(probe.detections) >= 3, 30, "the node never answered the flood")
        proc.proc.send_signal(signum)
        code = proc.wait_exit(timeout=30)
    finally:
        stop.set()
        if flooder.is_alive():
            flooder.join(timeout=5)
        probe.close()
        proc.stop()
    out = proc.output()
    assert code == 0, out
    assert "processed" in out and "Traceback" not in out and "Exception in thread" not in out, out
