"""config/: every key is a parameter the real node declares, with the right type.

The nodes are started as real processes with the YAML files (``--params-file``), exactly as the
launch files start them; nothing is stubbed. usb_cam cannot be installed here, so its file is
checked against the parameters usb_cam 0.8.x declares (src/ros2/usb_cam_node.cpp).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import rclpy
import yaml
from node_parameters import USB_CAM_PARAMETERS, USB_CAM_RGB8_FORMATS, declared_types
from rcl_interfaces.srv import GetParameters
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import parameter_value_to_python
from ros_probe import call_service

from face_expression.core.resources import DEFAULT_MODEL_NAME
from face_expression.ros import camera_node, detector_node
from face_expression.ros.node_command import node_command

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "config"
WILDCARD = "/**"


def load_params(name: str) -> dict[str, object]:
    """The ros__parameters of a config file, which must use the ``/**`` wildcard section."""
    data = yaml.safe_load((CONFIG / name).read_text())
    assert list(data) == [WILDCARD], f"{name}: expected one '{WILDCARD}' section, got {list(data)}"
    params = data[WILDCARD]["ros__parameters"]
    assert isinstance(params, dict) and params, f"{name}: empty ros__parameters"
    return params


def type_errors(params: dict[str, object], declared: dict[str, type]) -> list[str]:
    """Keys the node does not declare, and values whose YAML type differs from the declared one."""
    errors = [f"{k}: not declared by the node" for k in params if k not in declared]
    errors += [
        f"{k}: {type(v).__name__} in YAML, node declares {declared[k].__name__}"
        for k, v in params.items()
        if k in declared and type(v) is not declared[k]  # bool is not int, int is not float: rclpy agrees
    ]
    return errors


# -- static checks -------------------------------------------------------------------------
def test_detector_yaml_lists_every_parameter_with_its_default_and_a_comment() -> None:
    params = load_params("detector.yaml")
    defaults = {name: default for name, (default, _, _) in detector_node.PARAMETERS.items()}
    assert type_errors(params, declared_types(detector_node.PARAMETERS)) == []
    assert set(params) == set(defaults), "detector.yaml must list every detector parameter"
    assert params == defaults, "detector.yaml must carry the node's defaults"
    lines = (CONFIG / "detector.yaml").read_text().splitlines()
    for name in params:
        index = next(i for i, line in enumerate(lines) if line.strip().startswith(f"{name}:"))
        assert lines[index - 1].strip().startswith("#"), f"detector.yaml: no comment above {name}"


def test_camera_yaml_types_match_the_camera_node() -> None:
    assert type_errors(load_params("camera.yaml"), declared_types(camera_node.PARAMETERS)) == []


def test_usb_cam_yaml_types_match_usb_cam_and_publish_rgb8() -> None:
    params = load_params("usb_cam.yaml")
    assert type_errors(params, USB_CAM_PARAMETERS) == []
    assert params["pixel_format"] in USB_CAM_RGB8_FORMATS


def test_rviz_shows_annotated_image_in_the_camera_frame() -> None:
    """Fixed frame = the frame_id both camera options stamp; the Image display is enabled."""
    rviz = yaml.safe_load((CONFIG / "face_expression.rviz").read_text())
    manager = rviz["Visualization Manager"]
    assert {p["Class"] for p in rviz["Panels"]} >= {"rviz_common/Displays"}
    images = [d for d in manager["Displays"] if d["Class"] == "rviz_default_plugins/Image" and d["Enabled"]]
    assert [d["Topic"]["Value"] for d in images] == ["/annotated_image"]
    assert images[0]["Topic"]["Reliability Policy"] in ("Best Effort", "Reliable")
    frame = manager["Global Options"]["Fixed Frame"]
    assert frame == load_params("usb_cam.yaml")["frame_id"] == load_params("camera.yaml")["frame_id"]
    assert "Width" in rviz["Window Geometry"] and "Height" in rviz["Window Geometry"]


# -- the real nodes ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def domain_id() -> int:
    """A DDS domain of this module's own, so no other test's node answers our service calls."""
    return random.randint(120, 200)


@pytest.fixture(scope="module")
def detector_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    """'' (the bundled model) when present; else a throwaway 2-class detect checkpoint."""
    if (REPO / "models" / DEFAULT_MODEL_NAME).is_file():
        return ""
    import torch
    from ultralytics.nn.tasks import DetectionModel

    model = DetectionModel("yolov5n.yaml", nc=2, verbose=False)
    model.names = {0: "neutral", 1: "smile"}
    # Not "*yolov5n.pt": Ultralytics would take that for an upstream YOLOv5 file and look for yolov5nu.
    path = tmp_path_factory.mktemp("model") / "throwaway_detect.pt"
    torch.save({"model": model.half(), "train_args": {}}, path)
    return str(path)


class Started:
    """A node process started with ``--ros-args`` in its own domain; output in a log file."""

    def __init__(self, module: str, ros_args: list[str], log: Path, domain: int) -> None:
        env = dict(
            os.environ,
            ROS_DOMAIN_ID=str(domain),
            ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
            PYTHONUNBUFFERED="1",
            RCUTILS_COLORIZED_OUTPUT="0",
            YOLO_OFFLINE="1",
        )
        env.pop("ROS_LOCALHOST_ONLY", None)
        self.log = log
        self._out = log.open("w")
        self.proc = subprocess.Popen(
            node_command(module, ros_args=ros_args),
            cwd=REPO,
            env=env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        if not self._out.closed:
            self._out.flush()
        return self.log.read_text()

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            assert self.proc.poll() is None, f"node exited ({self.proc.returncode}):\n{self.output()}"
            assert time.monotonic() < deadline, f"no {text!r} after {timeout} s:\n{self.output()}"
            time.sleep(0.1)

    def finish(self, timeout: float = 20.0) -> int:
        """SIGINT (as Ctrl-C / ros2 launch) if still running; the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._out.close()
        return self.proc.returncode


@pytest.fixture(scope="module")
def client_node(domain_id: int) -> Iterator[Node]:
    context = Context()
    rclpy.init(context=context, domain_id=domain_id)
    node = Node("config_file_test_client", context=context)
    yield node
    node.destroy_node()
    rclpy.try_shutdown(context=context)


def remote_parameters(node: Node, target: str, names: list[str]) -> dict[str, object]:
    """Values the running node reports through its get_parameters service."""
    executor = SingleThreadedExecutor(context=node.context)
    executor.add_node(node)
    try:
        request = GetParameters.Request(names=names)
        response = call_service(
            node, GetParameters, f"{target}/get_parameters", request, spin_once=executor.spin_once
        )
    finally:
        executor.remove_node(node)
    return {n: parameter_value_to_python(v) for n, v in zip(names, response.values)}


def write_params(path: Path, params: dict[str, object]) -> Path:
    path.write_text(yaml.safe_dump({WILDCARD: {"ros__parameters": params}}))
    return path


def detector_case(model: str) -> tuple[str, list[str]]:
    """Module and extra arguments that make the detector start here."""
    return "detector", (["-p", f"model:={model}"] if model else [])


CAMERA_ARGS = ["-p", "source:=media/carphone.mp4", "-p", "loop:=true", "-r", "image_raw:=camera/image_raw"]


def test_detector_starts_with_detector_yaml_and_reports_its_values(
    tmp_path: Path, detector_model: str, client_node: Node, domain_id: int
) -> None:
    module, extra = detector_case(detector_model)
    node = Started(
        module, ["--params-file", str(CONFIG / "detector.yaml"), *extra], tmp_path / "detector.log", domain_id
    )
    try:
        node.wait_for("listening on /camera/image_raw", timeout=60)
        expected = load_params("detector.yaml")
        if detector_model:
            expected["model"] = detector_model
        assert remote_parameters(client_node, "/face_expression_detector", list(expected)) == expected
    finally:
        code = node.finish()
    assert code == 0, node.output()


def test_camera_starts_with_camera_yaml_on_camera_image_raw(
    tmp_path: Path, client_node: Node, domain_id: int
) -> None:
    """As webcam.launch.py camera_driver:=opencv starts it (source: the bundled clip, no device here)."""
    args = ["--params-file", str(CONFIG / "camera.yaml"), *CAMERA_ARGS]
    node = Started("camera", args, tmp_path / "camera.log", domain_id)
    try:
        node.wait_for("on /camera/image_raw", timeout=30)
        expected = {**load_params("camera.yaml"), "source": "media/carphone.mp4", "loop": True}
        assert remote_parameters(client_node, "/face_expression_camera", list(expected)) == expected
    finally:
        code = node.finish()
    assert code == 0, node.output()


def assert_rejected(node: Started, culprit: str) -> None:
    """Exit code 1 with one FATAL line naming the culprit, no traceback, before doing any work."""
    try:
        node.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"node accepted the bad file and kept running:\n{node.output()}")
    finally:
        code = node.finish()
    out = node.output()
    assert code == 1, out
    fatal = [line for line in out.splitlines() if "[FATAL]" in line]
    assert len(fatal) == 1 and culprit in fatal[0], out
    assert "Traceback" not in out, out


BAD_FILES = {
    "unknown key": ({"conf_treshold": 0.5}, "conf_treshold"),
    "int for a double": ({"conf_threshold": 1}, "conf_threshold"),
    "string for an int": ({"imgsz": "640"}, "imgsz"),
    "int for a bool": ({"half": 0}, "half"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_detector_rejects_a_bad_params_file(
    tmp_path: Path, detector_model: str, domain_id: int, case: str
) -> None:
    change, culprit = BAD_FILES[case]
    params = write_params(tmp_path / "bad.yaml", {**load_params("detector.yaml"), **change})
    module, extra = detector_case(detector_model)
    node = Started(module, ["--params-file", str(params), *extra], tmp_path / "bad.log", domain_id)
    assert_rejected(node, culprit)


@pytest.mark.parametrize(
    ("change", "culprit"), [({"frame_ID": "camera"}, "frame_ID"), ({"rate": 30}, "rate")]
)
def test_camera_rejects_a_bad_params_file(tmp_path: Path, domain_id: int, change: dict, culprit: str) -> None:
    params = write_params(tmp_path / "bad.yaml", {**load_params("camera.yaml"), **change})
    args = ["--params-file", str(params), *CAMERA_ARGS]
    assert_rejected(Started("camera", args, tmp_path / "bad.log", domain_id), culprit)
