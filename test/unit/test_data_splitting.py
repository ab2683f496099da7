"""Splitting records into train/valid/test: groups kept whole, too few groups cut into time segments."""

from __future__ import annotations

from pathlib import Path

import pytest

from face_expression.data.splitting import Record, assign_splits


def test_split_keeps_groups_together_and_is_reproducible():
    records = [
        Record(f"g{g}", f"g{g}", i, [(g % 2, 0.5, 0.5, 0.1, 0.1)], Path(f"g{g}_{i}.jpg"))
        for g in range(10)
        for i in range(5 + g)
    ]
    splits, segmented = assign_splits(records, (0.6, 0.2, 0.2), seed=3)
    assert segmented == []
    per_group = {}
    for r, s in zip(records, splits):
        per_group.setdefault(r.group, set()).add(s)
    assert all(len(v) == 1 for v in per_group.values())
    counts = {k: splits.count(k) for k in ("train", "val", "test")}
    assert all(counts.values())
    assert counts["train"] / len(records) == pytest.approx(0.6, abs=0.12)
    for cls in (0, 1):  # every class appears in every split
        assert {s for r, s in zip(records, splits) if r.labels[0][0] == cls} == {"train", "val", "test"}
    assert assign_splits(records, (0.6, 0.2, 0.2), seed=3)[0] == splits


def test_too_few_groups_are_cut_into_time_segments():
    records = [Record("v", "v", i, [(0, 0.5, 0.5, 0.1, 0.1)], Path(f"{i}.jpg")) for i in range(10)]
    splits, segmented = assign_splits(list(reversed(records)), (0.6, 0.2, 0.2))
    assert segmented == ["v"]
    by_order = [s for _, s in sorted(zip([r.order for r in reversed(records)], splits))]
    assert by_order == ["train"] * 6 + ["val"] * 2 + ["test"] * 2
