"""Subscriptions whose newest message a worker thread takes when it is ready for one.

Two readers with one interface (``take``, ``resubscribe``, ``stats``):

- ``TakingReader`` (the default where rclpy_internals allows it): the executor never runs the
  subscription. Its reader keeps one message (keep-last, depth 1), so a frame the worker had no
  time for is replaced inside the middleware, in C++, without ever being deserialized into Python.
  With an executor callback instead, every frame of a camera faster than the model is taken and
  converted while the worker waits for the GIL: measured on 2 cores at twice the model's rate,
  that halved the node's throughput (benchmarks/README.md).
- ``CallbackReader``: public API only, a keep-last-1 subscription whose executor callback stores
  the newest message for the worker. Slower under overload, but it works on any rclpy.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Generic, TypeVar

from rclpy.callback_groups import CallbackGroup, MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from rclpy.qos import QoSProfile

from face_expression.ros.rclpy_internals import internals_problem, take_when_ready

M = TypeVar("M")
READER_CHOICES = ("auto", "take", "callback")


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
    #: frames replaced before being taken: publication sequence gaps (take), or frames the callback
    #: stored over an untaken one (callback; frames the middleware replaced first go uncounted)
    skipped: int = 0


class TakingReader(Generic[M]):
    """Subscribe ``topic``; :meth:`take` returns the newest message not yet taken (rclpy internals)."""

    kind = "take"

    def __init__(self, node: Node, msg_type: type[M], topic: str, qos: QoSProfile) -> None:
        self._node = node
        self._msg_type = msg_type
        self._topic = topic
        self._group = _NotForExecutors()
        self._lock = threading.Lock()  # the subscription is replaced by resubscribe() from another thread
        self._sub = self._subscribe(qos)
        self._next = None  # resubscribe()'s subscription, until it delivers
        self._last_seq = 0  # publication sequence number of the last message taken (0: none yet)
        self.stats = ReaderStats()

    def _subscribe(self, qos: QoSProfile):
        return self._node.create_subscription(
            self._msg_type, self._topic, _unused, qos, callback_group=self._group
        )

    def resubscribe(self, qos: QoSProfile) -> None:
        """Subscribe anew with ``qos`` (e.g. to follow the publishers' reliability) without a gap.

        The old subscription keeps serving until the new one delivers its first message: a new
        subscription gets nothing until DDS discovery matched it with each publisher (~0.1 s, up
        to ~1 s when Fast DDS must resend a lost discovery message), and frames sent meanwhile
        would be lost.
        """
        with self._lock:
            if self._next is not None:
                self._node.destroy_subscription(self._next)
            self._next = self._subscribe(qos)

    def close(self) -> None:
        """Destroy the subscriptions (lifecycle deactivate)."""
        with self._lock:
            for sub in (self._sub, self._next):
                if sub is not None:
                    self._node.destroy_subscription(sub)
            self._next = None

    def take(self, timeout: float) -> M | None:
        """Wait up to ``timeout`` s for a message; None if none came or the node is shutting down."""
        with self._lock:
            context = self._node.context
            if not context.ok():
                return None
            subs = [self._sub] if self._next is None else [self._next, self._sub]
            try:
                taken = take_when_ready(self._node, subs, timeout)
            except Exception:
                if not context.ok():  # Ctrl-C shut the context down while we waited
                    return None
                raise
            if taken is not None and taken[0] is self._next:  # the new subscription delivers: switch
                self._node.destroy_subscription(self._sub)
                self._sub, self._next = self._next, None
                if self._taken_before(taken[2]):  # both subscriptions got it; the old one gave it out
                    return None
        if taken is None:
            return None
        _sub, msg, info = taken
        self.stats.taken += 1
        self._count_skipped(info)
        return msg

    def _taken_before(self, info: dict) -> bool:
        """Whether a message is not newer than the last one taken (by publication sequence number)."""
        seq = _sequence_number(info)
        return bool(seq and self._last_seq and seq <= self._last_seq)

    def _count_skipped(self, info: dict) -> None:
        seq = _sequence_number(info)
        if not seq:
            return
        # one counter per publisher would need its GID; a single publisher is the common camera case
        if self._last_seq and seq > self._last_seq + 1:
            self.stats.skipped += seq - self._last_seq - 1
        self._last_seq = seq


def _sequence_number(info: dict) -> int:
    """The publisher's sequence number of a taken message; 0 where the middleware does not report it."""
    seq = info.get("publication_sequence_number", 0) if isinstance(info, dict) else 0
    return seq if seq and seq < 2**63 else 0


class CallbackReader(Generic[M]):
    """The public-API reader: an executor callback keeps the newest message for :meth:`take`."""

    kind = "callback"

    def __init__(self, node: Node, msg_type: type[M], topic: str, qos: QoSProfile) -> None:
        self._node = node
        self._msg_type = msg_type
        self._topic = topic
        self._group = MutuallyExclusiveCallbackGroup()
        self._ready = threading.Condition()
        self._newest: M | None = None
        self._sub = self._subscribe(qos, self._store)
        self._next = None  # resubscribe()'s subscription, until it delivers
        self.stats = ReaderStats()

    def _subscribe(self, qos: QoSProfile, callback):
        return self._node.create_subscription(
            self._msg_type, self._topic, callback, qos, callback_group=self._group
        )

    def _store(self, msg: M) -> None:
        with self._ready:
            if self._newest is not None:
                self.stats.skipped += 1
            self._newest = msg
            self._ready.notify()

    def resubscribe(self, qos: QoSProfile) -> None:
        """As :meth:`TakingReader.resubscribe`: the old subscription serves until the new one delivers."""
        new: list = []

        def store(msg: M) -> None:
            if self._switch_to(new[0]):
                return  # both subscriptions got this one; the old one's callback most likely stored it
            self._store(msg)

        new.append(self._subscribe(qos, store))
        with self._ready:
            superseded, self._next = self._next, new[0]
        if superseded is not None:
            self._node.destroy_subscription(superseded)

    def _switch_to(self, sub) -> bool:
        """Make ``sub`` the subscription (once); True when this call switched."""
        with self._ready:
            if self._next is not sub:  # already switched (or superseded by a later resubscribe)
                return False
            retired, self._sub, self._next = self._sub, sub, None
        self._node.destroy_subscription(retired)
        return True

    def close(self) -> None:
        """Destroy the subscriptions (lifecycle deactivate); a waiting take() returns None."""
        for sub in (self._sub, self._next):
            if sub is not None:
                self._node.destroy_subscription(sub)
        self._next = None
        with self._ready:
            self._newest = None
            self._ready.notify_all()

    def take(self, timeout: float) -> M | None:
        with self._ready:
            if self._newest is None:
                self._ready.wait(timeout)
            msg, self._newest = self._newest, None
        if msg is not None:
            self.stats.taken += 1
        return msg


NewestMessageReader = TakingReader | CallbackReader


def newest_message_reader(
    node: Node, msg_type: type[M], topic: str, qos: QoSProfile, kind: str = "auto"
) -> TakingReader[M] | CallbackReader[M]:
    """The reader ``kind`` asks for; ``auto`` takes directly unless this rclpy's internals differ."""
    if kind not in READER_CHOICES:
        raise ValueError(f"frame_reader={kind!r} is unknown; use one of {', '.join(READER_CHOICES)}")
    problem = internals_problem()
    if kind == "take" and problem:
        raise ValueError(f"frame_reader=take cannot be used: {problem}; use auto or callback")
    if kind == "callback" or (kind == "auto" and problem):
        if problem and kind == "auto":
            node.get_logger().warning(f"{problem}: reading frames through an executor callback instead")
        return CallbackReader(node, msg_type, topic, qos)
    return TakingReader(node, msg_type, topic, qos)
