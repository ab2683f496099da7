"""Metric formulas against confusion matrices computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from face_expression.core import metrics as fm
from face_expression.core.geometry import match_boxes

NAMES = ["neutral", "smile"]
BG = 2


def test_hand_computed_matrix():
    # rows: true neutral, smile, background; columns: predicted neutral, smile, background
    m = np.array([[5, 1, 2], [0, 3, 1], [1, 2, 0]])
    s = fm.summarize(m, NAMES)
    n, sm = s.per_class["neutral"], s.per_class["smile"]
    assert (n.tp, n.fp, n.fn, n.tn, n.support) == (5, 1, 3, 6, 8)
    assert (sm.tp, sm.fp, sm.fn, sm.tn, sm.support) == (3, 3, 1, 8, 4)
    assert n.accuracy == pytest.approx(11 / 15)
    assert n.precision == pytest.approx(5 / 6)
    assert n.recall == pytest.approx(5 / 8)
    assert n.f1 == pytest.approx(5 / 7)
    assert sm.accuracy == pytest.approx(11 / 15)
    assert sm.precision == pytest.approx(1 / 2)
    assert sm.recall == pytest.approx(3 / 4)
    assert sm.f1 == pytest.approx(0.6)
    assert s.total == 15
    assert s.accuracy == pytest.approx(8 / 15)
    assert s.precision == pytest.approx((5 / 6 + 1 / 2) / 2)
    assert s.recall == pytest.approx((5 / 8 + 3 / 4) / 2)
    assert s.f1 == pytest.approx((5 / 7 + 0.6) / 2)
    assert s.micro_precision == pytest.approx(8 / 12)
    assert s.micro_recall == pytest.approx(8 / 12)
    assert s.micro_f1 == pytest.approx(8 / 12)


def test_class_never_predicted_counts_as_zero_not_nan():
    m = np.array([[4, 0, 1], [2, 0, 1], [0, 0, 0]])
    s = fm.summarize(m, NAMES)
    smile = s.per_class["smile"]
    assert (smile.tp, smile.fp, smile.fn) == (0, 0, 3)
    assert (smile.precision, smile.recall, smile.f1) == (0.0, 0.0, 0.0)
    assert s.per_class["neutral"].precision == pytest.approx(4 / 6)
    assert s.per_class["neutral"].recall == pytest.approx(4 / 5)
    assert s.accuracy == pytest.approx(4 / 8)
    assert s.precision == pytest.approx(4 / 6 / 2)


def test_no_detections_at_all():
    pairs = fm.image_pairs([((0, 0, 10, 10), 0), ((20, 20, 30, 30), 1)], [], 2)
    m = fm.confusion_matrix(pairs, 2)
    assert m.tolist() == [[0, 0, 1], [0, 0, 1], [0, 0, 0]]
    s = fm.summarize(m, NAMES)
    assert s.accuracy == 0.0 and s.precision == 0.0 and s.recall == 0.0 and s.f1 == 0.0
    assert all(c.fn == 1 and c.tp == 0 for c in s.per_class.values())


def test_empty_matrix_is_all_zero():
    s = fm.summarize(np.zeros((3, 3), int), NAMES)
    assert s.total == 0 and s.accuracy == 0.0 and s.micro_f1 == 0.0


def test_image_pairs_confusion_missed_and_false_faces():
    gt = [((0, 0, 100, 100), 1), ((200, 0, 300, 100), 0)]
    pred = [((5, 5, 100, 100), 0), ((400, 400, 450, 450), 1)]  # wrong class on face 0; a false face
    pairs = sorted(fm.image_pairs(gt, pred, 2))
    assert pairs == [(0, BG), (1, 0), (BG, 1)]


def test_match_is_one_to_one_and_needs_iou_half():
    gt = [(0, 0, 100, 100)]
    preds = [(0, 0, 100, 60), (0, 0, 100, 95), (0, 0, 100, 49)]  # IoU 0.6, 0.95, 0.49
    assert match_boxes(gt, preds) == [(0, 1)]
    assert match_boxes(gt, [(0, 0, 100, 49)]) == []
    pairs = fm.image_pairs([(gt[0], 0)], [(p, 0) for p in preds], 2)
    assert sorted(pairs) == [(0, 0), (BG, 0), (BG, 0)]


def test_confusion_matrix_rejects_unknown_class_and_wrong_shape():
    with pytest.raises(ValueError):
        fm.confusion_matrix([(0, 3)], 2)
    with pytest.raises(ValueError):
        fm.summarize(np.zeros((2, 2)), NAMES)


def test_tables_name_every_class_and_background():
    m = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 0]])
    table = fm.format_table(fm.summarize(m, NAMES))
    assert "| neutral | 1 | 1 | 0 | 0 | 1.000 |" in table and "overall" in table
    assert "background" in fm.format_matrix(m, NAMES)
