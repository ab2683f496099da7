"""The newest-frame readers over real Fast DDS: the newest message wins; the taking reader is never
run by executors, the callback reader (public API fallback) is."""

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

from face_expression.ros.newest_message import (
    CallbackReader,
    NewestMessageReader,
    TakingReader,
    newest_message_reader,
)
from face_expression.ros.rclpy_internals import (
    internals_problem,
    version_beside_package,
    version_from_metadata,
)

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
    reader = TakingReader(node, UInt32, "numbers", RELIABLE_1)
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
    reader = TakingReader(node, UInt32, "numbers", RELIABLE_1)
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


@pytest.fixture
def spinning(nodes: tuple[Node, Node]) -> Iterator[tuple[Node, Node]]:
    """The reader node spun by an executor, as the callback reader needs."""
    executor = SingleThreadedExecutor(context=nodes[1].context)
    executor.add_node(nodes[1])
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        yield nodes
    finally:
        executor.shutdown(timeout_sec=2.0)
        spinner.join(timeout=5.0)


@pytest.mark.parametrize("kind", [TakingReader, CallbackReader])
def test_resubscribe_keeps_delivering(spinning: tuple[Node, Node], kind: type) -> None:
    sender, node = spinning
    reader = kind(node, UInt32, "numbers", RELIABLE_1)
    pub = sender.create_publisher(UInt32, "numbers", RELIABLE_1)
    _wait_matched(pub)
    reader.resubscribe(QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT))
    got: list[int] = []
    deadline = time.monotonic() + 10.0
    value = 0
    # the new subscription takes over once it delivers; then the old one is gone (one reader left)
    while time.monotonic() < deadline and (len(got) < 5 or pub.get_subscription_count() != 1):
        value += 1
        pub.publish(UInt32(data=value))
        msg = reader.take(timeout=0.2)
        if msg is not None:
            got.append(msg.data)
    assert pub.get_subscription_count() == 1, "the old subscription was never replaced"
    assert got and got == sorted(set(got)), f"values repeated or out of order at the switch: {got}"


@pytest.mark.parametrize("kind", [TakingReader, CallbackReader])
def test_old_subscription_serves_until_the_new_one_delivers(spinning: tuple[Node, Node], kind: type) -> None:
    """No gap while a new subscription is discovered: here it never matches (a reliable reader and a
    best-effort publisher), so every message must still come through the old one."""
    sender, node = spinning
    best_effort = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
    reader = kind(node, UInt32, "numbers_gapless", best_effort)
    pub = sender.create_publisher(UInt32, "numbers_gapless", best_effort)
    _wait_matched(pub)
    reader.resubscribe(RELIABLE_1)
    got = []
    for value in range(20):
        pub.publish(UInt32(data=value))
        msg = reader.take(timeout=0.5)
        got.append(msg.data if msg is not None else None)
    assert sum(v is not None for v in got) >= 15, f"the old subscription stopped serving: {got}"


@pytest.mark.parametrize("kind", [TakingReader, CallbackReader])
def test_take_waits_no_longer_than_its_timeout(spinning: tuple[Node, Node], kind: type) -> None:
    _sender, node = spinning
    reader = kind(node, UInt32, "silence", RELIABLE_1)
    started = time.monotonic()
    assert reader.take(timeout=0.3) is None
    assert 0.25 <= time.monotonic() - started < 5.0


def test_callback_reader_returns_the_newest_and_counts_the_replaced(spinning: tuple[Node, Node]) -> None:
    sender, node = spinning
    reader = CallbackReader(node, UInt32, "numbers", RELIABLE_1)
    pub = sender.create_publisher(
        UInt32, "numbers", QoSProfile(depth=200, reliability=ReliabilityPolicy.RELIABLE)
    )
    _wait_matched(pub)
    _send_all(pub, range(1, 101))
    time.sleep(1.0)  # the executor stored each as it came; nobody took
    got = _take_until(reader, 100)
    assert got[-1] == 100 and len(got) <= 2, f"old messages were queued: {got}"
    assert reader.stats.taken == len(got)
    assert reader.take(timeout=0.05) is None


def test_rclpy_version_is_read_beside_the_package_without_importlib_metadata() -> None:
    """The version check the take reader depends on: the metadata folder next to rclpy, cheaply."""
    installed = version_from_metadata()
    assert installed and version_beside_package() == installed


def test_auto_takes_directly_on_this_rclpy_and_unknown_kinds_are_refused(nodes: tuple[Node, Node]) -> None:
    _sender, node = nodes
    assert internals_problem() is None, "the rclpy in this venv is the one rclpy_internals was checked on"
    reader: NewestMessageReader = newest_message_reader(node, UInt32, "numbers", RELIABLE_1)
    assert isinstance(reader, TakingReader)
    assert isinstance(newest_message_reader(node, UInt32, "n2", RELIABLE_1, "callback"), CallbackReader)
    with pytest.raises(ValueError, match="frame_reader='fastest' is unknown"):
        newest_message_reader(node, UInt32, "n3", RELIABLE_1, "fastest")
