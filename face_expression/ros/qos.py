"""QoS for our topics: camera streams by name, following the publishers, and latched topics."""

from __future__ import annotations

from rclpy.node import Node
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_system_default,
)

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

    Best effort receives from any publisher, but Fast DDS loses most best-effort frames larger
    than its default shared-memory segment (measured: config/fastdds_large_frames.xml). Matching
    reliable publishers avoids that, and a depth of 1 still keeps only the newest frame.
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
