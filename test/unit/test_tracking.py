"""The face tracker: stable ids in seconds, not frames; new ids for new faces; clean restarts."""

from __future__ import annotations

import pytest

from face_expression.core.detections import Detection
from face_expression.core.tracking import FaceTracker, TrackerSettings


def face(cx: float, cy: float, size: float = 100.0, cls: tuple[int, str] = (0, "neutral"), score=0.9):
    return Detection(cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2, cls[0], cls[1], score)


def ids(tracker: FaceTracker, dets: list[Detection], t: float, source=None) -> list[str]:
    return [d.track_id for d in tracker.update(dets, t, source).detections]


def test_a_moving_face_keeps_its_id_and_ids_start_with_a_letter() -> None:
    tr = FaceTracker()
    seen = {i for k in range(60) for i in ids(tr, [face(100 + 5 * k, 200)], k / 30)}
    assert len(seen) == 1
    (only,) = seen
    assert only[0].isalpha() and len(only) <= 6


@pytest.mark.parametrize("fps", [5.0, 30.0])
def test_keep_time_is_in_seconds(fps: float) -> None:
    tr = FaceTracker(TrackerSettings(keep_s=1.0), id_prefix="f")
    (first,) = ids(tr, [face(200, 200)], 0.0)
    assert ids(tr, [], 0.5) == [] and tr.update([], 0.9).tracked_ids == [first]  # kept while unseen
    assert ids(tr, [face(200, 200)], 0.95) == [first]  # back within 1 s: same id
    for k in range(1, int(1.2 * fps)):  # gone for 1.2 s at this frame rate
        tr.update([], 0.95 + k / fps)
    assert tr.update([], 2.2).tracked_ids == []
    (again,) = ids(tr, [face(200, 200)], 2.3)
    assert again != first, "a face back after the keep time must get a new id"


def test_two_faces_crossing_keep_their_ids() -> None:
    """Neither face is detected for 0.4 s while they pass each other: motion carries them through."""
    tr = FaceTracker(id_prefix="f")
    history: dict[str, set[str]] = {"A": set(), "B": set()}
    for k in range(40):
        t = k / 30
        a, b = face(100 + 300 * t, 200), face(500 - 300 * t, 215)
        hidden = 0.45 <= t < 0.85
        for det in tr.update([] if hidden else [a, b], t).detections:
            history["A" if det.center == a.center else "B"].add(det.track_id)
    assert len(history["A"]) == 1 and len(history["B"]) == 1 and history["A"] != history["B"], history


def test_expression_change_keeps_the_id() -> None:
    tr = FaceTracker()
    a = ids(tr, [face(200, 200, cls=(0, "neutral"))], 0.0)
    assert ids(tr, [face(202, 200, cls=(1, "smile"))], 0.04) == a


def test_min_frames_delays_a_new_face() -> None:
    tr = FaceTracker(TrackerSettings(min_frames=3))
    assert ids(tr, [face(200, 200)], 0.0) == []
    assert ids(tr, [face(201, 200)], 0.03) == []
    (fid,) = ids(tr, [face(202, 200)], 0.06)
    assert tr.update([face(203, 200)], 0.1).tracked_ids == [fid]
    # a one-frame false face never shows
    tr.update([face(203, 200), face(500, 300, size=60)], 0.13)
    assert tr.update([face(204, 200)], 0.16).tracked_ids == [fid]


def test_ids_restart_when_the_input_changes_or_time_runs_back() -> None:
    tr = FaceTracker()
    a = ids(tr, [face(200, 200)], 10.0, source=("model1", 640, 480))
    b = ids(tr, [face(200, 200)], 10.03, source=("model2", 640, 480))
    assert a != b and tr.update([], 10.06, ("model2", 640, 480)).tracked_ids == b
    c = ids(tr, [face(200, 200)], 1.0, source=("model2", 640, 480))  # bag replayed from its start
    assert c != b and len({*a, *b, *c}) == 3, "ids are never reused"


def test_smoothing_steadies_the_published_class_and_can_be_off() -> None:
    on, off = FaceTracker(), FaceTracker(TrackerSettings(smoothing=False))
    flicker = [(0, "neutral"), (1, "smile")] * 15
    got_on = [on.update([face(200, 200, cls=c)], k / 30).detections[0] for k, c in enumerate(flicker)]
    got_off = [off.update([face(200, 200, cls=c)], k / 30).detections[0] for k, c in enumerate(flicker)]
    assert {d.class_name for d in got_on} == {"neutral"}
    assert [d.class_name for d in got_off] == [c[1] for c in flicker]


def test_confidences_are_the_detectors_own() -> None:
    tr = FaceTracker()
    tr.update([face(200, 200, score=0.9)], 0.0)
    result = tr.update([face(200, 200, cls=(1, "smile"), score=0.6)], 0.03)
    assert result.confidences == [0.6]
    assert result.detections[0].class_name == "neutral"  # one smiling frame does not switch


def test_bad_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        TrackerSettings(keep_s=-1.0)
    with pytest.raises(ValueError, match="start with a letter"):
        FaceTracker(id_prefix="1")
