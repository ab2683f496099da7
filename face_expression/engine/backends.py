"""Every access to Ultralytics internals, in one module, checked against the versions it was written for.

The engine needs more than Ultralytics' public ``YOLO`` API offers: a backend it can feed its own
letterboxed tensors (AutoBackend), the exported model's metadata, the ONNX Runtime session and the
OpenVINO compiled model (to set threads and precision), and the file-name rewrite that turns
``*yolov5n.pt`` into ``*yolov5nu.pt``. All of that lives here and nowhere else, so an Ultralytics
upgrade is checked in one place.

Model files are untrusted input: a ``.pt`` is a pickle, which can run code as it loads. Every
``.pt`` is therefore loaded through Ultralytics' restricted loader (torch ``weights_only`` plus an
allow-list of model classes; see :func:`checkpoint_policy`) unless the user opts in to full
unpickling for a file they trust.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import re
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

from face_expression.engine import offline
from face_expression.engine.config import ModelError, runtime_failure
from face_expression.engine.devices import torch_device
from face_expression.engine.lean_runtime import compile_openvino, onnx_cpu_session
from face_expression.engine.model_card import check_card

#: Ultralytics releases this module was written and tested against (tested: 8.4.190).
SUPPORTED_ULTRALYTICS = ((8, 4), (8, 5))  # [from, to)

#: Environment switch that allows full (code-running) unpickling of .pt files, for every tool.
UNSAFE_LOAD_ENV = "FACE_EXPRESSION_ALLOW_UNSAFE_MODEL_LOAD"
_TRUE = ("1", "true", "yes", "on")
_policy_lock = threading.RLock()  # the policy is one Ultralytics global: loads under it take turns


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


def unsafe_load_allowed(explicit: bool = False) -> bool:
    """True when full unpickling was asked for: ``explicit`` (a node parameter) or the environment switch."""
    return explicit or os.environ.get(UNSAFE_LOAD_ENV, "").strip().lower() in _TRUE


@contextlib.contextmanager
def checkpoint_policy(allow_unsafe: bool = False) -> Iterator[None]:
    """Every Ultralytics ``.pt`` load inside this block is restricted, unless unsafe loading is allowed.

    Restricted means Ultralytics' own safe loader (``ULTRALYTICS_SAFE_LOAD``): ``torch.load`` with
    ``weights_only=True`` and an allow-list of the Ultralytics/torch model classes a checkpoint
    needs, and models built from their yaml without ``eval``. A pickle that names anything else
    (``os.system``, ``builtins.exec``, ...) is refused before it runs. Ultralytics reads its switch
    once at import, so the module global it consults is set here for the duration of the block
    (under a lock, as it is process-wide). Where the restricted loader is missing the load is
    refused rather than done unsafely.
    """
    offline.prepare_environment()
    from ultralytics.nn import tasks

    safe = not unsafe_load_allowed(allow_unsafe)
    safe_loader = getattr(tasks, "_SafeLoad", None)
    if safe and not (hasattr(tasks, "SAFE_LOAD") and getattr(safe_loader, "SUPPORTED", False)):
        raise ModelError(
            "this torch/Ultralytics has no restricted .pt loader (needs torch >= 2.6 and ultralytics 8.4), "
            "so "
            ".pt files cannot be loaded safely: use an .onnx or OpenVINO export, or allow unsafe loading "
            f"for a file you trust (allow_unsafe_model_load:=true or {UNSAFE_LOAD_ENV}=1)"
        )
    with _policy_lock:
        saved = tasks.SAFE_LOAD
        tasks.SAFE_LOAD = safe
        try:
            yield
        finally:
            tasks.SAFE_LOAD = saved


@contextlib.contextmanager
def yolo_model(path: Path, task: str | None = None) -> Iterator:
    """Ultralytics' ``YOLO`` for a model file (use inside :func:`checkpoint_policy`); failures -> ModelError.

    The name :func:`loadable_name` may link lives as long as the block: training reloads from it.
    """
    from ultralytics import YOLO

    check_card(path)
    with loadable_name(path) as name:
        try:
            model = YOLO(name, task=task)
        except Exception as exc:
            raise explain_load_failure(path, exc) from exc
        yield model


def read_export_metadata(path: Path) -> dict:
    """The metadata Ultralytics wrote into an exported model (imgsz, names, task, ...)."""
    offline.prepare_environment()
    from ultralytics.nn.backends.base import BaseBackend

    return BaseBackend.read_metadata(path)


def explain_load_failure(path: Path, exc: BaseException) -> ModelError:
    """One clear sentence for any exception a model load raised."""
    text = str(exc)
    refused = _refused_global(exc)
    original_yolov5 = refused is not None and refused.startswith("models.")
    if (
        original_yolov5
        or "yolov5" in text.lower()
        or (isinstance(exc, ModuleNotFoundError) and exc.name == "models")
    ):
        return ModelError(
            f"cannot load {path}: it is a checkpoint from the original ultralytics/yolov5 repository, "
            "which the ultralytics package cannot read. Retrain with face-expression-train (it builds "
            "YOLOv5 from yolov5n.yaml/yolov5s.yaml) or convert the data set and train anew."
        )
    if refused is not None:
        return ModelError(
            f"refused to load {path}: its pickle names {refused}, which no plain Ultralytics "
            "checkpoint needs. A .pt file is a pickle and can run code as it loads; face_expression loads "
            "plain Ultralytics checkpoints only. Export the model to ONNX/OpenVINO where it was trained, "
            "or, only for a file you trust, set allow_unsafe_model_load:=true "
            f"({UNSAFE_LOAD_ENV}=1 for the command-line tools)."
        )
    return ModelError(
        f"cannot load model {path}: {runtime_failure(exc)}. The file is corrupt, truncated or not an "
        "Ultralytics model; re-export or retrain it."
    )


def _refused_global(exc: BaseException) -> str | None:
    """The global the restricted loader refused ('exec', 'models.yolo.DetectionModel'), else None.

    torch's weights_only unpickler names it in the pickle.UnpicklingError that Ultralytics chains
    under its own TypeError; a file that is no pickle at all fails without naming one.
    """
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, pickle.UnpicklingError):
            found = re.search(r"Unsupported global: GLOBAL (\S+)", str(seen))
            if found:
                return found.group(1)
        seen = seen.__cause__ or seen.__context__
    return None


def _architecture_task(model) -> str | None:
    """The task of a PyTorch model from its own architecture (its yaml's head, else its modules).

    Not from ``model.args``, which Ultralytics' ``guess_model_task`` reads first: ``load_checkpoint``
    fills it from its defaults (``task: detect``) when the checkpoint has no training arguments,
    as a model saved straight from a classify/segment/pose yaml does.
    """
    import torch
    from ultralytics.nn.tasks import guess_model_task

    cfg = getattr(model, "yaml", None)
    if isinstance(cfg, dict):
        with contextlib.suppress(Exception):
            task = guess_model_task(cfg)
            if task:
                return task
    with contextlib.suppress(Exception):  # wrapped: no .args/.yaml in reach, so its modules decide
        return guess_model_task(torch.nn.ModuleList([model]))
    return None


def use_compiled_openvino(yolo, xml: Path, precision: str) -> None:
    """Make a ``YOLO`` object that already predicted once run a model compiled with ``precision``."""
    inner = yolo.predictor.model.backend
    inner.ov_compiled_model = compile_openvino(xml, precision=precision)


class Backend:
    """An Ultralytics AutoBackend for one model file, seen through the few things the engine needs."""

    uses_ultralytics = True

    def __init__(self, path: Path, device: str, half: bool, allow_unsafe: bool = False) -> None:
        self.path = path
        self.sha256 = check_card(path)  # before anything is unpickled
        offline.disable_sync()
        import torch
        from ultralytics.nn.autobackend import AutoBackend

        try:
            with checkpoint_policy(allow_unsafe), loadable_name(path) as name:
                self._auto = AutoBackend(
                    model=name, device=torch.device(torch_device(device)), fp16=half, fuse=True, verbose=False
                )
        except ModelError:
            raise
        except Exception as exc:  # every failure becomes one clear message
            raise explain_load_failure(path, exc) from exc
        task = self.task
        if task != "detect":
            raise ModelError(
                f"model {path} is a '{task or 'unknown'}' model; face_expression needs an Ultralytics "
                "'detect' "
                "model (train one with face-expression-train)."
            )
        self._auto.eval()

    @property
    def task(self) -> str | None:
        """What the model does: its architecture's head for .pt, the exported metadata otherwise."""
        auto = self._auto
        if auto.format == "pt":
            return _architecture_task(auto.backend.model)
        return auto.metadata.get("task") or getattr(auto, "task", None)

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

    @property
    def runtime(self) -> str:
        """What runs the model, for /diagnostics."""
        return f"Ultralytics AutoBackend ({self.format})"

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
