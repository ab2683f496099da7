"""The inference engine: load a detect model once, turn BGR frames into detections.

Kept apart from ROS so the same engine serves the node, the demo, evaluation and benchmarks.
Pre- and post-processing are ours (letterbox into a reused buffer, one NMS call, boxes mapped
back to camera pixels) around a backend: exported models (.onnx, OpenVINO) on the CPU run on
their own runtime without torch or Ultralytics (engine/lean_runtime.py, core/yolo_decode.py);
.pt checkpoints, and exports on a GPU, run on Ultralytics' AutoBackend (engine/backends.py).
An optional second stage (engine/expression_classifier.py) then re-labels each face's expression.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from face_expression.core import heap
from face_expression.core.detections import Detection, to_detections
from face_expression.core.geometry import Letterbox, too_small
from face_expression.core.per_thread import PerThread
from face_expression.core.shape_gate import ShapeGate
from face_expression.core.yolo_decode import decode_detect_head
from face_expression.engine import offline
from face_expression.engine.backends import Backend
from face_expression.engine.config import (
    InferenceConfig,
    ModelError,
    check_config,
    frames_at_once,
    needs_reload,
    resolve_classifier_path,
    resolve_model_path,
)
from face_expression.engine.expression_classifier import ExpressionClassifier, refined_class_ids
from face_expression.engine.lean_runtime import LeanBackend, exported_format
from face_expression.engine.model_card import card_imgsz, check_card

#: Which backend runs a model: auto = lean for exports on the CPU, else Ultralytics.
RUNTIMES = ("auto", "lean", "ultralytics")


@dataclass
class _Buffers:
    """One calling thread's reused arrays: letterboxed BGR, RGB and the float32 model input."""

    bgr: np.ndarray | None = None
    rgb: np.ndarray | None = None
    input: np.ndarray | None = None


class ExpressionDetector:
    """Loads a model once and detects faces with their expression in BGR frames.

    Calls from several threads at once are safe where :attr:`thread_safe` says so (the lean
    runtime, and PyTorch on the CPU): each thread has its own buffers. Settings changes
    (:meth:`update`) must not overlap a call (engine/hot_swap.py takes care of that).
    """

    def __init__(self, cfg: InferenceConfig, runtime: str = "auto") -> None:
        """``runtime``: auto, lean (exports on the CPU without torch) or ultralytics (AutoBackend)."""
        check_config(cfg)
        offline.prepare_environment()
        self.cfg = cfg
        self.path: Path = resolve_model_path(cfg.model)
        # a bad classifier setting is refused before the model loads
        classifier_path = resolve_classifier_path(cfg.expression_classifier, self.path)
        # the small classifier first: a bad file is refused before the detector takes its memory
        self.classifier: ExpressionClassifier | None = (
            self._open_classifier(classifier_path) if classifier_path else None
        )
        self._backend = self._open_backend(runtime)
        self.names: dict[int, str] = self._backend.names
        self._refined_ids = refined_class_ids(self.names) if self.classifier else None
        self._fixed_hw = self._backend.fixed_input_shape()
        self._card_imgsz = card_imgsz(self.path)
        self._letterbox: Letterbox | None = None
        # reused across frames; one set per calling thread where frames run at once
        self._buffers = PerThread(_Buffers, per_thread=self.thread_safe)
        self._shapes = ShapeGate()  # PyTorch frames at once: one input shape at a time
        self._runtime_threads: int | None = None
        self._torch_threads = 1  # per calling thread: PyTorch's thread count is the caller's own
        self._set_threads()

    def _open_classifier(self, path: Path) -> ExpressionClassifier:
        """On OpenVINO beside an OpenVINO model (ONNX Runtime loaded beside it cost ~20 MB more),
        else as ``auto`` says; also where that OpenVINO cannot read the file (a distro's openvino
        without its ONNX reader): a corrupt file is then refused by the second try."""
        if exported_format(self.path) == "openvino":
            try:
                return ExpressionClassifier(path, self._threads(), "openvino")
            except ModelError:
                pass
        return ExpressionClassifier(path, self._threads())

    def _open_backend(self, runtime: str) -> Backend | LeanBackend:
        if runtime not in RUNTIMES:
            raise ValueError(f"runtime={runtime!r} is unknown; use one of {', '.join(RUNTIMES)}")
        cfg = self.cfg
        lean_fits = exported_format(self.path) is not None and cfg.device == "cpu"
        if runtime == "lean" and not lean_fits:
            raise ValueError(f"the lean runtime runs .onnx and OpenVINO models on the cpu, not {self.path}")
        if runtime == "lean" or (runtime == "auto" and lean_fits):
            check_card(self.path)  # the lean runtime unpickles nothing, but a card must still match
            return LeanBackend(self.path, self._threads(), self._crowded_threads())
        return Backend(self.path, cfg.device, cfg.half, cfg.allow_unsafe_model_load)

    @property
    def backend(self) -> Backend | LeanBackend:
        return self._backend

    @property
    def uses_ultralytics(self) -> bool:
        """False on the lean runtime: neither torch nor Ultralytics is imported for this model."""
        return self._backend.uses_ultralytics

    @property
    def thread_safe(self) -> bool:
        """Whether frames may be detected on several threads at once.

        ONNX Runtime sessions and OpenVINO compiled models (one infer request per thread) take
        concurrent calls, overlapping ones with the threads split between them (ONNX Runtime: a
        second session; OpenVINO: a model with streams in place of the low-latency one while
        frames come faster than it answers them; engine/lean_runtime.py). A PyTorch model on the
        CPU does too: the engine calls the module itself (not Ultralytics' predictor, which is not
        thread-safe), frames of one input shape at a time (core/shape_gate.py). Each thread then
        runs on its own cores: on 2 cores two frames at once on 1 thread each made 61-69 frames/s
        against 32-37 for one at a time (YOLOv5n at 320; benchmarks/results/realtime.md).
        Other models on Ultralytics' backends (exports on a GPU) and CUDA take one frame at a time.
        """
        return not self.uses_ultralytics or (self.format == "pt" and self.cfg.device == "cpu")

    @property
    def parallel_frames(self) -> int:
        """Frames a caller may detect at once: the setting, 0 = 2 where :attr:`thread_safe`, else 1."""
        return frames_at_once(self.cfg.parallel_frames) if self.thread_safe else 1

    @property
    def format(self) -> str:
        return self._backend.format

    @property
    def imgsz(self) -> int:
        """The inference size in use: the configured one, else the model's own (``native_imgsz``)."""
        return self.cfg.imgsz or self.native_imgsz

    @property
    def native_imgsz(self) -> int:
        """The size the model was made for: an export's shape, else its card's, its training size, 640."""
        if self._fixed_hw is not None:
            return max(self._fixed_hw)
        return self._card_imgsz or self._backend.trained_imgsz() or 640

    def frame_imgsz(self, width: int, height: int) -> int:
        """The inference size for one frame: ``imgsz``, but without enlarging the frame for nothing.

        Unless ``upscale`` is set, a frame smaller than ``imgsz`` is letterboxed to its own size
        (rounded up to the stride) or the model's native size, whichever is larger: enlarging a
        512x512 frame to imgsz 4096 adds no detail, only seconds and hundreds of MB per frame.
        """
        size = self.imgsz
        if self.cfg.upscale:
            return size
        stride = self._backend.stride
        own = math.ceil(max(width, height) / stride) * stride
        return min(size, max(own, self.native_imgsz))

    def imgsz_notice(self) -> str | None:
        """A warning with the cost when ``imgsz`` exceeds the model's native size (None otherwise)."""
        size, native = self.cfg.imgsz, self.native_imgsz
        if self._fixed_hw is not None or not size or size <= native:
            return None
        work = (size / native) ** 2
        if self.cfg.upscale:
            return (
                f"imgsz {size} with upscale: every frame is enlarged to {size} px on its long side, about "
                f"{work:.0f}x the work and memory of the model's native {native} px per frame (imgsz 4096 "
                "took "
                "3-6 s and +0.85 GB per frame on a CPU); set upscale:=false to stop at the frame's own size"
            )
        return (
            f"imgsz {size} is above the model's native {native} px: frames larger than {native} px are "
            "inferred "
            f"at up to {size} px, up to about {work:.0f}x the work and memory per frame; smaller frames are "
            "not "
            "enlarged past their own size (upscale:=true would)"
        )

    @property
    def refines_expressions(self) -> bool:
        """True when the second stage re-labels this model's faces (configured, and classes neutral/smile)."""
        return self._refined_ids is not None

    def classifier_notice(self) -> str | None:
        """A warning when a classifier is configured but cannot refine this model's classes (else None)."""
        if self.classifier is None or self.refines_expressions:
            return None
        return (
            f"expression_classifier {self.classifier.path} is not applied: it refines a detector whose "
            f"classes are exactly neutral and smile, and {self.path.name} has {list(self.names.values())}; "
            "labels stay the detector's. Set expression_classifier:='' to silence this."
        )

    @property
    def threads(self) -> int:
        """CPU threads per frame (ONNX Runtime: a frame alone; PyTorch: split by frames at once)."""
        return self._threads()

    def _threads(self) -> int:
        """``threads``, or 0 = all cores for exports and all but one for .pt models (PyTorch).

        PyTorch leaves a core to the camera driver and DDS (Ultralytics' CPU default, up to 8, too):
        on 2 cores its 1 thread answered 33-35 frames/s beside a 60 Hz camera process against 21-25 with
        2, and 32-39 against 24-28 without the camera (imgsz 320, benchmarks/results/realtime.md). ONNX
        Runtime and OpenVINO are faster on all cores (82 against 54 and 145 against 99 frames/s).
        """
        if self.cfg.threads:
            return self.cfg.threads
        cores = os.cpu_count() or 1
        return max(1, cores - 1) if self.path.suffix == ".pt" else cores

    def _crowded_threads(self) -> int:
        """Threads per frame while several run at once: the cores split between them."""
        return max(1, self._threads() // frames_at_once(self.cfg.parallel_frames))

    def _set_threads(self) -> None:
        threads = self._threads()
        if self.classifier is not None:  # always on the CPU, also beside a CUDA detector
            self.classifier.tune_cpu_runtime(threads)
        if self.cfg.device != "cpu":
            return
        if not self.uses_ultralytics:  # rebuilds only when a count changed
            self._backend.tune_cpu_runtime(threads, self._crowded_threads())
            return
        # frames at once share the cores; each calling thread sets its own count (_torch_threads_here)
        self._torch_threads = self._crowded_threads() if self.parallel_frames > 1 else threads
        if threads != self._runtime_threads and self.format in ("onnx", "openvino"):
            self._backend.tune_cpu_runtime(threads)
        self._runtime_threads = threads

    def needs_reload(self, cfg: InferenceConfig) -> bool:
        return needs_reload(self.cfg, cfg)

    def update(self, cfg: InferenceConfig) -> None:
        """Apply settings that need no reload (thresholds, imgsz, max_det, threads)."""
        if self.needs_reload(cfg):
            raise ValueError(
                "model, device, half or expression_classifier changed: build a new ExpressionDetector"
            )
        check_config(cfg)
        if (cfg.imgsz, cfg.upscale) != (self.cfg.imgsz, self.cfg.upscale):
            self._letterbox = None
            self._release_buffers()
        self.cfg = cfg
        self._set_threads()

    # -- inference -------------------------------------------------------------------------
    def input_geometry(self, width: int, height: int) -> Letterbox:
        """The letterbox for a source size, cached while the camera size stays the same."""
        lb = self._letterbox
        if lb is None or (lb.src_w, lb.src_h) != (width, height):
            old = lb
            if self._fixed_hw is not None:
                lb = Letterbox.fit(width, height, self._fixed_hw[1], self._fixed_hw[0])
            else:
                lb = Letterbox.for_imgsz(width, height, self.frame_imgsz(width, height), self._backend.stride)
            self._letterbox = lb
            if old is not None and lb.dst_w * lb.dst_h < old.dst_w * old.dst_h:
                self._release_buffers()
        return lb

    def _release_buffers(self) -> None:
        """Drop the input buffers of a larger size and hand the freed heap back to the system.

        After a large input (imgsz 4096), glibc keeps the freed buffers and activations in its heap:
        the process stayed ~110 MB larger after going back to a small size without this.
        """
        self._buffers.clear()
        heap.trim()

    def __call__(self, image_bgr: np.ndarray) -> list[Detection]:
        """Detect faces in an HxWx3 uint8 BGR image; boxes come back in its pixels."""
        h, w = image_bgr.shape[:2]
        if too_small(w, h):
            return []  # no face fits; the caller publishes an empty result for the frame
        lb = self.input_geometry(w, h)
        buffers = self._buffers.get()
        buffers.bgr = lb.apply(image_bgr, buffers.bgr)
        cfg = self.cfg
        if self.uses_ultralytics:
            det = self._ultralytics_detect(self._to_rgb(buffers))
        else:
            backend = self._backend
            if backend.takes_bgr_uint8:  # OpenVINO converts inside the model
                out = backend(buffers.bgr[None])
            else:
                out = backend(self._cpu_input(self._to_rgb(buffers), channels_last=False))
            det = decode_detect_head(
                out, cfg.conf_threshold, cfg.iou_threshold, cfg.agnostic_nms, cfg.max_det, backend.end2end
            )
        if det.shape[0] == 0:
            return []
        detections = to_detections(lb.undo(det[:, :4]), det[:, 4], det[:, 5], self.names)
        if self._refined_ids is not None:
            detections = self.classifier.refine(image_bgr, detections, self._refined_ids)
        return detections

    @staticmethod
    def _to_rgb(buffers: _Buffers) -> _Buffers:
        """Fill ``buffers.rgb`` from the letterboxed BGR frame: Ultralytics models are trained on RGB."""
        import cv2

        if buffers.rgb is None or buffers.rgb.shape != buffers.bgr.shape:
            buffers.rgb = np.empty_like(buffers.bgr)
        cv2.cvtColor(buffers.bgr, cv2.COLOR_BGR2RGB, dst=buffers.rgb)
        return buffers

    def _ultralytics_detect(self, buffers: _Buffers) -> np.ndarray:
        """Ultralytics' backend and NMS: an Nx6 array (x1, y1, x2, y2, score, class) in input pixels."""
        import torch

        rgb = buffers.rgb
        backend = self._backend
        cfg = self.cfg
        on_cpu = str(backend.device) == "cpu"
        if on_cpu:
            self._torch_threads_here(torch)
        with torch.inference_mode(), self._shapes.enter(rgb.shape):
            if on_cpu and not backend.fp16:
                channels_last = self.format == "pt"
                tensor = torch.from_numpy(self._cpu_input(buffers, channels_last))
                if channels_last:
                    tensor = tensor.permute(0, 3, 1, 2)
            else:  # upload bytes, convert on the GPU
                tensor = torch.from_numpy(rgb).to(backend.device).permute(2, 0, 1).unsqueeze(0)
                tensor = (tensor.half() if backend.fp16 else tensor.float()).div_(255.0)
            out = backend.nms(
                backend(tensor), cfg.conf_threshold, cfg.iou_threshold, cfg.agnostic_nms, cfg.max_det
            )
        return out.float().cpu().numpy()

    def _torch_threads_here(self, torch) -> None:
        """Give this calling thread PyTorch's thread count for a frame.

        OpenMP keeps the count per thread: a count set on the thread that loaded the model, or on
        the one that changed ``threads``, does not reach a worker thread that has already run.
        """
        if torch.get_num_threads() != self._torch_threads:
            torch.set_num_threads(self._torch_threads)

    def _cpu_input(self, buffers: _Buffers, channels_last: bool) -> np.ndarray:
        """Scale an RGB uint8 image into a reused float32 buffer (1xHxWx3 or 1x3xHxW).

        PyTorch models run channels-last on the CPU, so they get an NHWC buffer viewed as NCHW;
        ONNX Runtime and OpenVINO read a contiguous NCHW array. Plain numpy keeps PyTorch's
        thread pool out of the pre-processing.
        """
        rgb = buffers.rgb
        h, w = rgb.shape[:2]
        shape = (1, h, w, 3) if channels_last else (1, 3, h, w)
        if buffers.input is None or buffers.input.shape != shape:
            buffers.input = np.empty(shape, dtype=np.float32)
        src = rgb if channels_last else rgb.transpose(2, 0, 1)
        np.multiply(src, np.float32(1.0 / 255.0), out=buffers.input[0])
        return buffers.input
