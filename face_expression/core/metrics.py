"""Detection-level confusion matrix and the method's metrics, as pure functions.

A detector can be wrong in three ways: the right face with the wrong expression, a face it
missed, and a face it invented. A plain classification matrix hides the last two, so the
matrix here has an extra *background* row and column: row = ground truth, column = prediction,
index ``nc`` = background. ``M[c, nc]`` counts missed faces of class c, ``M[nc, c]`` false faces
predicted as c. ``M[nc, nc]`` is always 0 (nothing to count where there is no face and no box).

Matching is class-agnostic and one-to-one at IoU >= 0.5 (highest IoU first, as Ultralytics'
confusion matrix does), so a smiling face detected as neutral is one confusion, not one missed
face plus one false face.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from face_expression.core.geometry import Box, match_boxes

#: Written into report.md and metrics.json so the numbers can be checked by hand.
FORMULAS: dict[str, str] = {
    "matrix": "rows = ground truth, columns = prediction, last row/column = background; "
    "M[c, bg] = missed faces of class c, M[bg, c] = false faces predicted as c; "
    "a prediction matches a ground-truth face when IoU >= {iou} (one-to-one, highest IoU first, "
    "class-agnostic)",
    "TP_c": "M[c, c]",
    "FP_c": "sum of column c - M[c, c]  (other faces called c + false faces called c)",
    "FN_c": "sum of row c - M[c, c]  (faces of c called something else + missed faces of c)",
    "N": "sum of all cells of M",
    "TN_c": "N - TP_c - FP_c - FN_c",
    "accuracy_c": "(TP_c + TN_c) / N",
    "precision_c": "TP_c / (TP_c + FP_c)",
    "recall_c": "TP_c / (TP_c + FN_c)",
    "F1_c": "2 * precision_c * recall_c / (precision_c + recall_c)",
    "accuracy (overall)": "sum_c TP_c / N  (correctly detected and classified faces over all "
    "faces and false detections)",
    "precision / recall / F1 (overall)": "macro average: mean over the classes of the per-class values",
    "micro precision / recall / F1": "sum_c TP_c / sum_c (TP_c + FP_c), sum_c TP_c / sum_c (TP_c + FN_c), "
    "and their harmonic mean",
    "undefined": "a ratio with a zero denominator (0/0, e.g. a class never predicted) is reported as 0",
}


@dataclass(frozen=True)
class ClassMetrics:
    """Counts and ratios of one class taken one-vs-rest from the matrix."""

    tp: int
    fp: int
    fn: int
    tn: int
    support: int
    accuracy: float
    precision: float
    recall: float
    f1: float


@dataclass(frozen=True)
class Summary:
    """Per-class and overall metrics of one confusion matrix."""

    per_class: dict[str, ClassMetrics]
    accuracy: float
    precision: float
    recall: float
    f1: float
    micro_precision: float
    micro_recall: float
    micro_f1: float
    total: int

    def to_dict(self) -> dict:
        out = asdict(self)
        out["per_class"] = {k: asdict(v) for k, v in self.per_class.items()}
        return out


def safe_div(num: float, den: float) -> float:
    """``num / den``, or 0 where the ratio is undefined (stated in the report)."""
    return float(num) / float(den) if den else 0.0


def f1_score(precision: float, recall: float) -> float:
    return safe_div(2.0 * precision * recall, precision + recall)


def image_pairs(
    gt: Sequence[tuple[Box, int]], pred: Sequence[tuple[Box, int]], nc: int, iou_threshold: float = 0.5
) -> list[tuple[int, int]]:
    """(true class, predicted class) for every face and box of one image; ``nc`` = background."""
    pairs = match_boxes([b for b, _ in gt], [b for b, _ in pred], iou_threshold)
    matched_g = {g for g, _ in pairs}
    matched_p = {p for _, p in pairs}
    out = [(gt[g][1], pred[p][1]) for g, p in pairs]
    out += [(cls, nc) for i, (_, cls) in enumerate(gt) if i not in matched_g]
    out += [(nc, cls) for i, (_, cls) in enumerate(pred) if i not in matched_p]
    return out


def confusion_matrix(pairs: Iterable[tuple[int, int]], nc: int) -> np.ndarray:
    """(nc+1)x(nc+1) integer matrix from (true, predicted) pairs; index nc = background."""
    matrix = np.zeros((nc + 1, nc + 1), dtype=np.int64)
    for true, pred in pairs:
        if not (0 <= true <= nc and 0 <= pred <= nc):
            raise ValueError(f"class pair ({true}, {pred}) outside 0..{nc}")
        matrix[true, pred] += 1
    return matrix


def summarize(matrix: np.ndarray, names: Sequence[str]) -> Summary:
    """Per-class and overall metrics with the formulas in ``FORMULAS``."""
    m = np.asarray(matrix, dtype=np.int64)
    nc = len(names)
    if m.shape != (nc + 1, nc + 1):
        raise ValueError(f"matrix shape {m.shape} does not fit {nc} classes plus background")
    total = int(m.sum())
    per_class = {}
    for c, name in enumerate(names):
        tp = int(m[c, c])
        fp = int(m[:, c].sum()) - tp
        fn = int(m[c, :].sum()) - tp
        tn = total - tp - fp - fn
        precision, recall = safe_div(tp, tp + fp), safe_div(tp, tp + fn)
        per_class[name] = ClassMetrics(
            tp=tp,
            fp=fp,
            fn=fn,
            tn=tn,
            support=int(m[c, :].sum()),
            accuracy=safe_div(tp + tn, total),
            precision=precision,
            recall=recall,
            f1=f1_score(precision, recall),
        )
    values = list(per_class.values())
    sum_tp = sum(v.tp for v in values)
    micro_p = safe_div(sum_tp, sum(v.tp + v.fp for v in values))
    micro_r = safe_div(sum_tp, sum(v.tp + v.fn for v in values))
    return Summary(
        per_class=per_class,
        accuracy=safe_div(sum_tp, total),
        precision=float(np.mean([v.precision for v in values])) if values else 0.0,
        recall=float(np.mean([v.recall for v in values])) if values else 0.0,
        f1=float(np.mean([v.f1 for v in values])) if values else 0.0,
        micro_precision=micro_p,
        micro_recall=micro_r,
        micro_f1=f1_score(micro_p, micro_r),
        total=total,
    )


def format_table(summary: Summary) -> str:
    """A Markdown table of the per-class and overall metrics (printed and put in report.md)."""
    lines = [
        "| class | support | TP | FP | FN | accuracy | precision | recall | F1 |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, c in summary.per_class.items():
        lines.append(
            f"| {name} | {c.support} | {c.tp} | {c.fp} | {c.fn} | {c.accuracy:.3f} | {c.precision:.3f} "
            f"| {c.recall:.3f} | {c.f1:.3f} |"
        )
    s = summary
    tp = sum(c.tp for c in s.per_class.values())
    fp = sum(c.fp for c in s.per_class.values())
    fn = sum(c.fn for c in s.per_class.values())
    support = sum(c.support for c in s.per_class.values())
    lines.append(
        f"| **overall** (counts summed, P/R/F1 macro mean) | {support} | {tp} | {fp} | {fn} | "
        f"{s.accuracy:.3f} | {s.precision:.3f} "
        f"| {s.recall:.3f} | {s.f1:.3f} |"
    )
    return "\n".join(lines)


def format_matrix(matrix: np.ndarray, names: Sequence[str]) -> str:
    """The confusion matrix as a Markdown table (rows = truth, columns = prediction)."""
    labels = [*names, "background"]
    lines = ["| true \\ predicted | " + " | ".join(labels) + " |", "| --- |" + " ---: |" * len(labels)]
    for label, row in zip(labels, np.asarray(matrix).tolist()):
        lines.append(f"| {label} | " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(lines)
