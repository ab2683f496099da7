"""Node start-up: default topics, params-file checks, one clear line instead of a traceback."""

from __future__ import annotations

import itertools
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import rclpy
import yaml
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.exceptions import InvalidHandle
from rclpy.executors import ExternalShutdownException
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


def params_file_problem(args: Sequence[str]) -> str | None:
    """Why a ``--params-file`` among ``args`` cannot be read (missing, unreadable, not YAML), else None.

    rcl would raise an RCLError with its C source locations from inside ``rclpy.init``.
    """
    for flag, value in itertools.pairwise(args):
        if flag != "--params-file":
            continue
        path = Path(value).expanduser()
        if not path.is_file():
            return f"params file {path} does not exist (check the params_file argument / --params-file path)"
        try:
            yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            return f"cannot read params file {path}: {exc}"
        except yaml.YAMLError as exc:
            where = getattr(exc, "problem_mark", None)
            line = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
            reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            return f"params file {path} is not valid YAML{line}: {reason}"
    return None


def init_or_exit_code(args: list[str] | None, node_name: str) -> int | None:
    """``rclpy.init``; a bad params file or ROS argument: one FATAL line and exit code 1 (else None)."""
    problem = params_file_problem(sys.argv if args is None else args)
    if problem is None:
        try:
            rclpy.init(args=args)
            return None
        except RuntimeError as exc:  # rclpy's RCLError: what rcl's argument parser rejected
            text = re.sub(r",? at /\S+:\d+", "", str(exc))
            problem = "cannot start: " + " ".join(text.split())
    rclpy.logging.get_logger(node_name).fatal(problem)
    return 1


def create_node_or_exit_code(
    factory: Callable[[], N], node_name: str, errors: tuple[type[Exception], ...]
) -> N | int:
    """Build a node; a start-up error the user can fix becomes one FATAL line and exit code 1.

    Ctrl-C while a model or source is still loading exits quietly with 130; SIGTERM (which rclpy
    turns into a context shutdown, so the next rclpy call fails) exits quietly with 0.
    """
    try:
        return factory()
    except KeyboardInterrupt:
        code = 130
    except (*errors, RuntimeError, InvalidHandle) as exc:
        if not rclpy.ok():  # a signal shut the context down while the node was being built
            code = 0
        elif isinstance(exc, errors):
            rclpy.logging.get_logger(node_name).fatal(str(exc))
            code = 1
        else:
            raise
    rclpy.try_shutdown()
    return code


def spin_until_shutdown(
    node: Node,
    closing: Callable[[], tuple[str, object]] | None = None,
    spin: Callable[[], None] | None = None,
) -> int:
    """Spin (``rclpy.spin``, or ``spin``) until Ctrl-C/SIGTERM, then print ``closing()``'s line and
    destroy the node; exit code 0.

    ``closing`` returns (line, stream): rosout is gone once the context shut down, so the last
    word is printed. A callback that was running when Ctrl-C shut the context down fails with
    e.g. "publisher's context is invalid" (seen once in a ros2 launch test): the shutdown's doing,
    not an error. A second Ctrl-C during the clean-up is ignored (see below).
    """
    try:
        spin() if spin else rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        if rclpy.ok():
            raise
    finally:
        finish_despite_second_interrupt()
        if closing is not None:
            line, stream = closing()
            print(line, file=stream, flush=True)
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


def finish_despite_second_interrupt() -> None:
    """Ignore further Ctrl-C so the clean-up after the first one completes.

    A terminal's Ctrl-C reaches a launched node twice: the terminal signals the whole process
    group and ``ros2 launch`` forwards SIGINT to each node. Found by running ``ros2 launch``: the
    second one raised KeyboardInterrupt inside destroy_node and the detector died (exit -6).
    ``ros2 launch`` still escalates to SIGTERM and SIGKILL if clean-up hangs.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)


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
