"""Conversions between ROS messages and the core's arrays and detections.

Needs the message packages (sensor_msgs, vision_msgs) but no running node, so it is tested
without DDS. cv_bridge is used for decoding where it is installed; our own decoder (which
handles usb_cam's YUYV and padded rows) is the fallback and the validator in both cases.
"""

from __future__ import annotations

import array
from collections.abc import Mapping, Sequence
from functools import lru_cache

import numpy as np
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from vision_msgs.msg import (
    BoundingBox2D,
    Detection2D,
    Detection2DArray,
    LabelInfo,
    ObjectHypothesisWithPose,
    VisionClass,
)

from face_expression.core import image_codec
from face_expression.core.detections import Detection

#: Encodings cv_bridge converts correctly to bgr8 (YUV variants differ across distros).
_BRIDGE_ENCODINGS = frozenset({"rgb8", "bgr8", "rgba8", "bgra8", "mono8"})


@lru_cache(maxsize=1)
def _bridge():
    """cv_bridge's converter, built on first use (it exists only in a ROS 2 distro; optional)."""
    try:
        from cv_bridge import CvBridge
    except ImportError:  # pragma: no cover - depends on the machine
        return None
    return CvBridge()


def raw_frame(msg: Image) -> image_codec.RawFrame:
    return image_codec.RawFrame(msg.data, msg.encoding, msg.width, msg.height, msg.step)


def image_to_bgr(msg: Image) -> np.ndarray:
    """Decode a sensor_msgs/Image to BGR; raises image_codec.FrameError on a bad frame."""
    frame = raw_frame(msg)
    image_codec.validate(frame)
    bridge = _bridge() if msg.encoding in _BRIDGE_ENCODINGS else None
    if bridge is not None:
        return bridge.imgmsg_to_cv2(msg, desired_encoding="bgr8")
    return image_codec.decode(frame)


def bgr_to_image(image_bgr: np.ndarray, header: Header, encoding: str = "bgr8") -> Image:
    """Build a sensor_msgs/Image; ``array.array`` keeps rosidl off its slow per-byte check."""
    pixels, step = image_codec.encode(image_bgr, encoding)
    msg = Image()
    msg.header = header
    msg.height, msg.width = int(pixels.shape[0]), int(pixels.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = step
    data = array.array("B")
    data.frombytes(pixels.tobytes())
    msg.data = data
    return msg


def detections_to_msg(detections: Sequence[Detection], header: Header) -> Detection2DArray:
    """One Detection2D per face, all stamped with the input image's header."""
    out = Detection2DArray()
    out.header = header
    for det in detections:
        d = Detection2D()
        d.header = header
        hyp = ObjectHypothesisWithPose()
        hyp.hypothesis.class_id = det.class_name
        hyp.hypothesis.score = float(det.score)
        d.results.append(hyp)
        box = BoundingBox2D()
        cx, cy = det.center
        box.center.position.x = float(cx)
        box.center.position.y = float(cy)
        box.center.theta = 0.0
        box.size_x, box.size_y = (float(v) for v in det.size)
        d.bbox = box
        d.id = det.track_id
        out.detections.append(d)
    return out


def msg_to_detections(msg: Detection2DArray) -> list[Detection]:
    """The inverse of detections_to_msg (class ids are not on the wire: -1; ``id`` is track_id)."""
    out = []
    for d in msg.detections:
        cx, cy = d.bbox.center.position.x, d.bbox.center.position.y
        hx, hy = d.bbox.size_x / 2.0, d.bbox.size_y / 2.0
        hyp = d.results[0].hypothesis if d.results else None
        out.append(
            Detection(
                cx - hx,
                cy - hy,
                cx + hx,
                cy + hy,
                -1,
                hyp.class_id if hyp else "",
                hyp.score if hyp else 0.0,
                d.id,
            )
        )
    return out


def label_info(names: Mapping[int, str], threshold: float, header: Header) -> LabelInfo:
    msg = LabelInfo()
    msg.header = header
    msg.threshold = float(threshold)
    for class_id, name in sorted(names.items()):
        msg.class_map.append(VisionClass(class_id=int(class_id), class_name=str(name)))
    return msg
