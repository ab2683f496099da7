"""The inference engine: load an Ultralytics detect model once, turn BGR frames into detections.

Kept apart from ROS so the same engine serves the node, the demo, evaluation and benchmarks.
Pre- and post-processing are done here (letterbox into a reused buffer, one NMS call, boxes
mapped back to camera pixels) around Ultralytics' AutoBackend, which runs .pt, .onnx and
OpenVINO models alike.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from face_expression.core.detections import Detection, to_detections
from face_expression.core.geometry import Letterbox
from face_expression.core.resources import default_model_path, ultralytics_loadable
from face_expression.engine import offline

# Idle OpenMP threads (PyTorch's pool) sleep instead of spinning. On a small CPU shared with a
# camera driver, DDS and other nodes, spinning threads starve them: YOLOv5n at 320 with 2 threads
# took ~100 ms per frame with spinning and ~30 ms without on a loaded 2-core machine. Read when
# torch loads, so it must be set before the first ``import torch``; an explicit setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

MODEL_SUFFIXES = (".pt", ".onnx")
OPENVINO_DIR_SUFFIX = "_openvino_model"
_DEVICE_RE = re.compile(r"^(cpu|cuda|cuda:\d+|\d+)$")


class ModelError(RuntimeError):
    """A model that cannot be used; the message names the file and the fix."""


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
        raise ValueError(f"threads={cfg.threads} must be 0 (all cores) or more")
    check_device(cfg.device)


def check_device(device: str) -> None:
    """Reject device strings Ultralytics would not understand, and CUDA where there is none."""
    if not _DEVICE_RE.match(device):
        raise ValueError(f"device={device!r} is unknown; use 'cpu', 'cuda', 'cuda:N' or 'N'")
    if device != "cpu":
        import torch

        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} requested but no CUDA device is available; use 'cpu'")
        index = int(device.split(":")[1]) if ":" in device else (int(device) if device.isdigit() else 0)
        if index >= torch.cuda.device_count():
            raise ValueError(f"device={device!r}: only {torch.cuda.device_count()} CUDA device(s) present")


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


def _explain_load_failure(path: Path, exc: BaseException) -> ModelError:
    text = str(exc)
    if "yolov5" in text.lower() or (isinstance(exc, ModuleNotFoundError) and exc.name == "models"):
        return ModelError(
            f"cannot load {path}: it is a checkpoint from the original ultralytics/yolov5 repository, "
            "which the ultralytics package cannot read. Retrain with face-expression-train (it builds "
            "YOLOv5 from yolov5n.yaml/yolov5s.yaml) or convert the data set and train anew."
        )
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return ModelError(
        f"cannot load model {path}: {first[:300]}. The file is corrupt, truncated or not an "
        "Ultralytics model; re-export or retrain it."
    )


class ExpressionDetector:
    """Loads a model once and detects faces with their expression in BGR frames."""

    def __init__(self, cfg: InferenceConfig) -> None:
        check_config(cfg)
        self.cfg = cfg
        self.path = resolve_model_path(cfg.model)
        self._backend = self._load(self.path)
        self.names: dict[int, str] = {int(k): str(v) for k, v in self._backend.names.items()}
        self._fixed_hw = self._fixed_input_shape()
        self._letterbox: Letterbox | None = None
        self._buffer: np.ndarray | None = None
        self._rgb: np.ndarray | None = None
        self._input: np.ndarray | None = None  # float32 model input, reused across frames
        self._runtime_threads: int | None = None
        self._set_threads()

    # -- loading ---------------------------------------------------------------------------
    def _load(self, path: Path):
        import torch
        from ultralytics.nn.autobackend import AutoBackend

        offline.disable_sync()
        try:
            device = torch.device("cpu" if self.cfg.device == "cpu" else _torch_device(self.cfg.device))
            with ultralytics_loadable(path) as name:
                backend = AutoBackend(model=name, device=device, fp16=self.cfg.half, fuse=True, verbose=False)
        except Exception as exc:  # every failure becomes one clear message
            raise _explain_load_failure(path, exc) from exc
        task = getattr(backend, "task", None) or backend.metadata.get("task")
        if not task and backend.format == "pt":
            from ultralytics.nn.tasks import guess_model_task

            task = guess_model_task(backend.backend.model)
        if task != "detect":
            raise ModelError(
                f"model {path} is a '{task}' model; face_expression needs an Ultralytics 'detect' model "
                "(train one with face-expression-train)."
            )
        backend.eval()
        return backend

    def _fixed_input_shape(self) -> tuple[int, int] | None:
        """Exported models (ONNX, OpenVINO) take the shape they were exported at."""
        if self._backend.format == "pt" or self._backend.metadata.get("dynamic"):
            return None
        imgsz = self._backend.metadata.get("imgsz")
        if not imgsz:
            return None
        h, w = (imgsz, imgsz) if isinstance(imgsz, int) else (int(imgsz[0]), int(imgsz[1]))
        return h, w

    @property
    def imgsz(self) -> int:
        """The inference size in use: the configured one, else the model's training size, else 640."""
        if self.cfg.imgsz:
            return self.cfg.imgsz
        if self._fixed_hw is not None:
            return max(self._fixed_hw)
        args = getattr(getattr(self._backend, "backend", None), "model", None)
        trained = getattr(args, "args", {}).get("imgsz") if args is not None else None
        trained = trained or self._backend.metadata.get("imgsz")
        if isinstance(trained, (list, tuple)):
            trained = max(trained)
        return int(trained) if isinstance(trained, int) and trained >= 32 and trained % 32 == 0 else 640

    def _set_threads(self) -> None:
        import torch

        if self.cfg.device != "cpu":
            return
        threads = self.cfg.threads or os.cpu_count() or 1
        torch.set_num_threads(threads)
        if threads != self._runtime_threads and self.format in ("onnx", "openvino"):
            self._tune_runtime(threads)
        self._runtime_threads = threads

    def _tune_runtime(self, threads: int) -> None:
        """Rebuild the ONNX Runtime session / OpenVINO compiled model for the CPU we share.

        Ultralytics' defaults let ONNX Runtime's idle threads spin: on a loaded 2-core CPU that
        took YOLOv5n at 640 from ~30 ms to ~80-100 ms per frame. ``OMP_WAIT_POLICY=ACTIVE`` turns
        spinning back on (a few ms faster on an otherwise idle CPU). OpenVINO gets the thread count
        and the inference precision that face-expression-export stored in the model.
        """
        inner = self._backend.backend
        if self.format == "onnx" and getattr(inner, "session", None) is not None:
            import onnxruntime as ort

            if inner.session.get_providers()[0] != "CPUExecutionProvider":
                return
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            spin = os.environ.get("OMP_WAIT_POLICY", "").upper() == "ACTIVE"  # same switch as OpenMP's
            options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
            model_file = next(self.path.glob("*.onnx")) if self.path.is_dir() else self.path
            inner.session = ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
        elif self.format == "openvino" and getattr(inner, "compile_model", None) is not None:
            import openvino as ov

            xml = next(self.path.glob("*.xml")) if self.path.is_dir() else self.path
            model = ov.Core().read_model(str(xml))
            config: dict[str, object] = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads}
            key = ["runtime_options", "INFERENCE_PRECISION_HINT"]
            if model.has_rt_info(key):  # written by face-expression-export --ov-precision
                config["INFERENCE_PRECISION_HINT"] = model.get_rt_info(key).astype(str)
            inner.ov_compiled_model = inner.compile_model(model, config=config)

    @property
    def format(self) -> str:
        return str(self._backend.format)

    #: Settings that need the model loaded again when they change.
    RELOAD_FIELDS = ("model", "device", "half")

    def needs_reload(self, cfg: InferenceConfig) -> bool:
        return any(getattr(cfg, f) != getattr(self.cfg, f) for f in self.RELOAD_FIELDS)

    def update(self, cfg: InferenceConfig) -> None:
        """Apply settings that need no reload (thresholds, imgsz, max_det, threads)."""
        if self.needs_reload(cfg):
            raise ValueError("model, device or half changed: build a new ExpressionDetector")
        check_config(cfg)
        if cfg.imgsz != self.cfg.imgsz:
            self._letterbox = None
        self.cfg = cfg
        self._set_threads()

    # -- inference -------------------------------------------------------------------------
    def input_geometry(self, width: int, height: int) -> Letterbox:
        """The letterbox for a source size, cached while the camera size stays the same."""
        lb = self._letterbox
        if lb is None or (lb.src_w, lb.src_h) != (width, height):
            if self._fixed_hw is not None:
                lb = Letterbox.fit(width, height, self._fixed_hw[1], self._fixed_hw[0])
            else:
                lb = Letterbox.for_imgsz(width, height, self.imgsz, int(self._backend.stride))
            self._letterbox = lb
        return lb

    def __call__(self, image_bgr: np.ndarray) -> list[Detection]:
        """Detect faces in an HxWx3 uint8 BGR image; boxes come back in its pixels."""
        import cv2
        import torch
        from ultralytics.utils.nms import non_max_suppression

        h, w = image_bgr.shape[:2]
        lb = self.input_geometry(w, h)
        self._buffer = lb.apply(image_bgr, self._buffer)
        if self._rgb is None or self._rgb.shape != self._buffer.shape:
            self._rgb = np.empty_like(self._buffer)
        cv2.cvtColor(self._buffer, cv2.COLOR_BGR2RGB, dst=self._rgb)  # Ultralytics models are trained on RGB
        backend = self._backend
        with torch.inference_mode():
            if str(backend.device) == "cpu" and not backend.fp16:
                tensor = self._cpu_input(self._rgb)
            else:  # upload bytes, convert on the GPU
                tensor = torch.from_numpy(self._rgb).to(backend.device).permute(2, 0, 1).unsqueeze(0)
                tensor = (tensor.half() if backend.fp16 else tensor.float()).div_(255.0)
            preds = backend(tensor)
            out = non_max_suppression(
                preds,
                self.cfg.conf_threshold,
                self.cfg.iou_threshold,
                agnostic=self.cfg.agnostic_nms,
                max_det=self.cfg.max_det,
                end2end=bool(getattr(backend, "end2end", False)),
            )[0]
        if out.shape[0] == 0:
            return []
        det = out.float().cpu().numpy()
        return to_detections(lb.undo(det[:, :4]), det[:, 4], det[:, 5], self.names)

    def _cpu_input(self, rgb: np.ndarray):
        """Scale an RGB uint8 image into a reused float32 buffer; the tensor shares its memory.

        PyTorch models run channels-last on the CPU, so they get an NHWC buffer viewed as NCHW;
        ONNX Runtime and OpenVINO read a contiguous NCHW array. Plain numpy keeps PyTorch's
        thread pool out of the pre-processing of exported models.
        """
        import torch

        h, w = rgb.shape[:2]
        channels_last = self.format == "pt"
        shape = (1, h, w, 3) if channels_last else (1, 3, h, w)
        if self._input is None or self._input.shape != shape:
            self._input = np.empty(shape, dtype=np.float32)
        src = rgb if channels_last else rgb.transpose(2, 0, 1)
        np.multiply(src, np.float32(1.0 / 255.0), out=self._input[0])
        tensor = torch.from_numpy(self._input)
        return tensor.permute(0, 3, 1, 2) if channels_last else tensor


def _torch_device(device: str) -> str:
    return f"cuda:{device}" if device.isdigit() else device
