"""The detector node's tracking step: ids, steady expressions and the ROS4HRI topics, from parameters.

Time comes from the image header stamps (the node clock only for unstamped frames), so the keep
time and the expression time constant mean the same with dropped frames, a slow camera or a bag
replay. Ids restart when the model, the image size or the frame_id changes, or time runs back.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from rclpy.node import Node
from std_msgs.msg import Header

from face_expression.core.detections import Detection
from face_expression.core.tracking import FaceTracker, TrackerSettings
from face_expression.ros.hri_outputs import HriOutputs


class FaceTracking:
    """Reads the node's tracking parameters; :meth:`update` turns detections into tracked ones."""

    def __init__(self, node: Node) -> None:
        p = {name: node.get_parameter(name).value for name in ("tracking", "hri")}
        self._node = node
        self.tracker: FaceTracker | None = None
        self.hri: HriOutputs | None = None
        if p["hri"] and not p["tracking"]:
            raise ValueError("hri:=true needs tracking:=true (ROS4HRI faces are tracked faces)")
        if p["tracking"]:
            settings = TrackerSettings(
                keep_s=node.get_parameter("track_keep_s").value,
                min_frames=node.get_parameter("track_min_frames").value,
                smoothing=node.get_parameter("expression_smoothing").value,
                time_constant_s=node.get_parameter("expression_time_constant_s").value,
            )
            self.tracker = FaceTracker(settings)
        if p["hri"]:
            self.hri = HriOutputs(node, node.get_parameter("hri_crop_size").value)
        node.get_logger().info(self.describe())

    def close(self) -> None:
        """Destroy the per-face ROS4HRI publishers (lifecycle cleanup)."""
        if self.hri is not None:
            self.hri.close()

    def describe(self) -> str:
        if self.tracker is None:
            return "tracking off"
        s = self.tracker.settings
        smoothing = f"expressions smoothed over {s.time_constant_s:g} s" if s.smoothing else "raw expressions"
        hri = ", ROS4HRI on /humans/faces" if self.hri else ""
        return f"tracking faces (kept {s.keep_s:g} s, {smoothing}){hri}"

    def update(
        self, header: Header, image_bgr: np.ndarray, detections: Sequence[Detection], model: object
    ) -> list[Detection]:
        """Track one frame (and publish it on /humans/faces); returns the detections to publish."""
        if self.tracker is None:
            return list(detections)
        t = header.stamp.sec + header.stamp.nanosec * 1e-9
        if t == 0.0:  # an unstamped camera: the time it is processed is the best we have
            t = self._node.get_clock().now().nanoseconds * 1e-9
        h, w = image_bgr.shape[:2]
        result = self.tracker.update(detections, t, source=(id(model), w, h, header.frame_id))
        if self.hri is not None:
            self.hri.publish(header, image_bgr, result)
        return result.detections
