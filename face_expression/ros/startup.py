"""Node start-up: default topics, params-file checks, one clear line instead of a traceback."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TypeVar

import rclpy
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node

from face_expression.ros.rclpy_internals import parameter_overrides

N = TypeVar("N", bound=Node)
_IMPORTED = time.monotonic()  # fallback start time where /proc is missing

#: name -> (default, description, extra ParameterDescriptor fields): each node's table, declared once.
ParameterTable = dict[str, tuple[object, str, dict]]


def declare_parameters(node: Node, table: ParameterTable) -> dict[str, object]:
    """Declare every parameter of ``table`` with its descriptor; reject undeclared overrides.

    Returns the values in force (defaults, params file, ``-p``).
    """
    for name, (default, description, extra) in table.items():
        node.declare_parameter(name, default, ParameterDescriptor(description=description, **extra))
    check_parameter_overrides(node)  # a params-file typo must not pass silently
    return {name: node.get_parameter(name).value for name in table}


def default_topic(node: Node, name: str, fallback: str) -> str:
    """``name`` if the user remapped it, else ``fallback`` (relative, so namespaces apply).

    Lets ``ros2 run face_expression detector`` find usb_cam's /camera/image_raw with no
    arguments while ``-r image:=/other`` still works.
    """
    if node.resolve_topic_name(name) != node.resolve_topic_name(name, only_expand=True):
        return name
    return fallback


def check_parameter_overrides(node: Node) -> None:
    """Raise ValueError naming every override (params file, ``-p``) the node did not declare.

    rclpy silently ignores overrides of undeclared parameters, so a typo in a params file would
    otherwise leave the default in force with no warning. Call after all parameters are declared.
    """
    overrides = parameter_overrides(node)
    if overrides is None:
        node.get_logger().warning(
            "this rclpy does not expose parameter overrides: params-file typos go unnoticed"
        )
        return
    unknown = sorted(name for name in overrides if not node.has_parameter(name))
    if unknown:
        declared = ", ".join(sorted(node.list_parameters([], 0).names))
        raise ValueError(
            f"unknown parameter(s) for node {node.get_fully_qualified_name()}: {', '.join(unknown)} "
            f"(check the params file / -p arguments; declared: {declared})"
        )


def create_node_or_exit_code(
    factory: Callable[[], N], node_name: str, errors: tuple[type[Exception], ...]
) -> N | int:
    """Build a node; a start-up error the user can fix becomes one FATAL line and exit code 1.

    Ctrl-C while a model or source is still loading exits quietly with 130.
    """
    try:
        return factory()
    except errors as exc:
        rclpy.logging.get_logger(node_name).fatal(str(exc))
        code = 1
    except KeyboardInterrupt:
        code = 130
    rclpy.try_shutdown()
    return code


def process_age_s() -> float:
    """Seconds since this process started (Linux /proc), else since this module was imported.

    Start-up to the first answered frame is what a robot's boot sequence waits on; counting from
    the process start includes the interpreter and every import.
    """
    try:
        ticks = int(open("/proc/self/stat").read().rsplit(")", 1)[1].split()[19])
        uptime = float(open("/proc/uptime").read().split()[0])
        return max(0.0, uptime - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return time.monotonic() - _IMPORTED
