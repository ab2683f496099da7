"""The shape gate: frames of one input shape run together, another shape waits for them."""

from __future__ import annotations

import threading

from face_expression.core.shape_gate import ShapeGate


def _enters_while_held(gate: ShapeGate, held: tuple, asked: tuple, wait_s: float = 0.3) -> bool:
    """Whether a call of shape ``asked`` gets in (within ``wait_s``) while one of shape ``held`` runs."""
    entered = threading.Event()

    def second() -> None:
        with gate.enter(asked):
            entered.set()

    with gate.enter(held):
        thread = threading.Thread(target=second)
        thread.start()
        got_in = entered.wait(wait_s)
    thread.join(5)
    assert entered.is_set(), "the waiting call must get in once the first one is done"
    return got_in


def test_calls_of_one_shape_run_together() -> None:
    assert _enters_while_held(ShapeGate(), (1, 256, 320, 3), (1, 256, 320, 3), wait_s=5.0)


def test_a_call_of_another_shape_waits_until_the_running_ones_are_done() -> None:
    assert not _enters_while_held(ShapeGate(), (1, 256, 320, 3), (1, 320, 256, 3))


def test_a_new_shape_gets_in_at_once_when_nothing_runs() -> None:
    gate = ShapeGate()
    with gate.enter((1, 256, 320, 3)):
        pass
    assert _enters_while_held(gate, (1, 320, 256, 3), (1, 320, 256, 3), wait_s=5.0)
