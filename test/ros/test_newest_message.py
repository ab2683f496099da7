"""NewestMessageReader over real Fast DDS: the newest message wins, executors never take it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from std_msgs.msg import UInt32

from face_expression.ros.newest_message import NewestMessageReader

RELIABLE_1 = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)


@pytest.fixture
def nodes() -> Iterator[tuple[Node, Node]]:
    context = rclpy.Context()
    rclpy.init(context=context)
    sender = Node("newest_sender", context=context)
    reader = Node("newest_reader", context=context)
    try:
        yield sender, reader
    finally:
        sender.destroy_node()
        reader.destroy_node()
        rclpy.try_shutdown(context=context)


def _wait_matched(pub, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while pub.get_subscription_count() == 0:
        assert time.monotonic() < deadline, "reader never matched the publisher"
        time.sleep(0.05)


def _send_all(pub, values: range) -> None:
    for value in values:
        pub.publish(UInt32(data=value))


def _take_until(reader: NewestMessageReader, want: int, timeout: float = 10.0) -> list[int]:
    got: list[int] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (not got or got[-1] != want):
        msg = reader.take(timeout=0.2)
        if msg is not None:
            got.append(msg.data)
    return got


def test_take_returns_the_newest_and_counts_the_replaced(nodes: tuple[Node, Node]) -> None:
    sender, node = nodes
    reader = NewestMessageReader(node, UInt32, "numbers", RELIABLE_1)
    pub = sender.create_publisher(
        UInt32, "numbers", QoSProfile(depth=200, reliability=ReliabilityPolicy.RELIABLE)
    )
    _wait_matched(pub)
    _send_all(pub, range(1))
    assert _take_until(reader, 0) == [0]  # gaps are counted from the first message taken
    _send_all(pub, range(1, 101))
    time.sleep(1.0)  # all delivered (reliable) while nobody takes
    got = _take_until(reader, 100)
    assert got[-1] == 100
    assert len(got) <= 2, f"old messages were queued: {got}"
    assert reader.stats.taken == 1 + len(got)
    assert reader.stats.skipped >= 98  # publication sequence gaps: the replaced messages
    assert reader.take(timeout=0.05) is None  # nothing new


def test_an_executor_spinning_the_node_never_takes_the_messages(nodes: tuple[Node, Node]) -> None:
    sender, node = nodes
    reader = NewestMessageReader(node, UInt32, "numbers", RELIABLE_1)
    executor = SingleThreadedExecutor(context=node.context)
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        pub = sender.create_publisher(UInt32, "numbers", RELIABLE_1)
        _wait_matched(pub)
        pub.publish(UInt32(data=7))
        time.sleep(0.5)  # the executor had time to take it, if it would
        assert _take_until(reader, 7) == [7]
    finally:
        executor.shutdown(timeout_sec=2.0)
        spinner.join(timeout=5.0)


def test_resubscribe_keeps_delivering(nodes: tuple[Node, Node]) -> None:
    sender, node = nodes
    reader = NewestMessageReader(node, UInt32, "numbers", RELIABLE_1)
    pub = sender.create_publisher(UInt32, "numbers", RELIABLE_1)
    _wait_matched(pub)
    reader.resubscribe(QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT))
    _wait_matched(pub)
    deadline = time.monotonic() + 10.0
    got = None
    while got is None and time.monotonic() < deadline:  # best effort may lose one: re-send
        pub.publish(UInt32(data=42))
        got = reader.take(timeout=0.2)
    assert got is not None and got.data == 42


def test_take_waits_no_longer_than_its_timeout(nodes: tuple[Node, Node]) -> None:
    _sender, node = nodes
    reader = NewestMessageReader(node, UInt32, "silence", RELIABLE_1)
    started = time.monotonic()
    assert reader.take(timeout=0.3) is None
    assert 0.25 <= time.monotonic() - started < 5.0
