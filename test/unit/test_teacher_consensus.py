"""The rule that turns several teachers' P(smile) into one proposal, a confidence, or "unsure"."""

from __future__ import annotations

import math

import pytest

from face_expression.data.consensus import DEFAULT_WEIGHTS, combine, weight_from_agreement


def test_teachers_that_agree_give_a_confident_proposal() -> None:
    p = combine({"fer": 0.95, "haar": 0.9, "facial-emotion": 0.99}, min_confidence=0.4)
    assert p.label == "smile" and p.confidence > 0.8 and (p.agree, p.voters) == (3, 3)
    p = combine({"fer": 0.02, "haar": 0.1}, min_confidence=0.4)
    assert p.label == "neutral" and p.lean == "neutral" and p.confidence > 0.8


def test_teachers_that_disagree_set_the_face_aside() -> None:
    p = combine({"fer": 0.95, "facial-emotion": 0.05}, {"fer": 1.0, "facial-emotion": 1.0}, 0.4)
    assert p.label == "unsure" and p.confidence == pytest.approx(0.0) and (p.agree, p.voters) == (1, 2)


def test_the_mean_is_weighted_and_the_confidence_is_its_distance_from_a_coin_toss() -> None:
    votes = {"a": 1.0, "b": 0.0}
    p = combine(votes, {"a": 3.0, "b": 1.0}, min_confidence=0.4)
    assert p.p_smile == pytest.approx(0.75) and p.confidence == pytest.approx(0.5) and p.label == "smile"
    p = combine(votes, {"a": 1.0, "b": 3.0}, min_confidence=0.4)
    assert p.p_smile == pytest.approx(0.25) and p.label == "neutral"
    assert combine(votes, {"a": 1.0, "b": 3.0}, min_confidence=0.6).label == "unsure"


def test_unanimous_sets_aside_any_face_a_teacher_votes_against() -> None:
    votes = {"fer": 0.99, "facial-emotion": 0.98, "haar": 0.4}
    assert combine(votes, min_confidence=0.4).label == "smile"
    assert combine(votes, min_confidence=0.4, unanimous=True).label == "unsure"


def test_teachers_without_an_answer_or_weight_do_not_count() -> None:
    p = combine({"fer": 0.9, "yolo-emotion": None, "haar": 0.0}, {"fer": 1.0, "haar": 0.0}, 0.4)
    assert p.voters == 1 and p.p_smile == pytest.approx(0.9) and p.label == "smile"
    assert combine({"fer": float("nan")}).voters == 0
    none = combine({"fer": None, "haar": None})
    assert none.label == "unsure" and none.p_smile is None and none.confidence == 0.0 and none.lean is None
    assert combine({}).label == "unsure"


def test_unknown_teachers_count_one_and_out_of_range_votes_are_clipped() -> None:
    p = combine({"mine": 1.7}, weights={}, min_confidence=0.4)
    assert p.p_smile == pytest.approx(1.0) and p.label == "smile"


def test_weights_are_the_log_odds_of_agreement() -> None:
    assert weight_from_agreement(0.5) == 0.0 and weight_from_agreement(0.3) == 0.0
    assert weight_from_agreement(0.88) == pytest.approx(math.log(0.88 / 0.12))
    assert weight_from_agreement(1.0) == pytest.approx(math.log(99))
    assert all(w > 0 for w in DEFAULT_WEIGHTS.values())
