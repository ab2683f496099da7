"""A subscription whose newest message a worker thread takes when it is ready for one.

The executor never runs this subscription. Its reader keeps one message (keep-last, depth 1),
so a frame the worker had no time for is replaced inside the middleware, in C++, without ever
being deserialized into Python. With an executor callback instead, every frame of a camera
faster than the model is taken and converted while the worker waits for the GIL: measured on
2 cores at twice the model's rate, that halved the node's throughput (benchmarks/README.md).

rclpy has no public API for taking from a subscription outside an executor; this uses the same
wait-set calls as ``rclpy.wait_for_message``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Generic, TypeVar

from rclpy.callback_groups import CallbackGroup
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.node import Node
from rclpy.qos import QoSProfile

M = TypeVar("M")


class _NotForExecutors(CallbackGroup):
    """A callback group every executor skips: it never waits on or takes its entities."""

    def can_execute(self, entity: object) -> bool:
        return False

    def beginning_execution(self, entity: object) -> bool:
        return False

    def ending_execution(self, entity: object) -> None:
        pass


def _unused(_msg: object) -> None:
    """Never called by rclpy's executors; one that ignores callback groups only loses a frame."""


@dataclass
class ReaderStats:
    taken: int = 0
    #: frames a publisher sent that were replaced before being taken (publication sequence gaps)
    skipped: int = 0


class NewestMessageReader(Generic[M]):
    """Subscribe ``topic``; :meth:`take` returns the newest message not yet taken."""

    def __init__(self, node: Node, msg_type: type[M], topic: str, qos: QoSProfile) -> None:
        self._node = node
        self._msg_type = msg_type
        self._topic = topic
        self._group = _NotForExecutors()
        self._lock = threading.Lock()  # the subscription is replaced by resubscribe() from another thread
        self._sub = self._subscribe(qos)
        self._last_seq = 0  # publication sequence number of the last message taken (0: none yet)
        self.stats = ReaderStats()

    def _subscribe(self, qos: QoSProfile):
        return self._node.create_subscription(
            self._msg_type, self._topic, _unused, qos, callback_group=self._group
        )

    def resubscribe(self, qos: QoSProfile) -> None:
        """Replace the subscription, e.g. to follow the publishers' reliability."""
        with self._lock:
            self._node.destroy_subscription(self._sub)
            self._sub = self._subscribe(qos)

    def take(self, timeout: float) -> M | None:
        """Wait up to ``timeout`` s for a message; None if none came or the node is shutting down."""
        with self._lock:
            context = self._node.context
            if not context.ok():
                return None
            sub = self._sub
            try:
                with sub.handle:
                    wait_set = _rclpy.WaitSet(1, 0, 0, 0, 0, 0, context.handle)
                    wait_set.clear_entities()
                    wait_set.add_subscription(sub.handle)
                    wait_set.wait(int(timeout * 1e9))  # releases the GIL while it waits
                    if sub.handle.pointer not in wait_set.get_ready_entities("subscription"):
                        return None
                    taken = sub.handle.take_message(sub.msg_type, sub.raw)
            except Exception:
                if not context.ok():  # Ctrl-C shut the context down while we waited
                    return None
                raise
        if taken is None:
            return None
        msg, info = taken
        self.stats.taken += 1
        self._count_skipped(info)
        return msg

    def _count_skipped(self, info: dict) -> None:
        seq = info.get("publication_sequence_number", 0) if isinstance(info, dict) else 0
        if not seq or seq >= 2**63:  # the middleware does not report it
            return
        # one counter per publisher would need its GID; a single publisher is the common camera case
        if self._last_seq and seq > self._last_seq + 1:
            self.stats.skipped += seq - self._last_seq - 1
        self._last_seq = seq
