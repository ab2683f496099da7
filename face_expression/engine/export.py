"""Export a trained .pt detector to ONNX and OpenVINO for the fast CPU path.

On a small robot CPU the PyTorch model is the slowest way to run YOLOv5n; ONNX Runtime and
OpenVINO run the same network 2-4x faster (benchmarks/results/speed.md). The node loads the
exported ``.onnx`` file or ``*_openvino_model`` folder with the same ``model`` parameter.

Exports have a fixed input shape. Exporting at the camera's aspect (``--camera 640x480`` gives
480x640 at imgsz 640) skips the padding a square export would need: 10-25% less work. Every
export is written under ``--out`` with the shape in its name, e.g.
``face_expression_yolov5n_480x640.onnx`` and ``face_expression_yolov5n_480x640_openvino_model/``.

Works offline: the packages Ultralytics would otherwise try to pip-install (``onnx``,
``onnxslim``, ``onnxruntime``, ``openvino``) are checked first and named if missing.
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
from pathlib import Path

from face_expression.core.geometry import Letterbox
from face_expression.engine import offline
from face_expression.engine.backends import checkpoint_policy, yolo_model
from face_expression.engine.config import ModelError
from face_expression.engine.model_card import check_card

FORMATS = ("onnx", "openvino")
#: Python modules each format needs (pip names in the message if one is missing).
REQUIREMENTS: dict[str, tuple[tuple[str, str], ...]] = {
    "onnx": (("onnx", "onnx"), ("onnxslim", "onnxslim"), ("onnxruntime", "onnxruntime")),
    "openvino": (("openvino", "openvino"),),
}
#: OpenVINO inference precision stored in the export (applied when the node compiles it).
OV_PRECISIONS = ("auto", "f32", "bf16", "f16")


def camera_shape(imgsz: int, width: int, height: int, stride: int = 32) -> tuple[int, int]:
    """The (h, w) input the engine would use for a .pt at ``imgsz`` on this camera (no padding rows)."""
    lb = Letterbox.for_imgsz(width, height, imgsz, stride)
    return lb.dst_h, lb.dst_w


def missing_requirements(formats: list[str]) -> list[str]:
    """Pip names of the packages the requested formats need and that are not installed."""
    missing = []
    for fmt in formats:
        for module, pip_name in REQUIREMENTS[fmt]:
            if importlib.util.find_spec(module) is None and pip_name not in missing:
                missing.append(pip_name)
    return missing


def set_openvino_precision(model_dir: Path, precision: str) -> None:
    """Store an inference precision hint in the IR; OpenVINO applies it in compile_model.

    OpenVINO runs in bf16 on CPUs with AMX/AVX512-BF16 by default: fast, but a few tenths of a
    pixel less exact. ``f32`` pins full precision for every CPU the model is deployed on.
    """
    if precision == "auto":
        return
    import openvino as ov

    xml = next(model_dir.glob("*.xml"))
    core = ov.Core()
    model = core.read_model(str(xml))
    model.set_rt_info(precision, ["runtime_options", "INFERENCE_PRECISION_HINT"])
    tmp = xml.with_name(xml.stem + ".tmp.xml")
    ov.save_model(model, str(tmp), compress_to_fp16=False)
    del model
    tmp.replace(xml)
    tmp.with_suffix(".bin").replace(xml.with_suffix(".bin"))


def _export_one(yolo, fmt: str, shape: tuple[int, int], half: bool, opset: int | None) -> Path:
    """One Ultralytics export at a fixed (h, w); returns what it wrote (beside the loaded .pt)."""
    kwargs: dict[str, object] = {"format": fmt, "imgsz": list(shape), "device": "cpu", "verbose": False}
    if fmt == "onnx":
        kwargs.update(simplify=True, dynamic=False, half=False)
        if opset:
            kwargs["opset"] = opset
    else:
        kwargs.update(half=half, dynamic=False)
    return Path(yolo.export(**kwargs))


def export(
    model: Path,
    shape: tuple[int, int],
    formats: list[str],
    out_dir: Path,
    name: str | None = None,
    half: bool = False,
    ov_precision: str = "auto",
    opset: int | None = None,
) -> list[Path]:
    """Export ``model`` at input ``shape`` (h, w) to each format; return the written paths.

    Ultralytics writes exports beside the .pt, named after it; the .pt is copied to a scratch
    folder under the final name so parallel exports of one model at several shapes never clash
    (and loaded through loadable_name, so a '*yolov5n' stem is not renamed to the official file).
    """
    offline.disable_sync()
    check_card(model)  # the user's card, before the scratch copy is unpickled
    h, w = shape
    stem = name or f"{model.stem}_{h}x{w}"
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="face_expression_export_") as tmp:
        src = Path(tmp) / f"{stem}.pt"
        shutil.copy2(model, src)
        try:
            for fmt in formats:
                with checkpoint_policy(), yolo_model(src, task="detect") as yolo:
                    produced = _export_one(yolo, fmt, shape, half, opset)
                    if fmt == "openvino":
                        set_openvino_precision(produced, ov_precision)
                    target = out_dir / produced.name
                    if target.exists():
                        shutil.rmtree(target) if target.is_dir() else target.unlink()
                    shutil.move(str(produced), str(target))
                written.append(target)
        except ModelError as exc:  # name the user's file, not the scratch copy
            raise ModelError(str(exc).replace(str(src), str(model))) from exc
    return written
