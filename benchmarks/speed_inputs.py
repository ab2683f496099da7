"""Speed benchmark inputs: real 640x480 frames, a stand-in model, and the model exported per imgsz."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CAMERA_W, CAMERA_H = 640, 480


def real_frames(count: int = 8) -> list[np.ndarray]:
    """640x480 BGR frames from real photos and video that install with the test packages."""
    import matplotlib
    import skimage
    import ultralytics

    paths = [
        Path(skimage.__file__).parent / "data" / "astronaut.png",
        Path(matplotlib.__file__).parent / "mpl-data" / "sample_data" / "grace_hopper.jpg",
        Path(ultralytics.__file__).parent / "assets" / "zidane.jpg",
        Path(ultralytics.__file__).parent / "assets" / "bus.jpg",
    ]
    frames = [cv2.imread(str(p)) for p in paths if p.is_file()]
    clip = ROOT / "media" / "carphone.mp4"
    cap = cv2.VideoCapture(str(clip))
    while len(frames) < count and cap.isOpened():
        ok, frame = cap.read()
        if not ok:
            break
        for _ in range(14):  # spread over the clip
            cap.grab()
        frames.append(frame)
    cap.release()
    frames = [f for f in frames if f is not None]
    if not frames:
        raise SystemExit("no real frames found (scikit-image, matplotlib, ultralytics installed?)")
    return [cv2.resize(f, (CAMERA_W, CAMERA_H), interpolation=cv2.INTER_AREA) for f in frames[:count]]


def stand_in_model(path: Path) -> Path:
    """A random-weight YOLOv5n with our two classes: same graph and speed as the trained model."""
    if path.is_file():
        return path
    import torch
    from ultralytics.nn.tasks import DetectionModel

    model = DetectionModel("yolov5n.yaml", nc=2, verbose=False)
    model.names = {0: "neutral", 1: "smile"}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model.half(), "train_args": {}}, path)
    return path


def export_models(
    model: Path, sizes: list[int], backends: list[str], work: Path
) -> dict[tuple[str, int], Path]:
    """Export once per imgsz at the camera's aspect; cached in ``work`` while the .pt is unchanged."""
    from face_expression.engine.export import camera_shape, export, set_openvino_precision

    tag = f"{model.stem}_{int(model.stat().st_mtime)}"
    out = work / "exports" / tag
    paths: dict[tuple[str, int], Path] = {}
    for imgsz in sizes:
        h, w = camera_shape(imgsz, CAMERA_W, CAMERA_H)
        stem = f"{model.stem}_{h}x{w}"
        if "pytorch" in backends:
            paths["pytorch", imgsz] = model
        if "onnx" in backends:
            onnx = out / f"{stem}.onnx"
            if not onnx.is_file():
                export(model, (h, w), ["onnx"], out, stem)
            paths["onnx", imgsz] = onnx
        if "openvino" in backends or "openvino-f32" in backends:
            ov_dir = out / f"{stem}_openvino_model"
            if not ov_dir.is_dir():
                export(model, (h, w), ["openvino"], out, stem)
            paths["openvino", imgsz] = ov_dir
            f32 = out / f"{stem}_f32_openvino_model"
            if "openvino-f32" in backends and not f32.is_dir():
                shutil.copytree(ov_dir, f32)
                set_openvino_precision(f32, "f32")
            paths["openvino-f32", imgsz] = f32
    return {k: v for k, v in paths.items() if k[0] in backends}
