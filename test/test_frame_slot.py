"""The newest frame always wins; nothing queues."""

from __future__ import annotations

import threading
import time

from face_expression.frame_slot import FrameSlot


def test_newer_frame_replaces_pending_one_and_counts_a_drop() -> None:
    slot: FrameSlot[int] = FrameSlot()
    assert slot.put(1) is False
    assert slot.put(2) is True
    assert slot.take(0) == 2
    assert slot.take(0) is None
    assert (slot.stats.received, slot.stats.dropped, slot.stats.taken) == (2, 1, 1)


def test_flood_leaves_only_the_newest() -> None:
    slot: FrameSlot[int] = FrameSlot()
    for i in range(1000):
        slot.put(i)
    assert slot.take(0) == 999
    assert slot.stats.dropped == 999


def test_take_wakes_on_put_and_on_close() -> None:
    slot: FrameSlot[str] = FrameSlot()
    threading.Timer(0.05, slot.put, args=("frame",)).start()
    t0 = time.monotonic()
    assert slot.take(5.0) == "frame"
    assert time.monotonic() - t0 < 2.0
    threading.Timer(0.05, slot.close).start()
    t0 = time.monotonic()
    assert slot.take(5.0) is None
    assert time.monotonic() - t0 < 2.0
