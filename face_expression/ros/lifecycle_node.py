"""The detector as a managed (lifecycle) node, for systems that bring perception up in order.

Same parameters, topics and behaviour as ``detector`` (ros/detector_node.py), staged on the
transitions the way yolo_ros stages its node: configure loads and checks the model (a bad model
fails the transition and the node stays unconfigured, with the reason logged), activate subscribes
the camera and starts the workers, deactivate stops processing and releases the subscription (and
the GPU's cached memory), cleanup frees the model. ``ros2 run face_expression lifecycle_detector``;
the launch files start it with ``lifecycle:=true`` and drive it to active unless ``autostart:=false``.
"""

from __future__ import annotations

import sys

from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn

from face_expression.engine.config import ModelError
from face_expression.ros.detector_node import NODE_NAME, DetectorBehaviour, run


class LifecycleDetectorNode(DetectorBehaviour, LifecycleNode):
    """The detector on lifecycle transitions; ``~/change_state`` and ``~/get_state`` drive and report it."""

    def __init__(self, **kwargs) -> None:
        super().__init__(NODE_NAME, **kwargs)
        self._declare()

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self._configure()
        except (ModelError, ValueError) as exc:
            self.get_logger().error(f"configure failed: {exc}")
            self._cleanup_partial()
            return TransitionCallbackReturn.FAILURE
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._activate()
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._deactivate()
        self.get_logger().info("deactivated: not subscribed, not processing")
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._cleanup()
        self.get_logger().info("cleaned up: model freed")
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._deactivate()
        self._cleanup()
        return TransitionCallbackReturn.SUCCESS

    def _cleanup_partial(self) -> None:
        """A configure that failed part-way leaves nothing behind (the model failed first, so little)."""
        self._detector = None

    def destroy_node(self) -> None:
        if hasattr(self, "_stop"):
            self._shut_down()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Entry point of ``ros2 run face_expression lifecycle_detector``: starts unconfigured."""
    return run(LifecycleDetectorNode, args)


if __name__ == "__main__":
    sys.exit(main())
