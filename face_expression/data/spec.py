"""Read Roboflow / Ultralytics data sets without touching them, check them, stage them for training.

Roboflow's "YOLOv5 PyTorch" export writes split paths such as ``../train/images`` that are
relative to a folder *above* the yaml, ``names`` as a list (other tools write a dict), and may
have no test split. Ultralytics also writes ``labels.cache`` next to the label folders, which
would modify the user's data set. So training and evaluation never use the input folder
directly: they use a *staged* copy (image symlinks, label copies, a resolved data.yaml) in an
output folder, and the input stays byte-for-byte as it was.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import yaml

from face_expression.data.labels import format_labels, label_path, read_labels

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
#: Roboflow calls the validation split "valid", Ultralytics' key is "val".
SPLIT_KEYS = ("train", "val", "test")
SPLIT_FOLDERS = {"train": "train", "val": "valid", "test": "test"}
MAX_LISTED = 20


class DataSetError(ValueError):
    """A data set that cannot be used; the message lists the offending files and the fix."""


def listing(paths: Iterable[object], limit: int = MAX_LISTED) -> str:
    """Indented list of at most ``limit`` items, with a count of the rest."""
    items = [str(p) for p in paths]
    shown = "\n".join(f"  - {p}" for p in items[:limit])
    more = f"\n  ... and {len(items) - limit} more" if len(items) > limit else ""
    return shown + more


@dataclass
class DataSpec:
    """A data set as read from its yaml: class names and image folders/files per split."""

    yaml_path: Path
    names: list[str]
    splits: dict[str, list[Path]] = field(default_factory=dict)

    def has_split(self, split: str) -> bool:
        return bool(self.splits.get(split))


def find_yaml(path: str | Path) -> Path:
    """The data.yaml of a data set folder, or the yaml file itself."""
    p = Path(path).expanduser()
    if p.is_dir():
        candidates = [p / "data.yaml", p / "data.yml", *sorted(p.glob("*.yaml"))]
        for c in candidates:
            if c.is_file():
                return c.resolve()
        raise DataSetError(
            f"no data.yaml in {p}. Point to a Roboflow 'YOLOv5 PyTorch' export folder, an Ultralytics "
            "data.yaml, or build a data set with face-expression-dataset."
        )
    if not p.is_file():
        raise DataSetError(f"data set not found: {p}. Give a data set folder or its data.yaml.")
    return p.resolve()


def parse_names(raw: object, nc: object = None) -> list[str]:
    """Class names from a list or an {index: name} dict, checked against ``nc``."""
    if isinstance(raw, dict):
        try:
            index = {int(k): str(v) for k, v in raw.items()}
        except (TypeError, ValueError) as exc:
            raise DataSetError(f"names keys must be class indices 0..n-1, got {list(raw)}") from exc
        if sorted(index) != list(range(len(index))):
            raise DataSetError(f"names indices must be 0..{len(index) - 1} without gaps, got {sorted(index)}")
        names = [index[i] for i in range(len(index))]
    elif isinstance(raw, (list, tuple)):
        names = [str(n) for n in raw]
    else:
        raise DataSetError(
            "data.yaml has no 'names' (a list of class names, e.g. names: ['neutral', 'smile'])"
        )
    if not names:
        raise DataSetError("data.yaml lists no class names")
    if len(set(names)) != len(names):
        raise DataSetError(f"class names repeat: {names}")
    if nc is not None and int(nc) != len(names):
        raise DataSetError(f"data.yaml says nc: {nc} but lists {len(names)} names {names}; make them agree")
    return names


def _candidates(root: Path, base: Path | None, value: str) -> list[Path]:
    """Where a split path may point: Roboflow's ``../x`` really means ``<yaml folder>/x``."""
    p = Path(value).expanduser()
    if p.is_absolute():
        return [p]
    out = [base / p] if base is not None else []
    stripped = value
    while stripped.startswith(("../", "..\\")):
        stripped = stripped[3:]
        out.append(root / stripped)
    out.append(root / p)
    return out


def resolve_split(root: Path, base: Path | None, value: object, key: str) -> list[Path]:
    """Existing image folders / list files for one split entry (a string or a list)."""
    values = value if isinstance(value, (list, tuple)) else [value]
    found, missing = [], []
    for v in values:
        hits = [c for c in _candidates(root, base, str(v)) if c.exists()]
        if hits:
            found.append(hits[0].resolve())
        else:
            missing.append(str(v))
    if missing:
        raise DataSetError(
            f"split '{key}' points to {missing}, which does not exist relative to {root}. Keep the export's "
            "train/ valid/ test/ folders next to its data.yaml (Roboflow's '../train/images' paths are "
            "read as '<data set>/train/images')."
        )
    return found


def load(path: str | Path) -> DataSpec:
    """Read a data.yaml (or a folder holding one) without modifying anything."""
    yaml_path = find_yaml(path)
    try:
        data = yaml.safe_load(yaml_path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise DataSetError(f"cannot read {yaml_path}: {exc}") from exc
    if not isinstance(data, dict):
        raise DataSetError(f"{yaml_path} is not a data.yaml mapping (train/val/test/names)")
    try:
        names = parse_names(data.get("names"), data.get("nc"))
    except DataSetError as exc:
        raise DataSetError(f"{yaml_path}: {exc}") from exc
    root = yaml_path.parent
    base = None
    if data.get("path"):
        base = Path(str(data["path"])).expanduser()
        base = base if base.is_absolute() else root / base
    splits: dict[str, list[Path]] = {}
    for key in SPLIT_KEYS:
        value = data.get(key)
        if value is None and key == "val":
            value = data.get("valid")
        if value in (None, "", []):
            continue
        splits[key] = resolve_split(root, base, value, key)
    if "train" not in splits:
        raise DataSetError(f"{yaml_path} has no 'train' split (e.g. train: ../train/images)")
    return DataSpec(yaml_path=yaml_path, names=names, splits=splits)


def image_files(folder: Path) -> list[Path]:
    """Image files under ``folder`` (recursively), sorted; none if it does not exist."""
    return [p for p in sorted(folder.rglob("*")) if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]


def images_of(entries: Iterable[Path]) -> list[Path]:
    """Image files of a split: the images under its folders, or the paths its list files name."""
    out: list[Path] = []
    for entry in entries:
        if entry.is_dir():
            out += image_files(entry)
        else:
            for line in entry.read_text(encoding="utf-8").splitlines():
                line = line.strip()
                if line:
                    p = Path(line)
                    out.append(p if p.is_absolute() else (entry.parent / p).resolve())
    return out


_JPEG_START, _JPEG_END = b"\xff\xd8", b"\xff\xd9"
_PNG_START, _PNG_END = b"\x89PNG", b"IEND\xaeB`\x82"


def truncated(path: Path) -> bool:
    """True when a JPEG or PNG file stops before its end marker (a partial copy or download).

    OpenCV decodes the part it has with only a warning, so a half file would otherwise be used
    as a whole image with a grey lower half.
    """
    try:
        with path.open("rb") as f:
            head = f.read(4)
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 1024))
            tail = f.read().rstrip(b"\x00\r\n ")  # some writers pad after the end marker
    except OSError:
        return True
    if head.startswith(_JPEG_START):
        return not tail.endswith(_JPEG_END)
    if head.startswith(_PNG_START):
        return not tail.endswith(_PNG_END)
    return False


def image_problem(path: Path) -> str | None:
    """Why an image file cannot be used (unreadable, truncated), or None."""
    if cv2.imread(str(path), cv2.IMREAD_REDUCED_GRAYSCALE_8) is None:
        return f"{path} (unreadable or missing)"
    if truncated(path):
        return f"{path} (truncated: the file ends before its end marker)"
    return None


@dataclass
class LabelProblems:
    """Everything wrong in a split, gathered so one message can list it all."""

    bad_coords: list[str] = field(default_factory=list)
    bad_class: list[str] = field(default_factory=list)
    malformed: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)

    def message(self, nc: int) -> str:
        parts = []
        if self.unreadable:
            parts.append(
                "unreadable, missing or truncated images (delete them or re-export):\n"
                + listing(self.unreadable)
            )
        if self.bad_coords:
            parts.append(
                "label lines with coordinates outside [0, 1] (YOLO labels are normalized 'class cx cy w h'; "
                "fix or delete these lines):\n" + listing(self.bad_coords)
            )
        if self.bad_class:
            parts.append(
                f"label lines with unknown class ids (data.yaml names {nc} classes, ids 0..{nc - 1}; "
                "fix the ids or add the names):\n" + listing(self.bad_class)
            )
        if self.malformed:
            parts.append(
                "malformed label lines (need 'class cx cy w h' numbers):\n" + listing(self.malformed)
            )
        return "\n".join(parts)

    def __bool__(self) -> bool:
        return bool(self.bad_coords or self.bad_class or self.malformed or self.unreadable)


def check_split(images: list[Path], nc: int) -> tuple[LabelProblems, list[int]]:
    """Problems of one split and its number of boxes per class."""
    problems = LabelProblems()
    counts = [0] * nc
    for image in images:
        problem = image_problem(image)
        if problem:
            problems.unreadable.append(problem)
            continue
        for cls, *_ in read_labels(label_path(image), nc, problems):
            counts[cls] += 1
    return problems, counts


def check(
    spec: DataSpec, splits: Iterable[str] | None = None, progress: bool = True
) -> dict[str, list[Path]]:
    """Validate splits; raise DataSetError listing every problem. Returns the images per split."""
    from tqdm import tqdm

    wanted = list(splits) if splits is not None else [s for s in SPLIT_KEYS if spec.has_split(s)]
    images: dict[str, list[Path]] = {}
    messages = []
    for split in wanted:
        files = images_of(spec.splits.get(split, []))
        if not files:
            messages.append(f"split '{split}' has no images ({listing(spec.splits.get(split, []))})")
            continue
        bar = tqdm(files, desc=f"checking {split}", unit="img", disable=not progress, leave=False)
        problems, counts = check_split(list(bar), len(spec.names))
        images[split] = files
        if problems:
            messages.append(f"split '{split}':\n" + problems.message(len(spec.names)))
        if split == "train":
            empty = [n for n, k in zip(spec.names, counts) if k == 0]
            if empty:
                messages.append(
                    f"classes with no labelled faces in the train split: {empty}. Add images of these "
                    "classes or remove them from names."
                )
    if messages:
        raise DataSetError(
            f"data set {spec.yaml_path} has problems; nothing was changed:\n" + "\n".join(messages)
        )
    return images


def fingerprint(spec: DataSpec) -> str:
    """SHA-256 over every split's image names and sizes and label contents, plus the names.

    Changes when an image is added, removed or replaced by one of another size, or a label is
    edited; cheap enough for thousands of images (image bytes are not read).
    """
    h = hashlib.sha256()
    h.update(repr(spec.names).encode())
    for split in SPLIT_KEYS:
        for image in images_of(spec.splits.get(split, [])):
            h.update(f"{split}/{image.name}:{image.stat().st_size}\n".encode())
            lp = label_path(image)
            h.update(lp.read_bytes() if lp.is_file() else b"-")
    return h.hexdigest()


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.symlink(src, dst)
    except (OSError, NotImplementedError):
        shutil.copy2(src, dst)


def stage(spec: DataSpec, out_dir: Path, images: dict[str, list[Path]] | None = None) -> Path:
    """Write a resolved copy (image links, label copies, data.yaml) under ``out_dir``.

    Ultralytics then reads and caches only inside ``out_dir``. Returns the staged yaml.
    """
    images = images if images is not None else {s: images_of(spec.splits[s]) for s in spec.splits}
    out_dir = Path(out_dir).resolve()
    if out_dir.exists():
        shutil.rmtree(out_dir)
    entries = {}
    for split, files in images.items():
        folder = out_dir / SPLIT_FOLDERS[split]
        (folder / "images").mkdir(parents=True)
        (folder / "labels").mkdir(parents=True)
        seen: set[str] = set()
        for i, image in enumerate(files):
            name = image.name if image.name not in seen else f"{i:06d}_{image.name}"
            seen.add(name)
            _link_or_copy(image.resolve(), folder / "images" / name)
            lp = label_path(image)
            target = (folder / "labels" / name).with_suffix(".txt")
            boxes = read_labels(lp, len(spec.names))
            target.write_text(format_labels(boxes))
        entries[split] = str(folder / "images")
    for key in ("train", "val"):  # Ultralytics insists on both keys even to validate one split
        entries.setdefault(key, next(iter(entries.values())))
    entries = {k: entries[k] for k in SPLIT_KEYS if k in entries}
    data = {
        "path": str(out_dir),
        **entries,
        "nc": len(spec.names),
        "names": dict(enumerate(spec.names)),
        "source": str(spec.yaml_path),
    }
    yaml_out = out_dir / "data.yaml"
    yaml_out.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return yaml_out


def write_roboflow_yaml(root: Path, names: list[str], splits: Iterable[str] = SPLIT_KEYS) -> Path:
    """data.yaml as Roboflow writes it (``../train/images`` paths), read the same by Ultralytics."""
    data = {s: f"../{SPLIT_FOLDERS[s]}/images" for s in splits}
    data.update({"nc": len(names), "names": list(names)})
    path = Path(root) / "data.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path
