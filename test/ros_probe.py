"""Test helpers: run a node as a real process and talk to it over DDS from a probe node."""

from __future__ import annotations

import array
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import rclpy
from builtin_interfaces.msg import Time
from polling import poll_until
from rcl_interfaces.msg import Parameter as ParameterMsg
from rcl_interfaces.msg import ParameterType, ParameterValue
from rcl_interfaces.srv import GetParameters, SetParameters
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import parameter_value_to_python
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import Header
from vision_msgs.msg import Detection2DArray, LabelInfo

from face_expression.ros import messages
from face_expression.ros.node_command import node_command

REPO = Path(__file__).resolve().parent.parent


class NodeProcess:
    """A node started with ``python -m`` in its own process; output goes to a log file."""

    def __init__(
        self,
        module: str,
        params: dict[str, object],
        log: Path,
        args: list[str] | None = None,
        domain_id: int | None = None,
    ) -> None:
        cmd = node_command(module, params, args or [])
        self.log = log
        self._file = log.open("w")
        env = dict(os.environ, PYTHONUNBUFFERED="1", RCUTILS_COLORIZED_OUTPUT="0")
        if domain_id is not None:
            env["ROS_DOMAIN_ID"] = str(domain_id)
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=self._file, stderr=subprocess.STDOUT, env=env)

    def output(self) -> str:
        if not self._file.closed:
            self._file.flush()
        return self.log.read_text()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_exit(self, timeout: float) -> int:
        return self.proc.wait(timeout=timeout)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._file.close()
        return self.proc.returncode


def call_service(
    node,
    srv_type,
    name: str,
    request,
    attempts: int = 3,
    timeout: float = 10.0,
    spin_once: Callable[[float], None] | None = None,
):
    """Call service ``name`` from ``node``, sending the request again when no response came in ``timeout`` s.

    ``wait_for_service`` can succeed before the server has matched this client's response reader;
    the response is then lost (seen in full runs: a set_parameters call and a lifecycle get_state
    call never answered). The first response to any of the requests counts. A request that was only
    slow is applied twice: callers of services that are not idempotent check the outcome themselves.
    ``spin_once(seconds)`` spins a node that no background thread spins.
    """
    client = node.create_client(srv_type, name)
    try:
        assert client.wait_for_service(timeout_sec=30), f"no service {name}"
        futures = []
        for _ in range(attempts):
            futures.append(client.call_async(request))
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                for future in futures:
                    if future.done():
                        return future.result()
                if spin_once is None:
                    time.sleep(0.02)
                else:
                    spin_once(0.02)
        raise AssertionError(f"{name} timed out ({attempts} requests, {timeout:.0f} s each)")
    finally:
        node.destroy_client(client)


class Probe:
    """An rclpy node in this process that feeds frames to the detector and records its output."""

    def __init__(self, name: str = "probe", domain_id: int | None = None) -> None:
        self.context = Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = Node(name, context=self.context)
        self.images = self.node.create_publisher(Image, "/camera/image_raw", 10)
        self.detections: list[Detection2DArray] = []
        self.annotated: list[Image] = []
        self.labels: list[LabelInfo] = []
        self._lock = threading.Lock()
        self.node.create_subscription(Detection2DArray, "/detections", self._keep(self.detections), 200)
        self._executor = SingleThreadedExecutor(context=self.context)
        self._executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while self.context.ok():
            try:
                self._executor.spin_once(timeout_sec=0.05)
            except Exception:  # context shut down while spinning
                return

    def _keep(self, into: list) -> Callable:
        def callback(msg) -> None:
            with self._lock:
                into.append(msg)

        return callback

    def watch_annotated(self) -> None:
        self.node.create_subscription(Image, "/annotated_image", self._keep(self.annotated), 10)

    def watch_label_info(self) -> None:
        qos = QoSProfile(
            depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL
        )
        self.node.create_subscription(LabelInfo, "/label_info", self._keep(self.labels), qos)

    def wait_for_detector(self, timeout: float = 60.0) -> None:
        """The detector subscribes only after its model loaded: that is our 'ready'."""
        wait_until(lambda: self.images.get_subscription_count() > 0, timeout, "detector never subscribed")
        time.sleep(0.3)  # let discovery settle in both directions

    def wait_for_detector_or_fail(self, proc: NodeProcess, timeout: float = 60.0, stop: bool = False) -> None:
        """``wait_for_detector``, else fail the test with the node's output; ``stop``: first close this
        probe and stop ``proc`` (for a fixture that started the node itself)."""
        try:
            self.wait_for_detector(timeout)
        except AssertionError:
            if stop:
                self.close()
                proc.stop()
            pytest.fail(f"detector did not start:\n{proc.output()}")

    def _publish(self, msg: Image) -> None:
        """Publish a frame; when Fast DDS' reliable writer is still blocked by the frames before it
        ("cannot publish data", seen about once in 13 runs of a 100-frame flood of 900 KB frames),
        try again after a moment, as a camera driver's next frame would come."""
        for attempt in range(3):
            try:
                self.images.publish(msg)
                return
            except Exception as exc:  # rclpy's RCLError lives in a private module
                if "cannot publish data" not in str(exc) or attempt == 2:
                    raise
                time.sleep(0.05)

    def send(
        self,
        image_bgr: np.ndarray,
        stamp: tuple[int, int],
        frame_id: str = "test_cam",
        encoding: str = "rgb8",
    ) -> None:
        header = Header(stamp=Time(sec=stamp[0], nanosec=stamp[1]), frame_id=frame_id)
        self._publish(messages.bgr_to_image(image_bgr, header, encoding))

    def send_raw(
        self,
        data: bytes,
        encoding: str,
        width: int,
        height: int,
        step: int,
        stamp: tuple[int, int],
        frame_id: str = "test_cam",
        is_bigendian: int = 0,
    ) -> None:
        msg = Image(height=height, width=width, encoding=encoding, step=step, is_bigendian=is_bigendian)
        msg.header = Header(stamp=Time(sec=stamp[0], nanosec=stamp[1]), frame_id=frame_id)
        msg.data = array.array("B", data)
        self._publish(msg)

    def ask_raw(self, stamp: tuple[int, int], timeout: float = 30.0, **frame) -> Detection2DArray:
        """send_raw until the frame is answered (see :meth:`ask`)."""
        deadline = time.monotonic() + timeout
        while True:
            self.send_raw(**frame, stamp=stamp)
            try:
                return self.detection_for(stamp, timeout=min(3.0, max(0.1, deadline - time.monotonic())))
            except AssertionError:
                if time.monotonic() >= deadline:
                    raise

    def set_parameter(self, node: str, name: str, value: object) -> tuple[bool, str]:
        """Set one parameter of ``node`` through its service, as ``ros2 param set`` does: (ok, reason)."""
        pv = ParameterValue()
        if isinstance(value, bool):
            pv.type, pv.bool_value = ParameterType.PARAMETER_BOOL, value
        elif isinstance(value, float):
            pv.type, pv.double_value = ParameterType.PARAMETER_DOUBLE, value
        elif isinstance(value, int):
            pv.type, pv.integer_value = ParameterType.PARAMETER_INTEGER, value
        else:
            pv.type, pv.string_value = ParameterType.PARAMETER_STRING, value
        request = SetParameters.Request(parameters=[ParameterMsg(name=name, value=pv)])
        result = call_service(self.node, SetParameters, f"/{node}/set_parameters", request).results[0]
        return result.successful, result.reason

    def get_parameter(self, node: str, name: str) -> object:
        request = GetParameters.Request(names=[name])
        response = call_service(self.node, GetParameters, f"/{node}/get_parameters", request)
        return parameter_value_to_python(response.values[0])

    def ask(
        self,
        image_bgr: np.ndarray,
        stamp: tuple[int, int],
        frame_id: str = "test_cam",
        encoding: str = "rgb8",
        timeout: float = 30.0,
    ) -> Detection2DArray:
        """Send a frame and return its detections, re-sending it while unanswered.

        Camera topics are best effort: a frame published while DDS is still matching, or while
        the node is busy with another, is legitimately lost, and the test sends it again.
        """
        deadline = time.monotonic() + timeout
        while True:
            self.send(image_bgr, stamp, frame_id, encoding)
            try:
                return self.detection_for(stamp, timeout=min(3.0, max(0.1, deadline - time.monotonic())))
            except AssertionError:
                if time.monotonic() >= deadline:
                    raise

    def detection_for(self, stamp: tuple[int, int], timeout: float = 20.0) -> Detection2DArray:
        def find() -> Detection2DArray | None:
            with self._lock:
                for msg in self.detections:
                    if (msg.header.stamp.sec, msg.header.stamp.nanosec) == stamp:
                        return msg
            return None

        wait_until(lambda: find() is not None, timeout, f"no detections for stamp {stamp}")
        found = find()
        assert found is not None
        return found

    def close(self) -> None:
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self._thread.join(timeout=5)


def other_domain(offset: int = 100) -> int:
    """A domain next to this run's, for a test that must not meet the shared detector.

    Modules that start processes of their own use their own ``offset``, so that none of their
    leftovers meets another module's.
    """
    return (int(os.environ["ROS_DOMAIN_ID"]) + offset) % 200 + 1


def wait_until(predicate: Callable[[], bool], timeout: float, message: str) -> None:
    if not poll_until(predicate, timeout):
        raise AssertionError(f"{message} (after {timeout:.0f} s)")
