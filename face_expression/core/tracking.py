"""Faces that keep their identity from frame to frame: a small, time-based face tracker.

Why our own and not Ultralytics' ByteTrack: on faces (few, well separated, detected with high
confidence) both keep identities equally well (benchmarks/results/tracking.md), but this one counts
time in seconds from the frame stamps, so "keep a lost face 1 s" means the same at 5 and 30 FPS
and across dropped frames, needs no extra package (ByteTrack needs ``lap``) and costs a few
microseconds per face.

Matching: each track predicts its centre at the frame's time from a constant-velocity model; a
detection may continue a track when its centre lies within ``MAX_SHIFT`` diagonals of the track's
(smoothed) box from the predicted or last seen centre, a gate that widens while the face is not
seen, and its size is within ``MAX_SIZE_RATIO`` of the track's; pairs are
taken greedily, closest first (as the ROS4HRI reference detector does, plus the motion model that
carries a face through a crossing). Class is ignored, so a change of expression keeps the id.
Ids are short strings starting with a letter and are never reused while the tracker lives: a
face lost for longer than ``keep_s`` comes back with a new id (REP-155: a lost id is invalid).
"""

from __future__ import annotations

import dataclasses
import math
import random
import string
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from face_expression.core.detections import Detection
from face_expression.core.smoothing import ExpressionFilter

#: A detection continues a track within this many box diagonals of its predicted centre ...
MAX_SHIFT = 0.75
#: ... plus this many diagonals per second the face has not been seen (its motion is less sure) ...
LOST_SHIFT_PER_S = 1.0
#: ... and when the box sizes (square root of the area ratio) differ by less than this factor
#: (a face half hidden behind another one has a box half its size).
MAX_SIZE_RATIO = 2.0
#: Share of a new measurement in the smoothed velocity and size.
VELOCITY_GAIN = 0.3
SIZE_GAIN = 0.3


@dataclass(frozen=True)
class TrackerSettings:
    """What the node's tracking parameters set."""

    #: seconds a face that is no longer detected keeps its id
    keep_s: float = 1.0
    #: frames a new face must be detected in before it is reported; 0 and 1 = at once
    min_frames: int = 0
    #: publish the smoothed expression (core/smoothing.py) instead of each frame's own
    smoothing: bool = True
    #: time constant of the expression average, seconds
    time_constant_s: float = 0.3

    def __post_init__(self) -> None:
        if self.keep_s < 0 or self.min_frames < 0 or self.time_constant_s < 0:
            raise ValueError(f"tracking settings must not be negative: {self}")


@dataclass(frozen=True)
class TrackingResult:
    """One frame's tracked faces."""

    #: the faces to publish, in detection order: ``track_id`` set, expression smoothed if enabled
    detections: list[Detection]
    #: the detector's own confidence for each of ``detections`` (face-ness, before smoothing)
    confidences: list[float]
    #: every face tracked now, in the order they were first reported: those detected in this frame
    #: and those kept (not seen for up to ``keep_s``)
    tracked_ids: list[str]


class _Track:
    __slots__ = ("born", "box", "expression", "h", "hits", "id", "t", "vx", "vy", "w")

    def __init__(self, det: Detection, t: float, born: int, time_constant_s: float) -> None:
        self.box = (det.x1, det.y1, det.x2, det.y2)
        self.w, self.h = det.size  # smoothed size
        self.t = t
        self.vx = self.vy = 0.0
        self.hits = 0
        self.id: str | None = None
        self.expression = ExpressionFilter(time_constant_s)
        self.born = born

    def centre(self, t: float | None = None) -> tuple[float, float]:
        x1, y1, x2, y2 = self.box
        dt = 0.0 if t is None else max(0.0, t - self.t)
        return (x1 + x2) / 2 + self.vx * dt, (y1 + y2) / 2 + self.vy * dt

    def cost(self, det: Detection, t: float) -> float | None:
        """Distance (in track diagonals) to ``det``, or None when it cannot be this face."""
        w, h = self.w, self.h
        dw, dh = det.size
        if w <= 0 or h <= 0 or dw <= 0 or dh <= 0:
            return None
        ratio = math.sqrt((w * h) / (dw * dh))
        ratio = max(ratio, 1 / ratio)
        if ratio > MAX_SIZE_RATIO:
            return None
        diag = math.hypot(w, h)
        cx, cy = det.center
        shift = min(math.dist(self.centre(t), (cx, cy)), math.dist(self.centre(), (cx, cy))) / diag
        if shift > MAX_SHIFT + LOST_SHIFT_PER_S * max(0.0, t - self.t):
            return None
        return shift + 0.25 * (ratio - 1.0)

    def update(self, det: Detection, t: float) -> None:
        dt = t - self.t
        if self.hits and dt > 0:
            (ox, oy), (nx, ny) = self.centre(), det.center
            mvx, mvy = (nx - ox) / dt, (ny - oy) / dt
            if self.hits == 1:
                self.vx, self.vy = mvx, mvy
            else:
                self.vx += VELOCITY_GAIN * (mvx - self.vx)
                self.vy += VELOCITY_GAIN * (mvy - self.vy)
            dw, dh = det.size
            self.w += SIZE_GAIN * (dw - self.w)
            self.h += SIZE_GAIN * (dh - self.h)
        self.box = (det.x1, det.y1, det.x2, det.y2)
        self.t = t
        self.hits += 1


class FaceTracker:
    """Gives each detected face a stable id and (optionally) a steady expression."""

    def __init__(self, settings: TrackerSettings | None = None, id_prefix: str | None = None) -> None:
        self.settings = settings or TrackerSettings()
        if id_prefix is None:  # a fresh prefix per tracker: ids of a restarted node differ too
            id_prefix = "".join(random.choices(string.ascii_lowercase, k=2))
        if not id_prefix[:1].isalpha():
            raise ValueError(f"id prefix must start with a letter, got {id_prefix!r}")
        self.id_prefix = id_prefix
        self._tracks: list[_Track] = []
        self._next_id = 1
        self._born = 0
        self._t: float | None = None
        self._source: Hashable | None = None
        self.resets = 0

    def reset(self) -> None:
        """Forget every face (new ids from here on; ids are never reused)."""
        self._tracks = []
        self._t = None
        self.resets += 1

    def _new_id(self) -> str:
        n, digits = self._next_id, ""
        self._next_id += 1
        while n:
            n, r = divmod(n, 36)
            digits = (string.digits + string.ascii_lowercase)[r] + digits
        return self.id_prefix + digits

    def update(self, detections: Sequence[Detection], t: float, source: Hashable = None) -> TrackingResult:
        """Track one frame's detections taken at ``t`` seconds.

        ``source`` identifies the input (e.g. model, image size and frame_id): when it changes, or
        time runs backwards (a bag replayed from its start), every track ends and ids restart.
        """
        if source != self._source or (self._t is not None and t < self._t):
            if self._tracks or self._t is not None:
                self.reset()
            self._source = source
        self._t = t
        det_track = self._match(detections, t)
        out: list[Detection] = []
        confidences: list[float] = []
        for di, det in enumerate(detections):
            published = self._report(det_track[di], det, t)
            if published is not None:
                out.append(published)
                confidences.append(det.score)
        tracked = sorted((tr for tr in self._tracks if tr.id is not None), key=lambda tr: tr.born)
        return TrackingResult(out, confidences, [tr.id for tr in tracked if tr.id is not None])

    def _match(self, detections: Sequence[Detection], t: float) -> dict[int, _Track]:
        """Detection index -> its track (a new one for a new face); drops tracks kept too long."""
        tracks = self._tracks
        pairs = []
        for ti, track in enumerate(tracks):
            for di, det in enumerate(detections):
                cost = track.cost(det, t)
                if cost is not None:
                    pairs.append((cost, ti, di))
        pairs.sort()
        det_track: dict[int, _Track] = {}
        used: set[int] = set()
        for _cost, ti, di in pairs:
            if ti not in used and di not in det_track:
                used.add(ti)
                det_track[di] = tracks[ti]
        keep_s = self.settings.keep_s
        # unmatched: a confirmed face keeps its id a while; a tentative one ends at once
        kept = [
            tr for ti, tr in enumerate(tracks) if ti in used or (tr.id is not None and t - tr.t <= keep_s)
        ]
        for di, det in enumerate(detections):
            if di not in det_track:
                self._born += 1
                det_track[di] = _Track(det, t, self._born, self.settings.time_constant_s)
                kept.append(det_track[di])
        self._tracks = kept
        return det_track

    def _report(self, track: _Track, det: Detection, t: float) -> Detection | None:
        """Update ``track`` with ``det``; the detection to publish, or None while still tentative."""
        s = self.settings
        track.update(det, t)
        expression = track.expression.update(det.class_id, det.class_name, det.score, t)
        if track.id is None and track.hits >= max(1, s.min_frames):
            track.id = self._new_id()
        if track.id is None:
            return None
        if s.smoothing:
            det = dataclasses.replace(
                det, class_id=expression.class_id, class_name=expression.class_name, score=expression.score
            )
        return dataclasses.replace(det, track_id=track.id)
