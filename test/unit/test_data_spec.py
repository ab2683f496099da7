"""Reading Roboflow / Ultralytics data sets: relative paths, names, missing splits, bad labels."""

from __future__ import annotations

from pathlib import Path

import cv2
import pytest
import skimage.data
import yaml
from file_tree import tree_hash

from face_expression.data import spec as dy
from face_expression.data.labels import read_labels

FACE = "0 0.44 0.23 0.17 0.23\n"  # the astronaut's face, normalized


def roboflow_export(root: Path, splits=("train", "valid"), names: object = ("neutral", "smile")) -> Path:
    """A tiny Roboflow 'YOLOv5 PyTorch' export with real images and ../x/images paths."""
    image = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)
    for split in splits:
        (root / split / "images").mkdir(parents=True)
        (root / split / "labels").mkdir(parents=True)
        for i, cls in enumerate((0, 1)):
            cv2.imwrite(str(root / split / "images" / f"a{i}.jpg"), image)
            (root / split / "labels" / f"a{i}.txt").write_text(FACE.replace("0 ", f"{cls} ", 1))
    data = {s if s != "valid" else "val": f"../{s}/images" for s in splits}
    data.update(
        {
            "nc": 2,
            "names": names if isinstance(names, dict) else list(names),
            "roboflow": {"workspace": "w", "project": "faces", "version": 1},
        }
    )
    (root / "data.yaml").write_text(yaml.safe_dump(data))
    return root


def test_roboflow_relative_paths_names_list_and_missing_test(tmp_path):
    root = roboflow_export(tmp_path / "export")
    spec = dy.load(root)
    assert spec.names == ["neutral", "smile"]
    assert spec.splits["train"] == [(root / "train" / "images").resolve()]
    assert spec.splits["val"] == [(root / "valid" / "images").resolve()]
    assert not spec.has_split("test")
    assert len(dy.images_of(spec.splits["train"])) == 2


def test_names_as_dict_and_path_key(tmp_path):
    root = roboflow_export(tmp_path / "export", names={1: "smile", 0: "neutral"})
    data = yaml.safe_load((root / "data.yaml").read_text())
    data.update({"path": str(root), "train": "train/images", "val": "valid/images"})
    (root / "custom.yaml").write_text(yaml.safe_dump(data))
    spec = dy.load(root / "custom.yaml")
    assert spec.names == ["neutral", "smile"]
    assert spec.splits["train"] == [(root / "train" / "images").resolve()]


@pytest.mark.parametrize(
    ("names", "nc", "needle"),
    [
        ({0: "a", 2: "b"}, None, "without gaps"),
        (["a", "b"], 3, "nc: 3"),
        (None, None, "no 'names'"),
        (["a", "a"], None, "repeat"),
    ],
)
def test_bad_names_are_explained(names, nc, needle):
    with pytest.raises(dy.DataSetError, match=needle):
        dy.parse_names(names, nc)


def test_missing_split_folder_is_explained(tmp_path):
    root = roboflow_export(tmp_path / "export")
    data = yaml.safe_load((root / "data.yaml").read_text())
    data["test"] = "../test/images"
    (root / "data.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(dy.DataSetError, match="split 'test'"):
        dy.load(root)


def test_bad_labels_and_images_are_listed_and_input_untouched(tmp_path):
    root = roboflow_export(tmp_path / "export")
    labels = root / "train" / "labels"
    (labels / "a0.txt").write_text("0 1.4 0.5 0.2 0.2\n")
    (labels / "a1.txt").write_text("7 0.5 0.5 0.2 0.2\n")
    (root / "train" / "images" / "broken.jpg").write_bytes(b"not a jpeg")
    before = tree_hash(root)
    with pytest.raises(dy.DataSetError) as err:
        dy.check(dy.load(root), progress=False)
    text = str(err.value)
    assert "a0.txt:1" in text and "outside [0, 1]" in text
    assert "a1.txt:1" in text and "unknown class ids" in text
    assert "broken.jpg" in text
    assert tree_hash(root) == before


def test_truncated_jpeg_is_listed(tmp_path):
    """OpenCV decodes half a JPEG with only a warning: the missing end marker gives it away."""
    root = roboflow_export(tmp_path / "export")
    image = root / "train" / "images" / "a0.jpg"
    data = image.read_bytes()
    image.write_bytes(data[: len(data) // 2])
    assert cv2.imread(str(image)) is not None  # what made it slip through
    before = tree_hash(root)
    with pytest.raises(dy.DataSetError, match=r"a0\.jpg \(truncated"):
        dy.check(dy.load(root), progress=False)
    assert tree_hash(root) == before


def test_names_and_nc_disagreeing_names_the_data_yaml(tmp_path):
    root = roboflow_export(tmp_path / "export")
    data = yaml.safe_load((root / "data.yaml").read_text())
    (root / "data.yaml").write_text(yaml.safe_dump({**data, "nc": 3}))
    with pytest.raises(dy.DataSetError, match=f"^{root / 'data.yaml'}: data.yaml says nc: 3"):
        dy.load(root)


def test_class_without_faces_in_train_is_an_error(tmp_path):
    root = roboflow_export(tmp_path / "export")
    (root / "train" / "labels" / "a1.txt").write_text(FACE)  # both images now neutral
    with pytest.raises(dy.DataSetError, match=r"no labelled faces.*smile"):
        dy.check(dy.load(root), progress=False)


def test_stage_resolves_paths_without_touching_the_input(tmp_path):
    root = roboflow_export(tmp_path / "export")
    before = tree_hash(root)
    spec = dy.load(root)
    staged = dy.stage(spec, tmp_path / "staged", dy.check(spec, progress=False))
    data = yaml.safe_load(staged.read_text())
    assert data["names"] == {0: "neutral", 1: "smile"}
    assert Path(data["train"]).is_dir() and Path(data["val"]).is_dir()
    assert Path(data["train"]).is_relative_to(tmp_path / "staged")
    assert (Path(data["train"]).parent / "labels" / "a1.txt").read_text().startswith("1 0.44")
    assert cv2.imread(str(Path(data["val"]) / "a0.jpg")) is not None
    assert tree_hash(root) == before


def test_fingerprint_follows_labels(tmp_path):
    root = roboflow_export(tmp_path / "export")
    first = dy.fingerprint(dy.load(root))
    assert dy.fingerprint(dy.load(root)) == first
    (root / "train" / "labels" / "a0.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    assert dy.fingerprint(dy.load(root)) != first


def test_polygon_labels_become_boxes(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("1 0.1 0.2 0.3 0.2 0.3 0.6 0.1 0.6\n")
    ((cls, cx, cy, w, h),) = read_labels(path, 2)
    assert cls == 1 and (cx, cy, w, h) == pytest.approx((0.2, 0.4, 0.2, 0.4))
