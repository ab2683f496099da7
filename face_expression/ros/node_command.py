"""The command line that starts one of our nodes as its own process (demo, tests, benchmarks).

Plain strings, no rclpy import: callers that only spawn nodes stay light.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence

#: executable name (as `ros2 run face_expression NAME` knows it) -> module
NODE_MODULES = {
    "detector": "face_expression.ros.detector_node",
    "lifecycle_detector": "face_expression.ros.lifecycle_node",
    "camera": "face_expression.ros.camera_node",
    "recorder": "face_expression.ros.recorder_node",
}


def ros_value(value: object) -> str:
    """A parameter value as ``-p name:=value`` wants it (booleans lower case, YAML style; '' quoted)."""
    if isinstance(value, bool):
        return str(value).lower()
    return "''" if value == "" else str(value)


def node_command(
    node: str, params: Mapping[str, object] | None = None, ros_args: Sequence[str] = ()
) -> list[str]:
    """``python -m <module> --ros-args -p k:=v ... <ros_args>`` for a node named in NODE_MODULES."""
    cmd = [sys.executable, "-m", NODE_MODULES.get(node, node), "--ros-args"]
    for key, value in (params or {}).items():
        cmd += ["-p", f"{key}:={ros_value(value)}"]
    return [*cmd, *ros_args]
