"""Camera source node for machines without usb_cam: a device, a video file or an image folder.

Publishes ``image_raw`` (default /camera/image_raw, like usb_cam in namespace ``camera``) at a
set rate with the configured frame_id. With a file or folder and ``loop`` false, the node
exits when the source ends, which lets scripts run a clip through the pipeline once.
"""

from __future__ import annotations

import sys

import rclpy
from rcl_interfaces.msg import FloatingPointRange
from rclpy.duration import Duration
from rclpy.exceptions import ParameterException  # wrong type/range in a params file
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from face_expression.core.frame_source import FrameSource, SourceError
from face_expression.ros import messages
from face_expression.ros.qos import image_qos
from face_expression.ros.startup import (
    create_node_or_exit_code,
    declare_parameters,
    default_topic,
    init_or_exit_code,
    spin_until_shutdown,
)

NODE_NAME = "face_expression_camera"
ENCODINGS = ("rgb8", "bgr8")

PARAMETERS: dict[str, tuple[object, str, dict]] = {
    "source": ("0", "Camera index (0 = /dev/video0), video file or folder of images.", {"read_only": True}),
    "rate": (
        30.0,
        "Frames per second to publish; 0 = the video's own rate (30 if unknown).",
        {"floating_point_range": [FloatingPointRange(from_value=0.0, to_value=1000.0, step=0.0)]},
    ),
    "loop": (False, "Start a file or folder again at its end instead of exiting.", {"read_only": True}),
    "frame_id": ("camera", "frame_id of the published images.", {}),
    "encoding": ("rgb8", f"Published encoding: {', '.join(ENCODINGS)}.", {}),
    "width": (0, "Requested capture width for a camera device; 0 = driver default.", {"read_only": True}),
    "height": (0, "Requested capture height for a camera device; 0 = driver default.", {"read_only": True}),
    "wait_for_subscribers": (
        False,
        "Hold the first frame until someone subscribes, then each frame until the subscribers have "
        "it (scripts, demos: no frame is lost to a subscriber still being discovered).",
        {"read_only": True},
    ),
}


#: Seconds to wait for subscribers to acknowledge frames (reliable) before going on or exiting.
ACK_TIMEOUT_S = 2.0


class CameraNode(Node):
    """Publishes frames from a FrameSource on a timer."""

    def __init__(self, **kwargs) -> None:
        super().__init__(NODE_NAME, **kwargs)
        p = declare_parameters(self, PARAMETERS)
        if p["encoding"] not in ENCODINGS:
            raise ValueError(f"encoding={p['encoding']!r} is unsupported; use one of {', '.join(ENCODINGS)}")
        self._source = FrameSource(str(p["source"]), bool(p["loop"]), int(p["width"]), int(p["height"]))
        self._frames = iter(self._source)
        rate = float(p["rate"]) or self._source.native_fps or 30.0
        self.published = 0
        self.finished = False
        self._warned_unreadable = 0
        topic = default_topic(self, "image_raw", "camera/image_raw")
        self._pub = self.create_publisher(Image, topic, image_qos("reliable", depth=1))
        self._wait_for_subscribers = bool(p["wait_for_subscribers"])
        self._deliver_each = self._wait_for_subscribers
        self._timer = self.create_timer(1.0 / rate, self._tick)
        self.get_logger().info(
            f"publishing {p['source']} on {self.resolve_topic_name(topic)} at {rate:g} Hz ({p['encoding']})"
        )

    def _tick(self) -> None:
        if self._wait_for_subscribers:
            if self._pub.get_subscription_count() == 0:
                return
            self._wait_for_subscribers = False
        frame = next(self._frames, None)
        if len(self._source.unreadable) > self._warned_unreadable:
            bad = self._source.unreadable[self._warned_unreadable :]
            self._warned_unreadable = len(self._source.unreadable)
            self.get_logger().warning(f"skipped unreadable image(s): {', '.join(map(str, bad))}")
        if frame is None:
            self.finished = True
            self._timer.cancel()
            # the last frames reach the subscribers before the process exits with them
            self._pub.wait_for_all_acked(Duration(seconds=ACK_TIMEOUT_S))
            self.get_logger().info(f"source ended after {self.published} frames")
            return
        header = Header(stamp=self.get_clock().now().to_msg(), frame_id=self.get_parameter("frame_id").value)
        encoding = self.get_parameter("encoding").value
        self._pub.publish(messages.bgr_to_image(frame, header, encoding if encoding in ENCODINGS else "rgb8"))
        self.published += 1
        if self._deliver_each:
            # depth 1: the next frame would replace this one before a reader that is still matching
            # the camera (found under load: 1 of 2 frames arrived) asked for it
            self._pub.wait_for_all_acked(Duration(seconds=ACK_TIMEOUT_S))

    def destroy_node(self) -> None:
        if hasattr(self, "_source"):  # absent when start-up failed (rclpy still destroys the node)
            self._source.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Entry point of ``ros2 run face_expression camera``; exits 1 if the source cannot be opened."""
    failed = init_or_exit_code(args, NODE_NAME)
    if failed is not None:
        return failed
    node = create_node_or_exit_code(CameraNode, NODE_NAME, (SourceError, ValueError, ParameterException))
    if isinstance(node, int):
        return node

    def until_finished() -> None:
        while rclpy.ok() and not node.finished:
            rclpy.spin_once(node, timeout_sec=0.1)

    return spin_until_shutdown(node, spin=until_finished)


if __name__ == "__main__":
    sys.exit(main())
