"""Small rclpy helpers shared by the nodes: QoS by name, default topics, overrides, log throttling."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from typing import TypeVar

import rclpy
from rclpy.node import Node
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_system_default,
)

N = TypeVar("N", bound=Node)

QOS_CHOICES = ("auto", "sensor_data", "reliable", "system_default")


def image_qos(name: str, depth: int = 1) -> QoSProfile:
    """QoS for camera streams by name.

    ``sensor_data`` (best effort, keep last ``depth``) receives from reliable and best-effort
    publishers alike, so it works with usb_cam (reliable) and with most robot drivers.
    """
    if name in ("sensor_data", "auto"):  # auto starts best effort until publishers are seen
        return QoSProfile(
            history=HistoryPolicy.KEEP_LAST,
            depth=depth,
            reliability=ReliabilityPolicy.BEST_EFFORT,
            durability=DurabilityPolicy.VOLATILE,
        )
    if name == "reliable":
        return QoSProfile(
            history=HistoryPolicy.KEEP_LAST,
            depth=depth,
            reliability=ReliabilityPolicy.RELIABLE,
            durability=DurabilityPolicy.VOLATILE,
        )
    if name == "system_default":
        return qos_profile_system_default
    raise ValueError(f"unknown QoS {name!r}; use one of {', '.join(QOS_CHOICES)}")


def auto_image_qos(node: Node, topic: str, depth: int = 1) -> tuple[str, QoSProfile]:
    """Best effort unless every publisher on ``topic`` is reliable; then reliable (same depth).

    Best effort receives from any publisher, but Fast DDS drops a best-effort sample larger than
    the sender's shared-memory segment (512 KiB by default) whenever a fragment does not fit:
    measured here, a 512x512 rgb8 photo from a reliable rclpy publisher arrived 0-1 times in 10
    best effort and 10 times in 10 reliable. Matching reliable publishers avoids that, and a
    depth of 1 still keeps only the newest frame.
    """
    infos = node.get_publishers_info_by_topic(topic)
    if infos and all(i.qos_profile.reliability == ReliabilityPolicy.RELIABLE for i in infos):
        return "reliable", image_qos("reliable", depth)
    return "sensor_data", image_qos("sensor_data", depth)


def latched_qos() -> QoSProfile:
    """Transient local: late subscribers still get the last message (LabelInfo)."""
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=1,
        reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.TRANSIENT_LOCAL,
    )


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
    rclpy has no public accessor for the overrides; ``_parameter_overrides`` is the attribute
    ``Node.declare_parameter`` itself reads (rclpy Humble to Kilted).
    """
    overrides = getattr(node, "_parameter_overrides", {})
    unknown = sorted(name for name in overrides if not node.has_parameter(name))
    if unknown:
        declared = ", ".join(sorted(node.list_parameters([], 0).names))
        raise ValueError(
            f"unknown parameter(s) for node {node.get_fully_qualified_name()}: {', '.join(unknown)} "
            f"(check the params file / -p arguments; declared: {declared})"
        )


class KeyedThrottle:
    """Rate-limit log lines per distinct problem, so each new kind of error still shows."""

    def __init__(self, period_s: float, max_keys: int = 256) -> None:
        self.period_s = period_s
        self.max_keys = max_keys
        self._last: dict[str, float] = {}

    def ready(self, key: str) -> bool:
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self.period_s:
            return False
        if len(self._last) >= self.max_keys:
            self._last.clear()
        self._last[key] = now
        return True


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


def finish_despite_second_interrupt() -> None:
    """Ignore further Ctrl-C so the clean-up after the first one completes.

    A terminal's Ctrl-C reaches a launched node twice: the terminal signals the whole process
    group and ``ros2 launch`` forwards SIGINT to each node. Found by running ``ros2 launch``: the
    second one raised KeyboardInterrupt inside destroy_node and the detector died (exit -6).
    ``ros2 launch`` still escalates to SIGTERM and SIGKILL if clean-up hangs.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
