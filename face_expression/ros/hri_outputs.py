"""ROS4HRI (REP-155) face topics from tracked faces, field for field as hri_msgs 2.x defines them.

- ``/humans/faces/tracked`` (hri_msgs/IdsList): the faces tracked now, every processed frame;
  consumers (libhri's listener) discover and drop faces from this list only.
- per face ``/humans/faces/<id>/roi`` (hri_msgs/NormalizedRegionOfInterest2D, c = the detector's
  confidence), ``/humans/faces/<id>/cropped`` (sensor_msgs/Image, bgr8: the face centred and
  zero-padded to a square, ``crop_size`` pixels; computed only while someone subscribes) and
  ``/humans/faces/<id>/expression`` (hri_msgs/Expression, confidence = the smoothed score).

Every message carries the input image's header. Per-face publishers are created when a face is
first reported and destroyed when it leaves ``tracked``, so the topic list does not grow on a busy
day. QoS as the reference detector (hri_face_detect): reliable, depth 1. hri_msgs is imported
here, only when the node's ``hri`` parameter is on.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from rclpy.node import Node
from rclpy.publisher import Publisher
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from face_expression.core.face_crops import square_crop
from face_expression.core.tracking import TrackingResult
from face_expression.ros import messages

FACES = "/humans/faces"
#: Our class names that are not themselves Expression constants.
EXPRESSION_ALIASES: Mapping[str, str] = {"smile": "happy", "smiling": "happy"}

HRI_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)


def import_hri_msgs():
    """The hri_msgs message module, or a ValueError that says how to get it."""
    try:
        from hri_msgs import msg
    except ImportError as exc:
        raise ValueError(
            "hri:=true needs the hri_msgs package (ROS4HRI): install ros-$ROS_DISTRO-hri-msgs, or build "
            f"our copy with `bash interfaces/build_interfaces.sh VENV hri_msgs` ({exc})"
        ) from None
    return msg


def expression_constants(expression_type: type) -> frozenset[str]:
    """The values of hri_msgs/Expression's string constants (``happy``, ``neutral``, ...)."""
    return frozenset(
        v for k, v in vars(expression_type).items() if k.isupper() and isinstance(v, str) and v == k.lower()
    )


def expression_name(class_name: str, constants: frozenset[str]) -> str | None:
    """Our class name as an Expression constant: smile -> happy; others in lower case if one exists."""
    name = class_name.strip().lower()
    name = EXPRESSION_ALIASES.get(name, name)
    return name if name in constants else None


class _Face:
    """The publishers of one tracked face."""

    def __init__(self, node: Node, face_id: str, msg) -> None:
        base = f"{FACES}/{face_id}"
        self.roi: Publisher = node.create_publisher(msg.NormalizedRegionOfInterest2D, f"{base}/roi", HRI_QOS)
        self.cropped: Publisher = node.create_publisher(Image, f"{base}/cropped", HRI_QOS)
        self.expression: Publisher = node.create_publisher(msg.Expression, f"{base}/expression", HRI_QOS)

    def destroy(self, node: Node) -> None:
        for pub in (self.roi, self.cropped, self.expression):
            node.destroy_publisher(pub)


class HriOutputs:
    """Publishes one frame's tracked faces on the REP-155 topics."""

    def __init__(self, node: Node, crop_size: int = 128) -> None:
        self._msg = import_hri_msgs()
        self._node = node
        self.crop_size = crop_size
        self._constants = expression_constants(self._msg.Expression)
        self._tracked = node.create_publisher(self._msg.IdsList, f"{FACES}/tracked", HRI_QOS)
        self._faces: dict[str, _Face] = {}
        self._unmapped: set[str] = set()

    @property
    def face_ids(self) -> list[str]:
        """Faces that have publishers now."""
        return list(self._faces)

    def publish(self, header: Header, image_bgr: np.ndarray, result: TrackingResult) -> None:
        node, msg = self._node, self._msg
        tracked = set(result.tracked_ids)
        for face_id in [f for f in self._faces if f not in tracked]:
            self._faces.pop(face_id).destroy(node)  # lost: its topics go with it
        h, w = image_bgr.shape[:2]
        for det, confidence in zip(result.detections, result.confidences):
            face = self._faces.get(det.track_id)
            if face is None:
                face = self._faces[det.track_id] = _Face(node, det.track_id, msg)
            roi = msg.NormalizedRegionOfInterest2D()
            roi.header = header
            roi.xmin, roi.xmax = (float(min(1.0, max(0.0, x / w))) for x in (det.x1, det.x2))
            roi.ymin, roi.ymax = (float(min(1.0, max(0.0, y / h))) for y in (det.y1, det.y2))
            roi.c = float(min(1.0, max(0.0, confidence)))
            face.roi.publish(roi)
            name = expression_name(det.class_name, self._constants)
            if name is not None:
                expression = msg.Expression(header=header, expression=name)
                expression.confidence = float(min(1.0, max(0.0, det.score)))
                face.expression.publish(expression)
            elif det.class_name not in self._unmapped:
                self._unmapped.add(det.class_name)
                node.get_logger().warning(
                    f"class {det.class_name!r} is no hri_msgs/Expression constant: no expression published "
                    "for it (rename the class, e.g. smile or happy, to publish it)"
                )
            if face.cropped.get_subscription_count() > 0:
                crop = square_crop(image_bgr, (det.x1, det.y1, det.x2, det.y2), self.crop_size)
                face.cropped.publish(messages.bgr_to_image(crop, header))
        self._tracked.publish(msg.IdsList(header=header, ids=list(result.tracked_ids)))

    def close(self) -> None:
        for face in self._faces.values():
            face.destroy(self._node)
        self._faces.clear()
