"""Recorder node: writes the annotated stream to files and prints what was seen per frame.

Used by the demo and handy on a robot without a screen: each Detection2DArray becomes one
printed line (faces, labels, scores, boxes), each annotated image a JPEG, and a summary with
the measured FPS is written when the node stops.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import cv2
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from sensor_msgs.msg import Image
from vision_msgs.msg import Detection2DArray

from face_expression.core.image_codec import FrameError
from face_expression.ros import messages
from face_expression.ros.qos import image_qos
from face_expression.ros.startup import init_or_exit_code, spin_until_shutdown

NODE_NAME = "face_expression_recorder"


def stamp_key(header) -> str:
    return f"{header.stamp.sec}.{header.stamp.nanosec:09d}"


def describe_detections(msg: Detection2DArray) -> str:
    """ "2 faces: a3 smile 0.91 [x=10 y=20 w=30 h=40], ..." for one frame (the id when tracked)."""
    parts = []
    for det in messages.msg_to_detections(msg):
        w, h = det.size
        who = f"{det.track_id} " if det.track_id else ""
        box = f"[x={det.x1:.0f} y={det.y1:.0f} w={w:.0f} h={h:.0f}]"
        parts.append(f"{who}{det.class_name} {det.score:.2f} {box}")
    n = len(parts)
    return f"{n} face{'s' if n != 1 else ''}" + (": " + ", ".join(parts) if parts else "")


class RecorderNode(Node):
    """Subscribes ``detections`` and ``annotated_image``; writes to ``output_dir``."""

    def __init__(self, **kwargs) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self.declare_parameter(
            "output_dir",
            "demo_output",
            ParameterDescriptor(description="Folder for frames and summary.json."),
        )
        self.declare_parameter(
            "save_images", True, ParameterDescriptor(description="Write each annotated image as a JPEG.")
        )
        self.out = Path(self.get_parameter("output_dir").value).expanduser()
        self.save_images = bool(self.get_parameter("save_images").value)
        (self.out / "frames").mkdir(parents=True, exist_ok=True)
        self.frames: list[dict] = []
        self.images_written = 0
        self._first: float | None = None
        self._last: float | None = None
        self.create_subscription(Detection2DArray, "detections", self._on_detections, 50)
        self.create_subscription(Image, "annotated_image", self._on_image, image_qos("reliable", depth=50))

    def _on_detections(self, msg: Detection2DArray) -> None:
        now = time.monotonic()
        self._first = self._first if self._first is not None else now
        self._last = now
        index = len(self.frames)
        record = {
            "frame": index,
            "stamp": stamp_key(msg.header),
            "frame_id": msg.header.frame_id,
            "faces": [
                {
                    "id": d.track_id,
                    "label": d.class_name,
                    "score": round(d.score, 4),
                    "box_xywh": [round(d.x1, 1), round(d.y1, 1), round(d.size[0], 1), round(d.size[1], 1)],
                }
                for d in messages.msg_to_detections(msg)
            ],
        }
        self.frames.append(record)
        print(
            f"frame {index:04d} stamp {record['stamp']}: {describe_detections(msg)}  [{self.fps():.1f} FPS]",
            flush=True,
        )

    def _on_image(self, msg: Image) -> None:
        if not self.save_images:
            return
        try:
            image = messages.image_to_bgr(msg)
        except FrameError as exc:
            self.get_logger().error(f"annotated image not saved: {exc}")
            return
        cv2.imwrite(str(self.out / "frames" / f"{stamp_key(msg.header)}.jpg"), image)
        self.images_written += 1

    def fps(self) -> float:
        if self._first is None or self._last is None or len(self.frames) < 2:
            return 0.0
        return (len(self.frames) - 1) / max(self._last - self._first, 1e-9)

    def closing_line(self) -> str:
        """Write the summary file; the line printed when the recorder stops."""
        path = self.write_summary()
        with_faces = sum(1 for r in self.frames if r["faces"])
        return (
            f"recorded {len(self.frames)} frames ({with_faces} with faces) at {self.fps():.1f} FPS; "
            f"{self.images_written} annotated images in {self.out / 'frames'}; summary {path}"
        )

    def write_summary(self) -> Path:
        faces = [f for r in self.frames for f in r["faces"]]
        labels: dict[str, int] = {}
        ids: dict[str, int] = {}  # tracking id -> frames it was seen in
        for f in faces:
            labels[f["label"]] = labels.get(f["label"], 0) + 1
            if f["id"]:
                ids[f["id"]] = ids.get(f["id"], 0) + 1
        summary = {
            "frames": len(self.frames),
            "frames_with_faces": sum(1 for r in self.frames if r["faces"]),
            "faces": len(faces),
            "labels": labels,
            "ids": ids,
            "fps": round(self.fps(), 2),
            "images_written": self.images_written,
            "per_frame": self.frames,
        }
        path = self.out / "summary.json"
        path.write_text(json.dumps(summary, indent=1))
        return path


def main(args: list[str] | None = None) -> int:
    failed = init_or_exit_code(args, NODE_NAME)
    if failed is not None:
        return failed
    node = RecorderNode()
    return spin_until_shutdown(node, lambda: (node.closing_line(), sys.stdout))


if __name__ == "__main__":
    sys.exit(main())
