"""A ROS4HRI consumer, as libhri's listener works: faces are discovered from /humans/faces/tracked only.

A new id in ``tracked`` makes it subscribe to that face's ``roi``, ``cropped`` and ``expression``;
an id that disappears is "lost": its subscriptions are destroyed. Everything received is kept for
the tests to check.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from hri_msgs.msg import Expression, IdsList, NormalizedRegionOfInterest2D
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

FACES = "/humans/faces"
#: What libhri subscribes with: reliable, a short queue.
QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)


@dataclass
class FaceRecord:
    roi: list[NormalizedRegionOfInterest2D] = field(default_factory=list)
    cropped: list[Image] = field(default_factory=list)
    expression: list[Expression] = field(default_factory=list)
    subscriptions: list = field(default_factory=list)


class HriListener:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.lock = threading.Lock()
        self.tracked: list[IdsList] = []
        self.faces: dict[str, FaceRecord] = {}  # every face ever seen, by id
        self.current: set[str] = set()
        self.lost: list[str] = []
        node.create_subscription(IdsList, f"{FACES}/tracked", self._on_tracked, QOS)

    def _on_tracked(self, msg: IdsList) -> None:
        with self.lock:
            self.tracked.append(msg)
            ids = set(msg.ids)
            for face_id in ids - self.current:
                self._follow(face_id)
            for face_id in self.current - ids:
                self.lost.append(face_id)
                for sub in self.faces[face_id].subscriptions:
                    self.node.destroy_subscription(sub)
                self.faces[face_id].subscriptions.clear()
            self.current = ids

    def _follow(self, face_id: str) -> None:
        record = self.faces.setdefault(face_id, FaceRecord())
        base = f"{FACES}/{face_id}"
        for name, msg_type, into in (
            ("roi", NormalizedRegionOfInterest2D, record.roi),
            ("cropped", Image, record.cropped),
            ("expression", Expression, record.expression),
        ):
            record.subscriptions.append(
                self.node.create_subscription(msg_type, f"{base}/{name}", self._keep(into), QOS)
            )

    def _keep(self, into: list) -> Callable:
        def callback(msg) -> None:
            with self.lock:
                into.append(msg)

        return callback

    def tracked_at(self, stamp: tuple[int, int]) -> list[str] | None:
        with self.lock:
            for msg in self.tracked:
                if (msg.header.stamp.sec, msg.header.stamp.nanosec) == stamp:
                    return list(msg.ids)
        return None
