"""What the engine is asked to do, checked before anything loads."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from face_expression.core.resources import (
    DEFAULT_MODEL_NAME,
    bundled_expression_classifier_path,
    default_model_path,
)
from face_expression.engine.devices import check_device

MODEL_SUFFIXES = (".pt", ".onnx")
OPENVINO_DIR_SUFFIX = "_openvino_model"
#: expression_classifier values besides a path: the second stage off, the bundled classifier, and
#: the bundled classifier for the bundled starter model only (a model of your own keeps its labels).
CLASSIFIER_OFF = ""
CLASSIFIER_BUNDLED = "bundled"
CLASSIFIER_AUTO = "auto"


class ModelError(RuntimeError):
    """A model that cannot be used; the message names the file and the fix."""


def runtime_failure(exc: BaseException) -> str:
    """A runtime's load error in one line for a ModelError: its first line, at most 300 characters,
    without Ultralytics' "ERROR" mark or a closing full stop (the message goes on after it)."""
    text = str(exc).strip().removeprefix("ERROR ❌️").strip()
    return text.splitlines()[0][:300].rstrip(".") if text else type(exc).__name__


@dataclass
class InferenceConfig:
    """Everything the engine needs; mirrors the detector node's parameters."""

    model: str = ""
    imgsz: int = 0  # 0 = the size the model was trained at (Ultralytics' own default)
    conf_threshold: float = 0.25
    iou_threshold: float = 0.45
    device: str = "cpu"
    half: bool = False
    max_det: int = 100
    agnostic_nms: bool = True
    threads: int = 0
    parallel_frames: int = 0  # frames a caller may run at once; 0 = 2 where thread-safe (the CPU), else 1
    upscale: bool = False  # letterbox frames up to imgsz even past their own size and the training size
    allow_unsafe_model_load: bool = False  # full unpickling of .pt files (runs any code they carry)
    expression_classifier: str = CLASSIFIER_AUTO  # second stage: auto, "" (off), bundled, or an .onnx path


def frames_at_once(parallel_frames: int) -> int:
    """``parallel_frames`` as a count: 0 (auto) = 2 (a model that is not thread-safe takes 1 anyway)."""
    return parallel_frames or 2


#: Settings that need the model loaded again when they change.
RELOAD_FIELDS = ("model", "device", "half", "allow_unsafe_model_load", "expression_classifier")


def needs_reload(old: InferenceConfig, new: InferenceConfig) -> bool:
    """True when ``new`` differs from ``old`` in a setting only a fresh load can apply."""
    return any(getattr(new, f) != getattr(old, f) for f in RELOAD_FIELDS)


def check_config(cfg: InferenceConfig) -> None:
    """Raise ValueError naming the first invalid setting; loads nothing."""
    for name in ("conf_threshold", "iou_threshold"):
        value = getattr(cfg, name)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name}={value} is outside [0, 1]")
    if cfg.imgsz != 0 and (cfg.imgsz < 32 or cfg.imgsz % 32):
        raise ValueError(
            f"imgsz={cfg.imgsz} must be 0 (the model's training size) or a multiple of 32 (e.g. 320, 640)"
        )
    if cfg.max_det < 1:
        raise ValueError(f"max_det={cfg.max_det} must be at least 1")
    if cfg.threads < 0:
        raise ValueError(f"threads={cfg.threads} must be 0 (auto) or more")
    if cfg.parallel_frames < 0:
        raise ValueError(f"parallel_frames={cfg.parallel_frames} must be 0 (auto) or more")
    check_device(cfg.device)
    if cfg.half and cfg.device == "cpu":
        raise ValueError(
            "half=true needs a CUDA device: FP16 inference runs only on CUDA (on the CPU it would be "
            "slower, and Ultralytics would silently run FP32); set half:=false or device:=cuda:0"
        )


def resolve_model_path(model: str) -> Path:
    """Return an existing model path, or raise ModelError saying what to do."""
    path = Path(model).expanduser() if model else default_model_path()
    if not path.exists():
        raise ModelError(
            f"model file not found: {path}. Set the 'model' parameter to a .pt/.onnx file or an "
            f"OpenVINO folder (e.g. one written by face-expression-train), or leave it empty for the "
            f"bundled model."
        )
    is_openvino = path.is_dir() and path.name.endswith(OPENVINO_DIR_SUFFIX)
    if not is_openvino and (path.is_dir() or path.suffix not in MODEL_SUFFIXES):
        raise ModelError(
            f"unsupported model file: {path}. Use an Ultralytics detect model: a .pt checkpoint, an "
            f".onnx export or a '*{OPENVINO_DIR_SUFFIX}' folder."
        )
    return path


def is_bundled_model(model: Path) -> bool:
    """The bundled starter model, a copy of it or an export of it (face-expression-export keeps the name)."""
    return model.name.startswith(Path(DEFAULT_MODEL_NAME).stem)


def resolve_classifier_path(value: str, model: Path) -> Path | None:
    """The expression classifier to load for ``model`` (None: no second stage); ModelError says what to do.

    ``auto`` is the bundled classifier for the bundled starter model (whose own expressions it
    corrects: benchmarks/results/accuracy.md), and none for any other model.
    """
    value = value.strip()
    if value == CLASSIFIER_AUTO:
        value = CLASSIFIER_BUNDLED if is_bundled_model(model) else CLASSIFIER_OFF
    if value == CLASSIFIER_OFF:
        return None
    path = bundled_expression_classifier_path() if value == CLASSIFIER_BUNDLED else Path(value).expanduser()
    fix = (
        f"Set 'expression_classifier' to an .onnx expression classifier, '{CLASSIFIER_BUNDLED}' for the "
        f"bundled one, '{CLASSIFIER_AUTO}' (the bundled one for the bundled model only) or '' to turn the "
        "second stage off."
    )
    if not path.exists():
        raise ModelError(f"expression classifier not found: {path}. {fix}")
    if path.is_dir() or path.suffix != ".onnx":
        raise ModelError(f"unsupported expression classifier: {path} is not an .onnx file. {fix}")
    return path
