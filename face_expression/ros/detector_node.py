"""The detector node: camera frames in, vision_msgs/Detection2DArray and annotated images out.

Thin adapter around the ROS-free engine (face_expression.engine). One worker thread takes the
newest frame when it is free, decodes, infers and publishes; frames it had no time for are
replaced inside the middleware (face_expression.ros.newest_message), so a fast camera never builds
a backlog and never costs Python time. A new model loads on a thread of its own
(engine/hot_swap.py): the executor keeps serving parameters and services, and frames keep flowing
on the running model until the new one is ready.
"""

from __future__ import annotations

import dataclasses
import sys
import threading
import time

import rclpy
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, SetParametersResult
from rclpy.exceptions import ParameterException  # wrong type/range in a params file
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from vision_msgs.msg import Detection2DArray, LabelInfo

from face_expression.core.drawing import annotate
from face_expression.core.image_codec import FrameError
from face_expression.core.resources import large_frames_profile_path
from face_expression.core.throttle import KeyedThrottle
from face_expression.engine import backends, offline
from face_expression.engine.config import InferenceConfig, ModelError, check_config, resolve_model_path
from face_expression.engine.detector import ExpressionDetector
from face_expression.engine.hot_swap import HotSwapDetector
from face_expression.ros import messages
from face_expression.ros.newest_message import READER_CHOICES, NewestMessageReader, newest_message_reader
from face_expression.ros.qos import QOS_CHOICES, auto_image_qos, image_qos, latched_qos
from face_expression.ros.startup import (
    ParameterTable,
    create_node_or_exit_code,
    declare_parameters,
    default_topic,
    process_age_s,
)
from face_expression.ros.transport_hint import LargeFrameWatch

NODE_NAME = "face_expression_detector"
DEFAULT_IMAGE_TOPIC = "camera/image_raw"

_UNIT = FloatingPointRange(from_value=0.0, to_value=1.0, step=0.0)

#: name -> (default, description, extra descriptor fields). Declared once, in this order.
PARAMETERS: ParameterTable = {
    "model": (
        "",
        "Path to an Ultralytics detect model (.pt, .onnx or *_openvino_model folder); "
        "empty = the bundled starter model. Changing it reloads the model.",
        {},
    ),
    "imgsz": (
        0,
        "Inference size (long side, multiple of 32); 0 = the size the model was trained at. "
        "Smaller is faster.",
        {"integer_range": [IntegerRange(from_value=0, to_value=4096, step=32)]},
    ),
    "conf_threshold": (0.25, "Minimum confidence of a reported face.", {"floating_point_range": [_UNIT]}),
    "iou_threshold": (0.45, "IoU above which NMS merges boxes.", {"floating_point_range": [_UNIT]}),
    "device": ("cpu", "Inference device: cpu, cuda, cuda:N or N.", {}),
    "half": (False, "FP16 inference (CUDA only).", {}),
    "max_det": (
        100,
        "Maximum faces per frame.",
        {"integer_range": [IntegerRange(from_value=1, to_value=1000, step=1)]},
    ),
    "agnostic_nms": (True, "One box per face across classes (a face has one expression).", {}),
    "threads": (
        0,
        "CPU threads for inference; 0 = all cores. All cores measured best on a 2-core CPU shared with a "
        "camera process (2 threads: +15% frames with PyTorch, +23% with ONNX Runtime, equal with "
        "OpenVINO; benchmarks/results/realtime.md); idle threads sleep instead of spinning. Try 1 when "
        "other busy processes share the cores.",
        {"integer_range": [IntegerRange(from_value=0, to_value=256, step=1)]},
    ),
    "image_qos": (
        "auto",
        f"Subscription QoS: {', '.join(QOS_CHOICES)}; depth 1. sensor_data (best effort) receives from "
        "reliable and best-effort cameras; auto uses best effort, or reliable while every publisher "
        "on the topic is reliable (usb_cam), so large frames are not lost in transport.",
        {"read_only": True},
    ),
    "frame_reader": (
        "auto",
        f"How the worker gets the newest frame: {', '.join(READER_CHOICES)}. take: straight from the "
        "middleware's keep-last-1 reader (needs rclpy internals; fastest under overload); callback: "
        "an executor callback stores the newest frame (public API only); auto: take where this rclpy "
        "supports it, else callback.",
        {"read_only": True},
    ),
}

_ENGINE_FIELDS = {f.name for f in dataclasses.fields(InferenceConfig)}


class DetectorNode(Node):
    """Subscribes ``image``; publishes ``detections``, ``annotated_image`` and ``label_info``."""

    def __init__(self, **kwargs) -> None:
        super().__init__(NODE_NAME, **kwargs)
        declare_parameters(self, PARAMETERS)
        qos_name = self.get_parameter("image_qos").value
        if qos_name not in QOS_CHOICES:
            raise ValueError(f"image_qos={qos_name!r} is unknown; use one of {', '.join(QOS_CHOICES)}")

        # ModelError/ValueError end start-up
        self._detector = HotSwapDetector(
            ExpressionDetector(self._config({})), self._on_model_loaded, self._on_model_failed
        )
        problem = backends.version_problem() if self._detector.detector.uses_ultralytics else None
        if problem:  # exports on the CPU run without Ultralytics (engine/lean_runtime.py)
            self.get_logger().warning(problem)
        self._throttle = KeyedThrottle(period_s=5.0)
        self.frames_processed = 0
        self.bad_frames = 0

        self._det_pub = self.create_publisher(Detection2DArray, "detections", 10)
        self._annotated_pub = self.create_publisher(Image, "annotated_image", 2)
        self._label_pub = self.create_publisher(LabelInfo, "label_info", latched_qos())
        self._publish_label_info()

        topic = default_topic(self, "image", DEFAULT_IMAGE_TOPIC)
        self._topic = self.resolve_topic_name(topic)
        self._qos_name = qos_name
        self._sub_mode = "sensor_data" if qos_name == "auto" else qos_name
        self.frames: NewestMessageReader[Image] = newest_message_reader(
            self, Image, topic, image_qos(self._sub_mode), self.get_parameter("frame_reader").value
        )
        if qos_name == "auto":
            self._qos_timer = self.create_timer(1.0, self._match_publishers)
        self._busy_s = 0.0  # time the worker spent on frames: idle time tells transport trouble apart
        self._largest_frame = (0, 0, "", 0)  # width, height, encoding, bytes
        self._frame_watch = LargeFrameWatch(self._topic, str(large_frames_profile_path()))
        self._watch_timer = self.create_timer(1.0, self._watch_transport)
        self.add_on_set_parameters_callback(self._on_set_parameters)

        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._run, name="inference", daemon=True)
        self._worker.start()
        detector = self._detector.detector
        self.get_logger().info(
            f"listening on {self._topic} ({qos_name}, {self.frames.kind} reader); model {detector.path} "
            f"({detector.format}, classes {list(detector.names.values())}) on "
            f"{detector.cfg.device}, imgsz {detector.imgsz}"
        )

    def _match_publishers(self) -> None:
        """image_qos=auto: follow the publishers' reliability as cameras come and go."""
        mode, qos = auto_image_qos(self, self._topic)
        if mode == self._sub_mode:
            return
        self.frames.resubscribe(qos)
        self._sub_mode = mode
        self.get_logger().info(f"image_qos auto: subscribing {mode} to {self._topic}")

    def _watch_transport(self) -> None:
        """One hint when large frames arrive slowly or not at all (ros/transport_hint.py)."""
        stats = self.frames.stats
        hint = self._frame_watch.check(
            time.monotonic(),
            self.count_publishers(self._topic),
            stats.taken,
            stats.skipped if self.frames.kind == "take" else 0,  # sequence gaps only when taking
            self._busy_s,
            self._largest_frame,
        )
        if hint:
            self.get_logger().warning(hint)

    # -- parameters ------------------------------------------------------------------------
    def _config(self, overrides: dict[str, object]) -> InferenceConfig:
        values = {n: self.get_parameter(n).value for n in _ENGINE_FIELDS}
        values.update({k: v for k, v in overrides.items() if k in _ENGINE_FIELDS})
        return InferenceConfig(**values)

    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        """Validate run-time changes at once; a new model, device or precision loads in the background."""
        changes = {p.name: p.value for p in params}
        try:
            cfg = self._config(changes)
            check_config(cfg)
            running = self._detector.detector
            if running.needs_reload(cfg):
                resolve_model_path(cfg.model)  # a missing or unsupported file is rejected now
                self._detector.load(cfg)
                self.get_logger().info(
                    f"loading model {cfg.model or '(bundled)'}; the running one serves meanwhile"
                )
            else:
                self._detector.update(cfg)
                if "conf_threshold" in changes:
                    self._publish_label_info()
        except (ModelError, ValueError) as exc:
            self.get_logger().error(f"parameter change rejected: {exc}")
            return SetParametersResult(successful=False, reason=str(exc))
        return SetParametersResult(successful=True)

    def _on_model_loaded(self, detector: ExpressionDetector) -> None:
        self._publish_label_info(detector)
        self.get_logger().info(f"loaded model {detector.path} ({detector.format}, imgsz {detector.imgsz})")

    def _on_model_failed(self, cfg: InferenceConfig, exc: Exception) -> None:
        """Keep the running model and put the parameters back to what it runs with."""
        running = self._detector.detector.cfg
        self.get_logger().error(f"model load failed, keeping {self._detector.detector.path}: {exc}")
        self.set_parameters(
            [Parameter(name, value=getattr(running, name)) for name in ("model", "device", "half")]
        )

    def _publish_label_info(self, detector: ExpressionDetector | None = None) -> None:
        detector = detector or self._detector.detector
        header = Header(stamp=self.get_clock().now().to_msg())
        self._label_pub.publish(messages.label_info(detector.names, detector.cfg.conf_threshold, header))

    # -- processing ------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            msg = self.frames.take(timeout=0.1)
            if msg is not None:
                started = time.monotonic()
                self.process(msg)
                self._busy_s += time.monotonic() - started

    def process(self, msg: Image) -> None:
        """Decode, detect and publish one frame; a bad frame is logged and dropped."""
        if len(msg.data) > self._largest_frame[3]:
            self._largest_frame = (msg.width, msg.height, msg.encoding, len(msg.data))
        try:
            image = messages.image_to_bgr(msg)
        except FrameError as exc:
            self.bad_frames += 1
            if self._throttle.ready(str(exc)):
                self.get_logger().error(f"frame dropped: {exc}")
            return
        try:
            detections = self._detector(image)
        except Exception as exc:  # a frame must never kill the node
            self.bad_frames += 1
            if self._throttle.ready(type(exc).__name__):
                self.get_logger().error(f"inference failed on a {msg.width}x{msg.height} frame: {exc}")
            return
        self._det_pub.publish(messages.detections_to_msg(detections, msg.header))
        if self._annotated_pub.get_subscription_count() > 0:
            self._annotated_pub.publish(messages.bgr_to_image(annotate(image, detections), msg.header))
        self.frames_processed += 1
        if self.frames_processed == 1:
            self._log_first_frame()

    def _log_first_frame(self) -> None:
        """Start-up time and whether torch/Ultralytics were needed (exports on the CPU run without)."""
        loaded = [name for name in ("torch", "ultralytics") if name in sys.modules]
        detector = self._detector.detector
        self.get_logger().info(
            f"first frame answered {process_age_s():.2f} s after start ({detector.format}); "
            f"modules loaded: {', '.join(loaded) if loaded else 'neither torch nor ultralytics'}"
        )

    def destroy_node(self) -> None:
        if hasattr(self, "_worker"):  # absent when start-up failed (rclpy still destroys the node)
            self._stop.set()
            if self._worker.is_alive():
                self._worker.join(timeout=5.0)
            self._detector.join(timeout=5.0)
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Entry point of ``ros2 run face_expression detector``; exits 1 on a bad model or setting."""
    offline.prepare_environment()  # before torch is imported
    rclpy.init(args=args)
    node = create_node_or_exit_code(DetectorNode, NODE_NAME, (ModelError, ValueError, ParameterException))
    if isinstance(node, int):
        return node
    started = time.monotonic()
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        elapsed = max(time.monotonic() - started, 1e-9)
        stats = node.frames.stats
        # rosout is gone once Ctrl-C shut the context down: print the closing line instead.
        print(
            f"[{NODE_NAME}] processed {node.frames_processed} frames "
            f"({node.frames_processed / elapsed:.1f}/s), skipped {stats.skipped} stale, "
            f"{node.bad_frames} bad",
            file=sys.stderr,
            flush=True,
        )
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
