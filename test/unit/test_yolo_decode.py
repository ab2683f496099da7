"""core/yolo_decode.py: the detect head's output decoded and suppressed the way Ultralytics does it.

The comparison with Ultralytics' own NMS on real model output is in test/engine/test_export.py;
here the rules themselves, on hand-made head outputs whose answer is known.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from face_expression.core.yolo_decode import decode_detect_head, head_classes, nms


def head(rows: list[tuple[float, float, float, float, float, float]]) -> np.ndarray:
    """A (1, 4 + 2, N) output from rows (cx, cy, w, h, score_class0, score_class1)."""
    return np.asarray(rows, dtype=np.float32).T[None]


def test_core_decoding_imports_neither_torch_nor_ultralytics() -> None:
    code = (
        "import sys, face_expression.core.yolo_decode; "
        "print('torch' in sys.modules or 'ultralytics' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_boxes_become_corners_with_best_class_and_strict_threshold() -> None:
    out = decode_detect_head(
        head([(50, 40, 20, 10, 0.2, 0.9), (200, 200, 10, 10, 0.25, 0.1), (300, 300, 8, 8, 0.6, 0.3)]),
        conf=0.25,
        iou=0.45,
    )
    # the second box scores exactly the threshold: dropped (Ultralytics keeps score > conf)
    assert out.tolist() == [[40, 35, 60, 45, np.float32(0.9), 1], [296, 296, 304, 304, np.float32(0.6), 0]]


def test_overlapping_boxes_merge_across_classes_only_when_agnostic() -> None:
    rows = [(100, 100, 40, 40, 0.9, 0.1), (102, 100, 40, 40, 0.1, 0.8)]  # IoU 0.9, different classes
    assert len(decode_detect_head(head(rows), 0.25, 0.45, agnostic=True)) == 1
    assert len(decode_detect_head(head(rows), 0.25, 0.45, agnostic=False)) == 2


def test_nms_drops_only_iou_above_the_threshold() -> None:
    boxes = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [0, 0, 10, 10.5]], dtype=np.float32)
    scores = np.array([0.9, 0.8, 0.7], dtype=np.float32)
    # IoU(0, 1) = 50 / 150 = 1/3; IoU(0, 2) = 100 / 105
    assert nms(boxes, scores, 1 / 3 + 1e-6).tolist() == [0, 1]
    assert nms(boxes, scores, 0.3).tolist() == [0]
    assert nms(boxes, scores, 0.96).tolist() == [0, 1, 2]


def test_max_det_keeps_the_highest_scores() -> None:
    rows = [(i * 50.0, 10, 10, 10, 0.3 + i * 0.1, 0.0) for i in range(5)]
    out = decode_detect_head(head(rows), 0.25, 0.45, max_det=2)
    assert np.allclose(out[:, 4], [0.7, 0.6])


def test_no_candidate_gives_an_empty_nx6_array() -> None:
    out = decode_detect_head(head([(10, 10, 5, 5, 0.1, 0.2)]), 0.25, 0.45)
    assert out.shape == (0, 6)


def test_end2end_rows_are_only_filtered() -> None:
    rows = np.array([[[1, 2, 3, 4, 0.9, 1], [5, 6, 7, 8, 0.1, 0], [1, 2, 3, 4, 0.8, 0]]], dtype=np.float32)
    out = decode_detect_head(rows, 0.25, 0.45, max_det=5, end2end=True)
    assert out.tolist() == [[1, 2, 3, 4, np.float32(0.9), 1], [1, 2, 3, 4, np.float32(0.8), 0]]


def test_head_classes_reads_the_output_shape() -> None:
    assert head_classes([1, 6, 6300]) == 2
    assert head_classes(["batch", 84, "anchors"]) == 80
    assert head_classes([1, 4, 100]) is None
    assert head_classes([1, 6]) is None
