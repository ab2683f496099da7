"""The engine with the real bundled model on real photos, and every kind of unusable model."""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from two_threads import check_answers_on_two_threads

from face_expression.core.geometry import iou
from face_expression.engine.config import InferenceConfig, ModelError, check_config
from face_expression.engine.detector import ExpressionDetector


@pytest.fixture(scope="module")
def engine(model_path: Path) -> ExpressionDetector:
    return ExpressionDetector(InferenceConfig(model=str(model_path)))


def test_bundled_model_classes(engine: ExpressionDetector, model_names: dict[int, str]) -> None:
    assert engine.names == model_names
    assert engine.format == "pt"


@pytest.mark.parametrize("name", ["astronaut", "grace_hopper", "zidane"])
def test_boxes_land_on_faces_in_image_pixels(engine: ExpressionDetector, photos, name: str) -> None:
    photo = photos[name]
    image = cv2.imread(str(photo.path))
    dets = engine(image)
    for box, label in photo.faces:
        best = max(dets, key=lambda d: iou(d, box), default=None)
        assert best is not None and iou(best, box) >= 0.5, f"{name}: no box on {box}, got {dets}"
        if label != "other":
            assert best.class_name == label
    for d in dets:
        assert 0 <= d.x1 < d.x2 <= image.shape[1] and 0 <= d.y1 < d.y2 <= image.shape[0]


def test_same_face_found_at_any_camera_size(engine: ExpressionDetector, astronaut: np.ndarray) -> None:
    """Letterbox undo: the photo scaled and placed in frames of other sizes and aspects."""
    truth = np.array([181, 58, 269, 177], float)
    for (w, h), scale, (dx, dy) in [
        ((640, 480), 0.9, (150, 10)),
        ((1280, 720), 1.2, (500, 50)),
        ((480, 640), 0.8, (30, 200)),
    ]:
        frame = np.full((h, w, 3), 60, np.uint8)
        size = round(512 * scale)
        frame[dy : dy + size, dx : dx + size] = cv2.resize(astronaut, (size, size))
        expected = tuple(truth * size / 512 + [dx, dy, dx, dy])
        best = max(engine(frame), key=lambda d: iou(d, expected), default=None)
        assert best is not None and iou(best, expected) >= 0.5, ((w, h), best, expected)


def test_models_named_like_official_yolov5_weights_load_offline(
    model_path: Path, model_names: dict[int, str]
) -> None:
    """Ultralytics would swap *yolov5n.pt for the official yolov5nu.pt and try to download it.

    It only does so for paths without a letter "u" anywhere, so the copy goes to such a folder
    (pytest's tmp_path often has one) and the test first checks the rename would really happen.
    """
    from ultralytics.utils.checks import check_yolov5u_filename

    folder = Path(tempfile.mkdtemp(prefix="fe", dir="/tmp"))
    while "u" in str(folder):  # mkdtemp's random letters may hold one
        folder.rmdir()
        folder = Path(tempfile.mkdtemp(prefix="fe", dir="/tmp"))
    try:
        copy = folder / "my_yolov5n.pt"
        copy.write_bytes(model_path.read_bytes())
        assert check_yolov5u_filename(str(copy), verbose=False) == str(folder / "my_yolov5nu.pt")
        engine = ExpressionDetector(InferenceConfig(model=str(copy)))
        assert engine.names == model_names and engine.path == copy
        assert copy.is_file() and not copy.is_symlink()
    finally:
        shutil.rmtree(folder)


def test_the_shipped_model_loads_verbatim_with_ultralytics(model_path: Path, model_names) -> None:
    """A user's script or the `yolo` CLI loads the shipped file as it is: no rename, no download."""
    from ultralytics import YOLO

    model = YOLO(str(model_path))
    assert model.task == "detect" and model.names == model_names


def test_update_applies_thresholds_without_reload(engine: ExpressionDetector, astronaut: np.ndarray) -> None:
    cfg = engine.cfg
    strict = InferenceConfig(**{**cfg.__dict__, "conf_threshold": 0.999})
    assert not engine.needs_reload(strict)
    engine.update(strict)
    try:
        assert all(d.score >= 0.999 for d in engine(astronaut))
    finally:
        engine.update(cfg)
    assert engine(astronaut)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"conf_threshold": 1.5}, "conf_threshold"),
        ({"iou_threshold": -0.1}, "iou_threshold"),
        ({"imgsz": 100}, "multiple of 32"),
        ({"device": "tpu"}, "unknown"),
        ({"max_det": 0}, "max_det"),
    ],
)
def test_invalid_settings_are_named(change: dict, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        check_config(InferenceConfig(**change))


def test_cuda_requested_without_cuda_is_rejected() -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ValueError, match="no CUDA device"):
        check_config(InferenceConfig(device="cuda:0"))


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_missing_model(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"model file not found: .*missing\.pt"):
        ExpressionDetector(InferenceConfig(model=str(tmp_path / "missing.pt")))


def test_unsupported_suffix(tmp_path: Path) -> None:
    weights = tmp_path / "weights.h5"
    weights.write_bytes(b"x")
    with pytest.raises(ModelError, match="unsupported model file"):
        ExpressionDetector(InferenceConfig(model=str(weights)))


def test_truncated_model_is_reported_and_left_untouched(tmp_path: Path, model_path: Path) -> None:
    broken = tmp_path / "truncated.pt"
    broken.write_bytes(model_path.read_bytes()[: model_path.stat().st_size // 2])
    before = _digest(broken)
    with pytest.raises(ModelError, match=r"cannot load model .*truncated\.pt"):
        ExpressionDetector(InferenceConfig(model=str(broken)))
    assert _digest(broken) == before


def test_original_yolov5_checkpoint_is_explained(tmp_path: Path) -> None:
    """A checkpoint pickled by the ultralytics/yolov5 repository refers to its `models.yolo` module."""
    pkg = tmp_path / "yolov5_repo" / "models"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "yolo.py").write_text("import torch\nclass DetectionModel(torch.nn.Module):\n    pass\n")
    ckpt = tmp_path / "yolov5s.pt"
    script = textwrap.dedent(f"""
        import sys, torch
        sys.path.insert(0, {str(pkg.parent)!r})
        from models.yolo import DetectionModel
        torch.save({{"model": DetectionModel(), "epoch": -1}}, {str(ckpt)!r})
    """)
    subprocess.run([sys.executable, "-c", script], check=True)
    with pytest.raises(ModelError, match="original ultralytics/yolov5 repository"):
        ExpressionDetector(InferenceConfig(model=str(ckpt)))


def test_classification_model_is_rejected(tmp_path: Path) -> None:
    import torch
    from ultralytics.nn.tasks import ClassificationModel

    model = ClassificationModel("yolov8n-cls.yaml", nc=2, verbose=False)
    model.names = {0: "neutral", 1: "smile"}
    path = tmp_path / "cls.pt"
    torch.save({"model": model.half(), "train_args": {"task": "classify"}}, path)
    with pytest.raises(ModelError, match="'classify' model"):
        ExpressionDetector(InferenceConfig(model=str(path)))


def test_a_payload_checkpoint_is_refused_unless_unsafe_loading_is_asked_for(hostile_models) -> None:
    """The payload is real: with the documented opt-in it runs (here, in this test process)."""
    payload = hostile_models["payload.pt"]
    with pytest.raises(ModelError, match=r"refused to load .*payload\.pt: its pickle names exec"):
        ExpressionDetector(InferenceConfig(model=str(payload)))
    assert not hostile_models.marker.exists()
    try:
        ExpressionDetector(InferenceConfig(model=str(payload), allow_unsafe_model_load=True))
        assert hostile_models.marker.read_text() == "the payload ran"
    finally:
        hostile_models.marker.unlink(missing_ok=True)


def test_the_bundled_card_carries_the_checked_sha256(engine: ExpressionDetector, model_path: Path) -> None:
    import json

    card = json.loads(model_path.with_suffix(".json").read_text())
    assert card["sha256"] == hashlib.sha256(model_path.read_bytes()).hexdigest() == engine.backend.sha256


@pytest.mark.parametrize("task", ["classify", "segment", "pose"])
def test_other_tasks_without_training_arguments_are_named(hostile_models, task: str) -> None:
    with pytest.raises(ModelError, match=f"is a '{task}' model"):
        ExpressionDetector(InferenceConfig(model=str(hostile_models[f"{task}.pt"])))


def test_half_is_refused_on_the_cpu() -> None:
    with pytest.raises(ValueError, match="half=true needs a CUDA device"):
        check_config(InferenceConfig(half=True, device="cpu"))


@pytest.mark.parametrize("shape", [(1, 4000), (4000, 1), (4, 4), (10, 4000), (4000, 10)])
def test_frames_too_small_or_thin_give_no_detection(engine: ExpressionDetector, shape) -> None:
    assert engine(np.full((*shape, 3), 90, np.uint8)) == []


def _rss_mb() -> float:
    import os

    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def test_a_large_imgsz_never_enlarges_a_small_frame_unless_asked_and_gives_memory_back(
    model_path: Path, astronaut: np.ndarray
) -> None:
    import dataclasses

    detector = ExpressionDetector(InferenceConfig(model=str(model_path), imgsz=4096))
    assert detector.input_geometry(512, 512).dst_w == 512  # not 4096
    native = detector.native_imgsz
    assert detector.input_geometry(200, 100).dst_w == native  # the model's native size is kept
    assert f"about {(4096 / native) ** 2:.0f}x the work" in (detector.imgsz_notice() or "")
    for _ in range(3):
        detector(astronaut)
    before = _rss_mb()
    detector.update(dataclasses.replace(detector.cfg, imgsz=2560, upscale=True))
    assert detector.input_geometry(512, 512).dst_w == 2560
    detector(astronaut)
    peak = _rss_mb()
    detector.update(dataclasses.replace(detector.cfg, imgsz=0, upscale=False))
    detector(astronaut)
    after = _rss_mb()
    assert peak - before > 50, f"the test is moot: {peak - before:.0f} MB at imgsz 2560"
    assert after - before < 25, f"{after - before:.0f} MB kept after going back from imgsz 2560"


def test_a_card_imgsz_sets_the_default_inference_size(tmp_path: Path, model_path: Path) -> None:
    """imgsz 0 runs a model at the size its card recommends; a bad value falls back to training's."""
    import json

    model = tmp_path / "m.pt"
    shutil.copy(model_path, model)
    card = json.loads(model_path.with_suffix(".json").read_text())
    trained = card["training_args"]["imgsz"]
    for value, expected in ((trained + 64, trained + 64), (trained + 5, trained), ("big", trained)):
        model.with_suffix(".json").write_text(json.dumps({**card, "imgsz": value}))
        engine = ExpressionDetector(InferenceConfig(model=str(model)))
        assert engine.imgsz == engine.native_imgsz == expected, value
    configured = ExpressionDetector(InferenceConfig(model=str(model), imgsz=trained + 32))
    assert configured.imgsz == trained + 32


def _answers(engine: ExpressionDetector, image: np.ndarray) -> list[tuple]:
    return [(d.class_name, round(d.x1), round(d.y1), round(d.x2)) for d in engine(image)]


def test_a_pt_model_on_the_cpu_answers_two_threads_at_once_as_one(model_path: Path, photos) -> None:
    """The node runs two .pt frames at once on the CPU, also when the camera's size changes.

    Frames of two sizes alternate, so the two threads' inputs differ in shape: Ultralytics' head
    keeps anchors for the last shape, and the engine must not mix them (core/shape_gate.py).
    """
    engine = ExpressionDetector(InferenceConfig(model=str(model_path), expression_classifier=""))
    assert engine.thread_safe and engine.parallel_frames == 2
    scenes = {}
    for name in ("astronaut", "grace_hopper", "zidane"):
        image = cv2.imread(str(photos[name].path))
        scenes[f"{name} landscape"] = cv2.resize(image, (640, 480))
        h, w = image.shape[:2]
        crop = image[:, max(0, (w - h * 3 // 4) // 2) :][:, : h * 3 // 4]  # a portrait cut, not squeezed
        scenes[f"{name} portrait"] = cv2.resize(crop, (360, 480))
    expected = {name: _answers(engine, image) for name, image in scenes.items()}
    assert all(expected.values()), "every scene must hold a face for this to check anything"
    names = sorted(scenes)
    pick = lambda i, k: names[(i * 2 + k) % len(names)]  # noqa: E731 (thread 0 landscape, 1 portrait)
    check_answers_on_two_threads(lambda name: _answers(engine, scenes[name]), expected, pick, 48)


def test_a_threads_change_reaches_a_worker_that_already_ran(model_path: Path, astronaut: np.ndarray) -> None:
    """PyTorch's thread count is per thread (OpenMP): a change on another thread must still apply."""
    import torch

    cfg = InferenceConfig(model=str(model_path), expression_classifier="", threads=1, parallel_frames=1)
    engine = ExpressionDetector(cfg)
    seen: list[int] = []
    ran, changed = threading.Event(), threading.Event()

    def worker() -> None:
        engine(astronaut)
        seen.append(torch.get_num_threads())
        ran.set()
        changed.wait(30)
        engine(astronaut)
        seen.append(torch.get_num_threads())

    thread = threading.Thread(target=worker)
    thread.start()
    assert ran.wait(60)
    engine.update(dataclasses.replace(cfg, threads=2))  # here, as the node's executor thread does
    changed.set()
    thread.join(60)
    assert seen == [1, 2]


def test_two_pt_frames_at_once_split_the_threads(model_path: Path, astronaut: np.ndarray) -> None:
    """threads 4 with two frames at once: each calling thread runs PyTorch on 2, not 4 (8 on 4 cores)."""
    import torch

    engine = ExpressionDetector(InferenceConfig(model=str(model_path), expression_classifier="", threads=4))
    assert engine.parallel_frames == 2
    seen: list[int] = []

    def worker() -> None:
        engine(astronaut)
        seen.append(torch.get_num_threads())

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(60)
    assert seen == [2]
