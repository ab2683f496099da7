"""The detector node: camera frames in, vision_msgs/Detection2DArray and annotated images out.

Thin adapter around the ROS-free engine (face_expression.engine). A worker thread takes the
newest frame when the model has a free slot, decodes, infers and publishes; frames no worker had
time for are replaced inside the middleware (face_expression.ros.newest_message), so a fast camera
never builds a backlog and never costs Python time. Models on the CPU take two frames at once
(``parallel_frames``), on a GPU one; results go out in frame order. A new model loads on a thread of its own
(engine/hot_swap.py): the executor keeps serving parameters and services, and frames keep flowing
on the running model until the new one is ready.

The work is staged as a managed (lifecycle) node stages it: configure loads and checks the model
and creates the publishers, activate subscribes and starts the workers, deactivate stops them and
releases the subscription (and GPU memory), cleanup frees the model. ``DetectorNode`` runs every
stage at start-up (``ros2 run face_expression detector``); ``lifecycle_node.LifecycleDetectorNode``
runs them on transitions.
"""

from __future__ import annotations

import dataclasses
import sys
import threading
import time

from rcl_interfaces.msg import SetParametersResult
from rclpy.exceptions import ParameterException  # wrong type/range in a params file
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.time import Time
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from vision_msgs.msg import Detection2DArray, LabelInfo

from face_expression.core import heap
from face_expression.core.drawing import annotate
from face_expression.core.geometry import MIN_FRAME_SIDE, too_small
from face_expression.core.health import BusyTime, HealthMonitor
from face_expression.core.image_codec import FrameError
from face_expression.core.resources import large_frames_profile_path
from face_expression.core.throttle import KeyedThrottle
from face_expression.engine import backends, offline
from face_expression.engine.config import (
    InferenceConfig,
    ModelError,
    check_config,
    frames_at_once,
    resolve_classifier_path,
    resolve_model_path,
)
from face_expression.engine.detector import ExpressionDetector
from face_expression.engine.devices import release_device_memory
from face_expression.engine.hot_swap import HotSwapDetector
from face_expression.ros import messages
from face_expression.ros.detector_parameters import PARAMETERS
from face_expression.ros.diagnostics import DiagnosticsPublisher
from face_expression.ros.face_tracking import FaceTracking
from face_expression.ros.newest_message import NewestMessageReader, newest_message_reader
from face_expression.ros.qos import QOS_CHOICES, auto_image_qos, image_qos, latched_qos
from face_expression.ros.startup import (
    create_node_or_exit_code,
    declare_parameters,
    default_topic,
    init_or_exit_code,
    process_age_s,
    spin_until_shutdown,
)
from face_expression.ros.transport_hint import LargeFrameWatch

NODE_NAME = "face_expression_detector"
DEFAULT_IMAGE_TOPIC = "camera/image_raw"
START_ERRORS = (ModelError, ValueError, ParameterException)

_ENGINE_FIELDS = {f.name for f in dataclasses.fields(InferenceConfig)}


class DetectorBehaviour:
    """Everything the detector does, in lifecycle stages; mixed into a Node or a LifecycleNode."""

    # -- stages ----------------------------------------------------------------------------
    def _declare(self: Node) -> None:
        """Parameters and state that exist in every lifecycle state."""
        declare_parameters(self, PARAMETERS)
        self._qos_name = self.get_parameter("image_qos").value
        if self._qos_name not in QOS_CHOICES:
            raise ValueError(f"image_qos={self._qos_name!r} is unknown; use one of {', '.join(QOS_CHOICES)}")
        self._throttle = KeyedThrottle(period_s=5.0)
        self.health = HealthMonitor()
        self._detector: HotSwapDetector | None = None
        self._det_pub = self._annotated_pub = self._label_pub = None
        self.frames: NewestMessageReader[Image] | None = None
        self._workers: list[threading.Thread] = []
        self._stop = threading.Event()
        self._take_lock = threading.Lock()  # take a frame and number it in one step
        self._publish_lock = threading.Lock()  # tracking and publishing, in frame order
        # frame numbers, never reset: a result older than the last published one is dropped
        self._taken = self._published = 0
        self._skipped_seen = 0
        self._qos_timer = self._watch_timer = self._trim_timer = None
        self._topic = self.resolve_topic_name(default_topic(self, "image", DEFAULT_IMAGE_TOPIC))
        self._load_after_set: InferenceConfig | None = None
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.add_post_set_parameters_callback(self._start_pending_load)

    def _open_outputs(self: Node) -> None:
        """The output publishers (once; the plain node opens them before the model loads)."""
        if self._det_pub is None:
            self._det_pub = self.create_publisher(Detection2DArray, "detections", 10)
            self._annotated_pub = self.create_publisher(Image, "annotated_image", 2)
            self._label_pub = self.create_publisher(LabelInfo, "label_info", latched_qos())

    def _subscribe(self: Node) -> None:
        """The camera subscription, with image_qos (auto: the publishers seen so far, then every second)."""
        if self._qos_name == "auto":  # publishers discovered by now count at once, the rest every second
            self._sub_mode, qos = auto_image_qos(self, self._topic)
        else:
            self._sub_mode, qos = self._qos_name, image_qos(self._qos_name)
        self.frames = newest_message_reader(
            self, Image, self._topic, qos, self.get_parameter("frame_reader").value
        )

    def _configure(self: Node) -> None:
        """Load and check the model (ModelError/ValueError say why not); create the publishers."""
        cfg = self._config({})
        self.get_logger().info(f"loading model {cfg.model or '(bundled)'}")
        detector = ExpressionDetector(cfg)
        self._detector = HotSwapDetector(detector, self._on_model_loaded, self._on_model_failed)
        self._tracking = FaceTracking(self)  # ids, steady expressions, ROS4HRI topics
        self._open_outputs()
        self._diagnostics = DiagnosticsPublisher(self, self.health, self._describe)
        problem = backends.version_problem() if detector.uses_ultralytics else None
        if problem:  # exports on the CPU run without Ultralytics (engine/lean_runtime.py)
            self.get_logger().warning(problem)
        self._publish_label_info()
        self._warn_imgsz(detector)
        self._log_classifier(detector)

    def _activate(self: Node) -> None:
        """Subscribe the camera and start the workers."""
        self._subscribe()
        self._skipped_seen = 0
        self._qos_timer = self.create_timer(1.0, self._match_publishers) if self._qos_name == "auto" else None
        self._busy = BusyTime()  # time with a frame in hand: idle time tells transport trouble apart
        self._largest_frame = (0, 0, "", 0)  # width, height, encoding, bytes
        self._frame_watch = LargeFrameWatch(self._topic, str(large_frames_profile_path()))
        self._watch_timer = self.create_timer(1.0, self._watch_transport)
        self._trim_timer = self.create_timer(1.0, self._give_back_memory)
        self._stop.clear()
        self._workers = [
            threading.Thread(target=self._run, name=f"inference-{i}", daemon=True)
            for i in range(self._parallel_frames())
        ]
        for worker in self._workers:
            worker.start()
        detector = self._detector.detector
        self.get_logger().info(
            f"listening on {self._topic} ({self._qos_name}: {self._sub_mode}, {self.frames.kind} reader); "
            f"model {detector.path} "
            f"({detector.format}, classes {list(detector.names.values())}) on "
            f"{detector.cfg.device}, imgsz {detector.imgsz}, {self._detector.parallel} frame(s) at once; "
            f"expression classifier {detector.classifier.path if detector.refines_expressions else 'off'}"
        )

    def _deactivate(self: Node) -> None:
        """Stop processing and release the subscription (and the GPU's cached memory)."""
        self._stop_worker()
        for timer in (self._qos_timer, self._watch_timer, self._trim_timer):
            if timer is not None:
                self.destroy_timer(timer)
        self._qos_timer = self._watch_timer = self._trim_timer = None
        if self.frames is not None:
            self.frames.close()
            self.frames = None
        if self._detector is not None:
            release_device_memory(self._detector.detector.cfg.device)

    def _cleanup(self: Node) -> None:
        """Free the model and the publishers: back to a node with parameters only."""
        if self._detector is None:
            return
        device = self._detector.detector.cfg.device
        self._detector.join(timeout=5.0)
        self._tracking.close()
        self._diagnostics.destroy()
        for pub in (self._det_pub, self._annotated_pub, self._label_pub):
            self.destroy_publisher(pub)
        self._det_pub = self._annotated_pub = self._label_pub = None
        self._detector = None
        release_device_memory(device)

    def _stop_worker(self) -> None:
        self._stop.set()
        for worker in self._workers:
            if worker.is_alive():
                worker.join(timeout=5.0)
        self._workers = []

    def _parallel_frames(self: Node) -> int:
        """Worker threads: the parameter, or 2 (auto); a model that takes one frame (a GPU) admits one."""
        return frames_at_once(self.get_parameter("parallel_frames").value)

    # -- parameters ------------------------------------------------------------------------
    def _config(self: Node, overrides: dict[str, object]) -> InferenceConfig:
        values = {n: self.get_parameter(n).value for n in _ENGINE_FIELDS}
        values.update({k: v for k, v in overrides.items() if k in _ENGINE_FIELDS})
        return InferenceConfig(**values)

    def _on_set_parameters(self: Node, params: list[Parameter]) -> SetParametersResult:
        """Validate run-time changes at once; a new model, device or precision loads in the background."""
        changes = {p.name: p.value for p in params}
        try:
            cfg = self._config(changes)
            check_config(cfg)
            if self._detector is None:  # unconfigured: checked now, used at configure
                resolve_classifier_path(cfg.expression_classifier, resolve_model_path(cfg.model))
            elif self._detector.detector.needs_reload(cfg):
                # a missing or unsupported file is rejected now
                resolve_classifier_path(cfg.expression_classifier, resolve_model_path(cfg.model))
                self._load_after_set = cfg
                self.get_logger().info(
                    f"loading model {cfg.model or '(bundled)'}; the running one serves meanwhile"
                )
            else:
                self._detector.update(cfg)
                if "conf_threshold" in changes:
                    self._publish_label_info()
                if {"imgsz", "upscale"} & changes.keys():
                    self._warn_imgsz(self._detector.detector)
        except (ModelError, ValueError) as exc:
            self.get_logger().error(f"parameter change rejected: {exc}")
            return SetParametersResult(successful=False, reason=str(exc))
        return SetParametersResult(successful=True)

    def _start_pending_load(self, _params: list[Parameter]) -> None:
        """Start a load once its parameters are stored, so that one failing at once can put them back."""
        cfg, self._load_after_set = self._load_after_set, None
        if cfg is not None and self._detector is not None:
            self._detector.load(cfg)

    def _on_model_loaded(self: Node, detector: ExpressionDetector) -> None:
        self._publish_label_info(detector)
        self.get_logger().info(f"loaded model {detector.path} ({detector.format}, imgsz {detector.imgsz})")
        self._warn_imgsz(detector)
        self._log_classifier(detector)

    def _on_model_failed(self: Node, cfg: InferenceConfig, exc: Exception) -> None:
        """Keep the running model and put the parameters back to what it runs with."""
        running = self._detector.detector
        self.get_logger().error(f"model load failed, keeping {running.path}: {exc}")
        self.set_parameters(
            [
                Parameter(name, value=getattr(running.cfg, name))
                for name in ("model", "device", "half", "expression_classifier")
            ]
        )

    def _warn_imgsz(self: Node, detector: ExpressionDetector) -> None:
        """Say once, when it is set, what a large imgsz costs."""
        notice = detector.imgsz_notice()
        if notice and self._throttle.ready(notice):
            self.get_logger().warning(notice)

    def _log_classifier(self: Node, detector: ExpressionDetector) -> None:
        """Which second stage runs, or why a configured one does not (once per load)."""
        notice = detector.classifier_notice()
        if notice:
            self.get_logger().warning(notice)
        elif detector.refines_expressions:
            classifier = detector.classifier
            self.get_logger().info(
                f"expression classifier {classifier.path} ({classifier.runtime}) re-labels each face "
                "smile / neutral; scores stay the detector's face confidence"
            )

    def _publish_label_info(self: Node, detector: ExpressionDetector | None = None) -> None:
        detector = detector or self._detector.detector
        header = Header(stamp=self.get_clock().now().to_msg())
        self._label_pub.publish(messages.label_info(detector.names, detector.cfg.conf_threshold, header))

    def _match_publishers(self: Node) -> None:
        """image_qos=auto: follow the publishers' reliability as cameras come and go."""
        mode, qos = auto_image_qos(self, self._topic)
        if mode == self._sub_mode or self.frames is None:
            return
        self.frames.resubscribe(qos)
        self._sub_mode = mode
        self.get_logger().info(f"image_qos auto: subscribing {mode} to {self._topic}")

    def _give_back_memory(self: Node) -> None:
        """Freed frames and tensors back to the OS once a second, for exports on the CPU (core/heap.py).

        PyTorch's models keep glibc's heap as it is: PyTorch allocates anew at every layer.
        """
        swap = self._detector
        if swap is not None and not swap.detector.uses_ultralytics:
            heap.trim()

    def _watch_transport(self: Node) -> None:
        """One hint when large frames arrive slowly or not at all (ros/transport_hint.py)."""
        frames = self.frames
        if frames is None:
            return
        stats = frames.stats
        hint = self._frame_watch.check(
            time.monotonic(),
            self.count_publishers(self._topic),
            stats.taken,
            stats.skipped if frames.kind == "take" else 0,  # sequence gaps only when taking
            self._busy.total_s,
            self._largest_frame,
        )
        if hint:
            self.get_logger().warning(hint)

    def _describe(self) -> dict[str, str]:
        """The model facts /diagnostics carries beside the health figures."""
        detector = self._detector.detector
        return {
            "model": str(detector.path),
            "model format": detector.format,
            "device": detector.cfg.device,
            "runtime": detector.backend.runtime,
            "imgsz": str(detector.imgsz),
            "expression classifier": str(detector.classifier.path) if detector.refines_expressions else "off",
            "image topic": self._topic,
            "frame reader": self.frames.kind if self.frames is not None else "inactive",
        }

    # -- processing ------------------------------------------------------------------------
    def _run(self: Node) -> None:
        while not self._stop.is_set() and self.context.ok():
            try:
                self._serve_one()
            except Exception:
                if self.context.ok():
                    raise
                return  # Ctrl-C/SIGTERM shut the context down while this frame was published

    def _serve_one(self: Node) -> None:
        """Once the model has a free slot: take the newest frame, detect, publish in frame order."""
        with self._detector.slot() as detector:
            with self._take_lock:
                frames = None if self._stop.is_set() else self.frames  # deactivating: take no more
                msg = frames.take(timeout=0.1) if frames is not None else None
                if msg is None:
                    return
                self._taken += 1
                number = self._taken
                self.health.frame_arrived(frames.stats.skipped - self._skipped_seen)
                self._skipped_seen = frames.stats.skipped
            with self._busy:
                found = self._detect(msg, detector)
                if found is not None:
                    self._publish(number, msg, *found, detector)

    def _detect(self: Node, msg: Image, detector: ExpressionDetector) -> tuple | None:
        """Decode and detect one frame: (image, detections), or None for a bad frame (logged)."""
        if len(msg.data) > self._largest_frame[3]:
            self._largest_frame = (msg.width, msg.height, msg.encoding, len(msg.data))
        try:
            image = messages.image_to_bgr(msg)
        except FrameError as exc:
            self.health.frame_dropped(str(exc))
            if self._throttle.ready(str(exc)):
                self.get_logger().error(f"frame dropped: {exc}")
            return None
        if too_small(msg.width, msg.height) and self._throttle.ready(f"too small {msg.width}x{msg.height}"):
            self.get_logger().warning(
                f"frame {msg.width}x{msg.height} is too small to hold a face (a side under {MIN_FRAME_SIDE} "
                "px): publishing an empty Detection2DArray for it"
            )
        try:
            return image, detector(image)
        except Exception as exc:  # a frame must never kill the node
            self.health.inference_failed(f"{type(exc).__name__}: {exc}")
            if self._throttle.ready(f"{type(exc).__name__}: {exc}"):
                self.get_logger().error(f"inference failed on a {msg.width}x{msg.height} frame: {exc}")
            return None

    def _publish(
        self: Node, number: int, msg: Image, image, detections: list, detector: ExpressionDetector
    ) -> None:
        """Track and publish frame ``number``, unless a newer frame's result went out first."""
        with self._publish_lock:
            if self._det_pub is None:  # cleaned up while a worker that outlived its stop finished
                return
            if number < self._published:  # two frames ran at once and the newer one finished first
                self.health.frame_superseded()
                return
            self._published = number
            detections = self._tracking.update(msg.header, image, detections, detector)
            self._det_pub.publish(messages.detections_to_msg(detections, msg.header))
            if self._annotated_pub.get_subscription_count() > 0:
                self._annotated_pub.publish(messages.bgr_to_image(annotate(image, detections), msg.header))
            self.health.frame_processed(self._latency(msg.header))
            if self.health.totals["processed"] == 1:
                self._log_first_frame()

    def _log_first_frame(self: Node) -> None:
        """Start-up time and whether torch/Ultralytics were needed (exports on the CPU run without)."""
        loaded = [name for name in ("torch", "ultralytics") if name in sys.modules]
        detector = self._detector.detector
        applied = detector.refines_expressions  # a classifier set on other classes is not applied
        second = f"classifier on {detector.classifier.runtime}" if applied else "no classifier"
        self.get_logger().info(
            f"first frame answered {process_age_s():.2f} s after start ({detector.format}, {second}); "
            f"modules loaded: {', '.join(loaded) if loaded else 'neither torch nor ultralytics'}"
        )

    def _latency(self: Node, header: Header) -> float | None:
        """Seconds from the image's stamp to now (None for an unstamped frame)."""
        stamp = Time.from_msg(header.stamp)
        if stamp.nanoseconds == 0:
            return None
        return (self.get_clock().now() - stamp).nanoseconds * 1e-9

    def closing_line(self, elapsed: float) -> str:
        """The Ctrl-C summary (printed: rosout is gone once the context shut down)."""
        totals = self.health.totals
        skipped = (
            self.frames.stats.skipped if self.frames is not None else self.health.totals["stale_skipped"]
        )
        return (
            f"[{NODE_NAME}] processed {totals['processed']} frames "
            f"({totals['processed'] / elapsed:.1f}/s), skipped {skipped} stale, "
            f"{totals['bad_dropped'] + totals['failed']} bad"
        )

    def _shut_down(self) -> None:
        """Worker first, then the model loader: nothing publishes once the node is destroyed."""
        self._stop_worker()
        if self._detector is not None:
            self._detector.join(timeout=5.0)


class DetectorNode(DetectorBehaviour, Node):
    """The plain node: subscribes ``image``; publishes ``detections``, ``annotated_image``, ``label_info``."""

    def __init__(self, **kwargs) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self._declare()
        # Publishers before the model: subscribers discover them (~0.1 s; up to 1 s more when Fast
        # DDS must resend a lost discovery message) while it loads. The camera is subscribed after
        # the load, as "ready" (tests and tools wait for the subscription), and image_qos auto then
        # knows the publishers found meanwhile.
        self._open_outputs()
        self._configure()
        self._activate()

    def destroy_node(self) -> None:
        if hasattr(self, "_stop"):  # absent when start-up failed (rclpy still destroys the node)
            self._shut_down()
        super().destroy_node()


def run(factory: type[Node], args: list[str] | None = None) -> int:
    """Start a detector node, spin it until Ctrl-C/SIGTERM, print the summary; the exit code."""
    offline.prepare_environment()  # before torch is imported
    failed = init_or_exit_code(args, NODE_NAME)
    if failed is not None:
        return failed
    node = create_node_or_exit_code(factory, NODE_NAME, START_ERRORS)
    if isinstance(node, int):
        return node
    started = time.monotonic()
    return spin_until_shutdown(
        node, lambda: (node.closing_line(max(time.monotonic() - started, 1e-9)), sys.stderr)
    )


def main(args: list[str] | None = None) -> int:
    """Entry point of ``ros2 run face_expression detector``; exits 1 on a bad model or setting."""
    return run(DetectorNode, args)


if __name__ == "__main__":
    sys.exit(main())
