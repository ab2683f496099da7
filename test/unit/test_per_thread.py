"""Per-thread objects: each worker its own buffers, ended workers' buffers dropped, or one shared set."""

from __future__ import annotations

import threading

from face_expression.core.per_thread import PerThread


def _from_thread(items: PerThread) -> object:
    got = []
    thread = threading.Thread(target=lambda: got.append(items.get()))
    thread.start()
    thread.join()
    return got[0]


def test_each_thread_gets_its_own_object_and_keeps_it() -> None:
    items = PerThread(object)
    mine = items.get()
    assert items.get() is mine
    assert _from_thread(items) is not mine


def test_objects_of_ended_threads_are_dropped_when_a_new_thread_asks() -> None:
    made: list[object] = []
    items = PerThread(lambda: made.append(object()) or made[-1])
    for _ in range(5):  # five workers started one after another (a node activated five times)
        _from_thread(items)
    items.get()
    assert len(items) == 1, "only the live thread's object may remain"


def test_shared_mode_gives_every_thread_the_same_object_until_cleared() -> None:
    items = PerThread(object, per_thread=False)
    shared = items.get()
    assert _from_thread(items) is shared
    items.clear()
    assert items.get() is not shared
