"""Steady expressions: flicker faster than the time constant is ignored, a real change is followed."""

from __future__ import annotations

import pytest

from face_expression.core.smoothing import ExpressionFilter

NEUTRAL, SMILE = (0, "neutral"), (1, "smile")


def run(f: ExpressionFilter, classes: list[tuple[int, str]], fps: float, t0: float = 0.0) -> list[str]:
    return [f.update(cid, name, 0.8, t0 + i / fps).class_name for i, (cid, name) in enumerate(classes)]


@pytest.mark.parametrize("fps", [10.0, 30.0])
def test_flicker_every_other_frame_gives_one_class(fps: float) -> None:
    f = ExpressionFilter(0.3)
    out = run(f, [NEUTRAL, SMILE] * int(fps), fps)
    assert set(out) == {"neutral"}, out


def test_a_real_change_is_followed_within_the_time_constant() -> None:
    f = ExpressionFilter(0.3)
    fps = 30.0
    run(f, [NEUTRAL] * 30, fps)
    out = run(f, [SMILE] * 30, fps, t0=1.0)
    first = out.index("smile")
    assert first / fps <= 0.3, f"followed after {first / fps:.2f} s"
    assert first / fps >= 0.1, "followed so fast it cannot be smoothing"
    assert set(out[first:]) == {"smile"}


def test_the_delay_is_in_seconds_not_frames() -> None:
    delays = []
    for fps in (5.0, 30.0):
        f = ExpressionFilter(0.5)
        run(f, [NEUTRAL] * int(2 * fps), fps)
        out = run(f, [SMILE] * int(2 * fps), fps, t0=2.0)
        delays.append(out.index("smile") / fps)
    assert abs(delays[0] - delays[1]) <= 1 / 5.0, delays


def test_score_is_the_averaged_confidence_and_starts_at_the_first_one() -> None:
    f = ExpressionFilter(0.3)
    assert f.update(*SMILE, 0.9, 0.0).score == pytest.approx(0.9)
    e = f.update(*NEUTRAL, 0.9, 1 / 30)
    assert e.class_name == "smile" and e.score < 0.9  # one neutral frame lowers, does not switch


def test_zero_time_constant_is_per_frame_output() -> None:
    f = ExpressionFilter(0.0)
    assert run(f, [NEUTRAL, SMILE, NEUTRAL], 30.0) == ["neutral", "smile", "neutral"]


def test_a_resent_frame_changes_nothing() -> None:
    f = ExpressionFilter(0.3)
    a = f.update(*SMILE, 0.9, 1.0)
    assert f.update(*NEUTRAL, 0.9, 1.0) == a


def test_flicker_between_unequally_confident_classes_still_gives_one_class() -> None:
    """The faces of a flicker scored 0.95 and 0.55 (a second stage keeps the face's confidence)."""
    f = ExpressionFilter(0.3)
    fps = 15.0
    out = [
        f.update(*(SMILE if i % 2 else NEUTRAL), 0.95 if i % 2 else 0.55, i / fps).class_name
        for i in range(int(3 * fps))
    ]
    assert set(out) == {"neutral"}, out
