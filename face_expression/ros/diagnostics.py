"""/diagnostics for the detector, as diagnostic_updater would publish it (about 1 Hz).

The Python diagnostic_updater ships only inside a ROS distro's C++ package, so this follows its
conventions directly: DiagnosticArray on ``/diagnostics``, the status named after the node,
``hardware_id`` "none" on the CPU (the device otherwise), levels from core/health.py.
"""

from __future__ import annotations

from collections.abc import Callable

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node

from face_expression.core.health import HealthMonitor

DIAGNOSTICS_TOPIC = "/diagnostics"


class DiagnosticsPublisher:
    """Publishes the monitor's verdict plus the model facts ``describe()`` returns, every ``period_s``."""

    def __init__(
        self,
        node: Node,
        monitor: HealthMonitor,
        describe: Callable[[], dict[str, str]],
        period_s: float = 1.0,
    ) -> None:
        self._node = node
        self._monitor = monitor
        self._describe = describe
        self._pub = node.create_publisher(DiagnosticArray, DIAGNOSTICS_TOPIC, 10)
        self._timer = node.create_timer(period_s, self.publish)

    def status(self) -> DiagnosticStatus:
        report = self._monitor.report()
        facts = self._describe()
        device = facts.get("device", "cpu")
        values = {**report.values, **facts}
        return DiagnosticStatus(
            level=bytes([report.level]),
            name=f"{self._node.get_fully_qualified_name().lstrip('/')}: face detector",
            message=report.message,
            hardware_id="none" if device == "cpu" else device,
            values=[KeyValue(key=k, value=str(v)) for k, v in values.items()],
        )

    def publish(self) -> None:
        msg = DiagnosticArray(status=[self.status()])
        msg.header.stamp = self._node.get_clock().now().to_msg()
        self._pub.publish(msg)

    def destroy(self) -> None:
        self._node.destroy_timer(self._timer)
        self._node.destroy_publisher(self._pub)
