"""Two threads calling one engine at once must get the answers one thread gets (the node's two workers)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable


def check_answers_on_two_threads(
    answer: Callable[[Hashable], object], expected: dict, pick: Callable[[int, int], Hashable], calls: int
) -> None:
    """Thread ``k`` asks ``answer(pick(i, k))`` ``calls`` times, both starting together; every answer
    must equal ``expected[pick(i, k)]`` (computed beforehand on one thread)."""
    got: dict[int, list] = {0: [], 1: []}
    barrier = threading.Barrier(2)

    def worker(k: int) -> None:
        barrier.wait()
        for i in range(calls):
            key = pick(i, k)
            got[k].append((key, answer(key)))

    workers = [threading.Thread(target=worker, args=(k,)) for k in (0, 1)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=180)
    for k in (0, 1):
        assert len(got[k]) == calls, f"thread {k} answered {len(got[k])} of {calls}"
        for key, found in got[k]:
            assert found == expected[key], f"thread {k}, {key}: {found} != {expected[key]}"
