"""Every access to Ultralytics internals, in one module, checked against the versions it was written for.

The engine needs more than Ultralytics' public ``YOLO`` API offers: a backend it can feed its own
letterboxed tensors (AutoBackend), the exported model's metadata, the ONNX Runtime session and the
OpenVINO compiled model (to set threads and precision), and the file-name rewrite that turns
``*yolov5n.pt`` into ``*yolov5nu.pt``. All of that lives here and nowhere else, so an Ultralytics
upgrade is checked in one place.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from face_expression.engine import offline
from face_expression.engine.config import ModelError
from face_expression.engine.devices import torch_device
from face_expression.engine.lean_runtime import compile_openvino, onnx_cpu_session

#: Ultralytics releases this module was written and tested against (tested: 8.4.190).
SUPPORTED_ULTRALYTICS = ((8, 4), (8, 5))  # [from, to)


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split(".")[:2] if p.isdigit())


def version_problem() -> str | None:
    """A clear sentence when the installed Ultralytics is outside the supported range, else None."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("ultralytics")
    except PackageNotFoundError:
        return "ultralytics is not installed: pip install -r requirements-runtime.txt"
    low, high = SUPPORTED_ULTRALYTICS
    if not low <= _version_tuple(found) < high:
        return (
            f"ultralytics {found} is outside the tested range {'.'.join(map(str, low))}.x; face_expression "
            f"uses some of its internals (engine/backends.py): install ultralytics=={low[0]}.{low[1]}.* "
            "(requirements-runtime.txt) if loading or inference fails"
        )
    return None


@contextlib.contextmanager
def loadable_name(path: str | Path) -> Iterator[str]:
    """A name for ``path`` that Ultralytics loads as it is.

    Ultralytics rewrites any ``*yolov5n.pt`` path without a letter "u" to ``*yolov5nu.pt`` and
    then tries to download that official file. Such a path is handed over as a link in a folder
    whose name has a "u"; the user's file is never touched.
    """
    offline.prepare_environment()
    from ultralytics.utils.checks import check_yolov5u_filename

    path = Path(path)
    name = str(path)
    if path.suffix != ".pt" or check_yolov5u_filename(name, verbose=False) == name:
        yield name
        return
    with tempfile.TemporaryDirectory(prefix="face_expression_unaltered_") as tmp:
        link = Path(tmp) / path.name
        link.symlink_to(path.resolve())
        yield str(link)


def read_export_metadata(path: Path) -> dict:
    """The metadata Ultralytics wrote into an exported model (imgsz, names, task, ...)."""
    offline.prepare_environment()
    from ultralytics.nn.backends.base import BaseBackend

    return BaseBackend.read_metadata(path)


def explain_load_failure(path: Path, exc: BaseException) -> ModelError:
    """One clear sentence for any exception a model load raised."""
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


def use_compiled_openvino(yolo, xml: Path, precision: str) -> None:
    """Make a ``YOLO`` object that already predicted once run a model compiled with ``precision``."""
    inner = yolo.predictor.model.backend
    inner.ov_compiled_model = compile_openvino(xml, precision=precision)


class Backend:
    """An Ultralytics AutoBackend for one model file, seen through the few things the engine needs."""

    uses_ultralytics = True

    def __init__(self, path: Path, device: str, half: bool) -> None:
        offline.disable_sync()
        import torch
        from ultralytics.nn.autobackend import AutoBackend

        self.path = path
        try:
            with loadable_name(path) as name:
                self._auto = AutoBackend(
                    model=name, device=torch.device(torch_device(device)), fp16=half, fuse=True, verbose=False
                )
        except Exception as exc:  # every failure becomes one clear message
            raise explain_load_failure(path, exc) from exc
        task = self.task
        if task != "detect":
            raise ModelError(
                f"model {path} is a '{task}' model; face_expression needs an Ultralytics 'detect' model "
                "(train one with face-expression-train)."
            )
        self._auto.eval()

    @property
    def task(self) -> str | None:
        auto = self._auto
        task = getattr(auto, "task", None) or auto.metadata.get("task")
        if not task and auto.format == "pt":
            from ultralytics.nn.tasks import guess_model_task

            task = guess_model_task(auto.backend.model)
        return task

    @property
    def names(self) -> dict[int, str]:
        return {int(k): str(v) for k, v in self._auto.names.items()}

    @property
    def format(self) -> str:
        return str(self._auto.format)

    @property
    def stride(self) -> int:
        return int(self._auto.stride)

    @property
    def device(self):
        return self._auto.device

    @property
    def fp16(self) -> bool:
        return bool(self._auto.fp16)

    def fixed_input_shape(self) -> tuple[int, int] | None:
        """(h, w) for exported models (ONNX, OpenVINO), which take the shape they were exported at."""
        meta = self._auto.metadata
        if self.format == "pt" or meta.get("dynamic"):
            return None
        imgsz = meta.get("imgsz")
        if not imgsz:
            return None
        return (imgsz, imgsz) if isinstance(imgsz, int) else (int(imgsz[0]), int(imgsz[1]))

    def trained_imgsz(self) -> int | None:
        """The size the model was trained at, from its training arguments or metadata."""
        model = getattr(self._auto.backend, "model", None)
        trained = getattr(model, "args", {}).get("imgsz") if model is not None else None
        trained = trained or self._auto.metadata.get("imgsz")
        if isinstance(trained, (list, tuple)):
            trained = max(trained)
        return int(trained) if isinstance(trained, int) and trained >= 32 and trained % 32 == 0 else None

    def tune_cpu_runtime(self, threads: int) -> None:
        """Rebuild the ONNX Runtime session / OpenVINO compiled model for the CPU we share."""
        inner = self._auto.backend
        if self.format == "onnx" and getattr(inner, "session", None) is not None:
            if inner.session.get_providers()[0] != "CPUExecutionProvider":
                return
            model_file = next(self.path.glob("*.onnx")) if self.path.is_dir() else self.path
            inner.session = onnx_cpu_session(model_file, threads)
        elif self.format == "openvino" and getattr(inner, "ov_compiled_model", None) is not None:
            xml = next(self.path.glob("*.xml")) if self.path.is_dir() else self.path
            inner.ov_compiled_model = compile_openvino(xml, threads)

    def onnx_session_config(self, key: str) -> str | None:
        """A config entry of the ONNX Runtime session (None for other formats)."""
        session = getattr(self._auto.backend, "session", None)
        return session.get_session_options().get_session_config_entry(key) if session is not None else None

    def __call__(self, tensor):
        """Raw predictions for a 1x3xHxW tensor, ready for :meth:`nms`."""
        return self._auto(tensor)

    def nms(self, preds, conf: float, iou: float, agnostic: bool, max_det: int):
        """Ultralytics' NMS, one image: an Nx6 tensor (x1, y1, x2, y2, score, class) in input pixels."""
        from ultralytics.utils.nms import non_max_suppression

        end2end = bool(getattr(self._auto, "end2end", False))
        return non_max_suppression(preds, conf, iou, agnostic=agnostic, max_det=max_det, end2end=end2end)[0]
