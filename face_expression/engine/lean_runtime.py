"""Exported detect models (ONNX, OpenVINO) on the CPU with their own runtime only: no torch, no Ultralytics.

Importing torch and Ultralytics costs a node ~500 MB of memory and 1.5-2.5 s of start-up even
when the model is an ONNX file or an OpenVINO folder, and a robot that only runs exports should
not need torch installed. Here the runtime (onnxruntime or openvino) is driven directly; the
metadata Ultralytics writes into an export (names, imgsz, stride, task) is read without it; the
head's output is decoded with core/yolo_decode.py. The ONNX Runtime session and the OpenVINO
compiled model are built here for both paths (engine/backends.py tunes Ultralytics' with them).
"""

from __future__ import annotations

import ast
import os
import sys
import threading
import time
from functools import cache
from pathlib import Path

import numpy as np

from face_expression.core.load_mode import LoadMode
from face_expression.core.per_thread import PerThread
from face_expression.core.yolo_decode import head_classes
from face_expression.engine.config import OPENVINO_DIR_SUFFIX, ModelError, runtime_failure

#: rt_info key under which face-expression-export stores an OpenVINO inference precision.
OV_PRECISION_KEY = ["runtime_options", "INFERENCE_PRECISION_HINT"]
#: Metadata keys whose values ONNX exports store as Python literals in strings.
LITERAL_KEYS = ("stride", "batch", "channels", "imgsz", "names", "end2end", "args")


def exported_format(path: Path) -> str | None:
    """'onnx' or 'openvino' for a model file this runtime can run, else None (e.g. a .pt)."""
    if path.suffix == ".onnx" and path.is_file():
        return "onnx"
    if path.is_dir() and path.name.endswith(OPENVINO_DIR_SUFFIX):
        return "openvino"
    return None


def stored_openvino_precision(model) -> str | None:
    """The inference precision face-expression-export stored in an OpenVINO model, if any."""
    return model.get_rt_info(OV_PRECISION_KEY).astype(str) if model.has_rt_info(OV_PRECISION_KEY) else None


CONVERSION_API = "openvino.tools.ovc"


@cache
def _openvino():
    """The openvino package, imported without its model-conversion API unless already there.

    ``import openvino`` also imports ``openvino.tools.ovc`` (convert_model) and, with it, a
    telemetry client: 14 MB of memory and 110 ms of start-up (+27 MB and 156 ms for the whole
    import, against +12 MB and 43 ms without it; openvino 2026.4) that a node running an export
    never uses. ``openvino.convert_model`` still works: the first use imports it (an export in
    the same process, as Ultralytics' exporter does).
    """
    if "openvino" in sys.modules:
        return sys.modules["openvino"]
    blocked = CONVERSION_API not in sys.modules
    if blocked:
        sys.modules[CONVERSION_API] = None  # openvino/__init__.py imports it in a try: skipped
    try:
        import openvino
    finally:
        if blocked and sys.modules.get(CONVERSION_API, 0) is None:
            del sys.modules[CONVERSION_API]
    if blocked and not hasattr(openvino, "convert_model"):
        openvino.__getattr__ = _conversion_api_on_first_use  # PEP 562: only for names it lacks
    return openvino


def _conversion_api_on_first_use(name: str):
    """``openvino.<name>`` for names that come from the conversion API (imported now, once)."""
    if name == "convert_model":
        import openvino
        from openvino.tools.ovc import convert_model

        openvino.convert_model = convert_model
        return convert_model
    raise AttributeError(f"module 'openvino' has no attribute {name!r}")


@cache
def _openvino_core():
    """One OpenVINO Core that reads weights files into memory instead of mapping them.

    A mapped weights file ties the model to the file: an export rewritten in place while the node
    runs would change (or, truncated, crash) a second compiled model built later from it.
    """
    ov = _openvino()
    core = ov.Core()
    core.set_property({"ENABLE_MMAP": False})
    return core


def read_openvino(xml: Path):
    """An OpenVINO IR read once, to compile it more than once (one copy of its weights)."""
    return _openvino_core().read_model(str(xml))


def compile_openvino(
    model, threads: int | None = None, precision: str | None = None, streams: int | None = None
):
    """Compile an OpenVINO IR (its .xml path, or a model from :func:`read_openvino`) on the CPU.

    Thread count and the stored (or given) precision; for low latency (one stream, all
    ``threads`` on each request), or with ``streams``, that many requests at once, the threads
    split between them.
    """
    if isinstance(model, (str, Path)):
        model = read_openvino(Path(model))
    config: dict[str, object] = {"PERFORMANCE_HINT": "LATENCY"}
    if streams:
        config = {"PERFORMANCE_HINT": "THROUGHPUT", "NUM_STREAMS": streams}
    if threads:
        config["INFERENCE_NUM_THREADS"] = threads
    precision = precision or stored_openvino_precision(model)
    if precision:
        config["INFERENCE_PRECISION_HINT"] = precision
    return _openvino_core().compile_model(model, "CPU", config)


def with_bgr_uint8_input(model):
    """``model`` taking the letterboxed frame as it is: 1xHxWx3 uint8 BGR.

    OpenVINO then does the conversion to the exported input (RGB, float 0..1, 1x3xHxW) inside
    the compiled model. Done in numpy it cost a transposing pass over the frame and a float32
    copy per calling thread (3.7 MB each at 480x640).
    """
    ov = _openvino()
    from openvino.preprocess import ColorFormat, PrePostProcessor

    ppp = PrePostProcessor(model)
    inp = ppp.input()
    inp.tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC")).set_color_format(ColorFormat.BGR)
    inp.model().set_layout(ov.Layout("NCHW"))
    inp.preprocess().convert_element_type(ov.Type.f32).convert_color(ColorFormat.RGB).scale(255.0)
    return ppp.build()


_first_infer_lock = threading.Lock()
_first_infer_done = False


def infer_openvino(request, inputs: np.ndarray) -> np.ndarray:
    """``request``'s output for ``inputs``; the process's first call runs alone.

    openvino's Python binding sets up numpy support on its first call inside a C++ static
    initializer that lets go of the GIL and then takes it back. A second thread that called at
    that moment holds the GIL and waits for the initializer: both wait forever. Four threads
    calling at once for the first time hung 7 of 12 processes (openvino 2026.4, a 256x320
    export); the node's first frames overlap as soon as a camera is faster than one frame.
    """
    global _first_infer_done
    if not _first_infer_done:
        with _first_infer_lock:
            if not _first_infer_done:
                out = request.infer([inputs], share_inputs=True)[0]
                _first_infer_done = True
                return out
    return request.infer([inputs], share_inputs=True)[0]


_arena_lock = threading.Lock()
_shared_arena: bool | None = None  # None until first asked


def shared_cpu_arena() -> bool:
    """Register one CPU memory arena for every ONNX Runtime session of this process (once).

    Each session otherwise keeps an arena of its own that grows in powers of two. Measured with
    YOLOv5n at 480x640 (ONNX Runtime 1.32, two sessions running frames at once, as the engine does
    when frames overlap): 123 MB for both sessions with their own arenas and memory patterns, 100
    MB sharing one arena that grows by what is asked, 94 MB without memory patterns too; the same
    frames per second. The price: the shared arena keeps its peak for the life of the process, also
    after a session is gone (a swapped or cleaned-up model); the next session reuses it. False
    where this onnxruntime cannot (sessions then keep their own).
    """
    global _shared_arena
    import onnxruntime as ort

    with _arena_lock:
        if _shared_arena is None:
            try:
                kind, memory = ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, ort.OrtMemType.DEFAULT
                info = ort.OrtMemoryInfo("Cpu", kind, 0, memory)
                same_as_requested = 1  # arena_extend_strategy; -1 = ONNX Runtime's default
                ort.create_and_register_allocator(info, ort.OrtArenaCfg(0, same_as_requested, -1, -1))
                _shared_arena = True
            except Exception:  # an older onnxruntime, or one registered before us in this process
                _shared_arena = False
        return _shared_arena


def onnx_cpu_session(model_file: Path | bytes, threads: int):
    """An ONNX Runtime CPU session whose idle threads sleep unless OMP_WAIT_POLICY=ACTIVE.

    Ultralytics' defaults let ONNX Runtime's idle threads spin: on a loaded 2-core CPU that took
    YOLOv5n at 640 from ~30 ms to ~80-100 ms per frame. Sessions share one memory arena
    (:func:`shared_cpu_arena`).
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    spin = os.environ.get("OMP_WAIT_POLICY", "").upper() == "ACTIVE"  # same switch as OpenMP's
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    if shared_cpu_arena():
        options.add_session_config_entry("session.use_env_allocators", "1")
        options.enable_mem_pattern = False  # a block per run sized for the peak, kept: 6 MB at 640
    model = model_file if isinstance(model_file, bytes) else str(model_file)
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def parse_metadata(raw: dict) -> dict:
    """Ultralytics' export metadata with its values as Python objects (ONNX stores them as strings)."""
    out: dict = {}
    for key, value in raw.items():
        if isinstance(value, str) and key in LITERAL_KEYS:
            try:
                value = ast.literal_eval(value)
            except (ValueError, SyntaxError):
                pass
        out[key] = value
    return out


def _openvino_metadata(folder: Path) -> dict:
    sidecar = folder / "metadata.yaml"
    if not sidecar.is_file():
        return {}
    import yaml

    data = yaml.safe_load(sidecar.read_text())
    return data if isinstance(data, dict) else {}


def _static_hw(shape: list) -> tuple[int, int] | None:
    """(h, w) of a static NCHW input shape; None when height or width is dynamic."""
    if len(shape) != 4 or not all(isinstance(d, int) and d > 0 for d in shape[2:]):
        return None
    return int(shape[2]), int(shape[3])


class LeanBackend:
    """An exported detect model run by onnxruntime or openvino on the CPU; same surface as Backend."""

    uses_ultralytics = False

    def __init__(self, path: Path, threads: int, crowded_threads: int | None = None) -> None:
        """``threads`` per frame run alone; ``crowded_threads`` per frame while another runs (or same)."""
        fmt = exported_format(path)
        if fmt is None:
            raise ModelError(f"{path} is not an .onnx file or '*{OPENVINO_DIR_SUFFIX}' folder")
        self.path = path
        self.format = fmt
        self.threads = threads
        self.crowded_threads = crowded_threads or threads
        self._running = 0  # calls in progress
        self._lock = threading.Lock()
        self._build_lock = threading.Lock()
        self._generation = 0  # bumped by every load: a model built for an older one is not used
        self.load_mode = LoadMode()  # OpenVINO: low-latency model or streams (see _follow_load)
        self._switching = False  # an OpenVINO model for the other mode is being compiled
        self._ov_streams = False  # OpenVINO: the model in place has streams (else low latency)
        try:
            self._load(threads)
        except Exception as exc:  # every failure of the runtime becomes one clear message
            raise ModelError(
                f"cannot load model {path}: {runtime_failure(exc)}. The file is corrupt, truncated or not "
                "an exported Ultralytics model; export it again with face-expression-export."
            ) from exc
        self._check_detect_head()

    # -- loading ----------------------------------------------------------------------------
    def _model_file(self) -> Path:
        if self.format == "onnx":
            return self.path
        xml = sorted(self.path.glob("*.xml"))
        if not xml:
            raise FileNotFoundError(f"no .xml model in {self.path}")
        return xml[0]

    def _load(self, threads: int) -> None:
        with self._build_lock:  # not while a runtime for overlapping calls is being built
            self._load_runtimes(threads)

    def _load_runtimes(self, threads: int) -> None:
        self._generation += 1
        self.load_mode = self.load_mode.fresh()  # other threads: other timings
        self._crowded = None  # ONNX: the session for overlapping calls, built when calls first overlap
        if self.format == "onnx":
            # the bytes checked at load (model card), for that session: the file may change meanwhile
            model = self.path.read_bytes()
            self._crowded_source = model if self.splits_threads else None
            session = onnx_cpu_session(model, threads)
            self._runtime = session
            self._input_name = session.get_inputs()[0].name
            self._output_name = session.get_outputs()[0].name
            self.input_shape = list(session.get_inputs()[0].shape)
            self.output_shape = list(session.get_outputs()[0].shape)
            if not hasattr(self, "metadata"):
                self.metadata = parse_metadata(session.get_modelmeta().custom_metadata_map)
        else:
            model = read_openvino(self._model_file())
            self.input_shape = partial_shape(model.input(0).get_partial_shape())  # as exported: NCHW
            self._ov_model = with_bgr_uint8_input(model)
            compiled = compile_openvino(self._ov_model, threads)
            # one infer request per calling thread: a request serves one call at a time
            self._runtime = PerThread(compiled.create_infer_request)
            self._ov_streams = False  # the low-latency model (one stream); see _follow_load
            self.output_shape = partial_shape(compiled.output(0).get_partial_shape())
            if not hasattr(self, "metadata"):
                self.metadata = parse_metadata(_openvino_metadata(self.path))

    def _check_detect_head(self) -> None:
        task = self.metadata.get("task")
        if task and task != "detect":
            raise ModelError(
                f"model {self.path} is a '{task}' model; face_expression needs an Ultralytics 'detect' model "
                "(train one with face-expression-train)."
            )
        if self.end2end:
            return
        nc = head_classes(self.output_shape)
        names = self.metadata.get("names")
        if nc is None or (isinstance(names, dict) and names and nc != len(names)):
            raise ModelError(
                f"model {self.path} outputs shape {self.output_shape}, not an Ultralytics detect head "
                f"(1, 4 + classes, N) for {len(names) if isinstance(names, dict) else 'its'} classes; "
                "export a detect model with face-expression-export."
            )

    # -- what the engine asks ---------------------------------------------------------------
    @property
    def task(self) -> str:
        return str(self.metadata.get("task") or "detect")

    @property
    def end2end(self) -> bool:
        return bool(self.metadata.get("end2end", False))

    @property
    def names(self) -> dict[int, str]:
        names = self.metadata.get("names")
        if isinstance(names, dict) and names:
            return {int(k): str(v) for k, v in names.items()}
        nc = head_classes(self.output_shape) or 0
        return {i: f"class{i}" for i in range(nc)}

    @property
    def stride(self) -> int:
        stride = self.metadata.get("stride", 32)
        return int(max(stride)) if isinstance(stride, (list, tuple)) else int(stride)

    @property
    def device(self) -> str:
        return "cpu"

    @property
    def fp16(self) -> bool:
        return False

    def fixed_input_shape(self) -> tuple[int, int] | None:
        """(h, w) the export takes; None for a dynamic export (then the engine picks the shape)."""
        return _static_hw(self.input_shape)

    def trained_imgsz(self) -> int | None:
        """The long side the model was exported at (the size that suits a dynamic export)."""
        imgsz = self.metadata.get("imgsz")
        if isinstance(imgsz, (list, tuple)):
            imgsz = max(imgsz)
        return int(imgsz) if isinstance(imgsz, int) and imgsz >= 32 and imgsz % 32 == 0 else None

    def tune_cpu_runtime(self, threads: int, crowded_threads: int | None = None) -> None:
        """Rebuild the session / compiled model when a thread count changes."""
        crowded_threads = crowded_threads or threads
        if (threads, crowded_threads) != (self.threads, self.crowded_threads):
            with self._lock:
                self.threads, self.crowded_threads = threads, crowded_threads
            self._load(threads)

    @property
    def crowded_runtime_ready(self) -> bool:
        """Whether overlapping calls run on a runtime of their own: ONNX Runtime's second session,
        OpenVINO's model with several streams (in place of the low-latency one)."""
        if self.format == "onnx":
            return self._crowded is not None and self._crowded is not self._runtime
        return self._ov_streams

    @property
    def runtime(self) -> str:
        """What runs the model and how, for /diagnostics: OpenVINO says which model is in place."""
        if self.format == "onnx":
            crowded = f"; a frame overlapping another: {self.crowded_threads}" if self.splits_threads else ""
            return f"ONNX Runtime, {self.threads} thread(s) per frame{crowded}"
        load = self.load_mode.load
        now = f" (load {load:.2f})" if load is not None and self.splits_threads else ""
        if self._ov_streams:
            return f"OpenVINO, {self._stream_count} streams of {self.crowded_threads} thread(s){now}"
        return f"OpenVINO, low latency: {self.threads} thread(s) per frame{now}"

    def onnx_session_config(self, key: str) -> str | None:
        """A config entry of the ONNX Runtime session (None for OpenVINO)."""
        if self.format != "onnx":
            return None
        return self._runtime.get_session_options().get_session_config_entry(key)

    @property
    def takes_bgr_uint8(self) -> bool:
        """Whether calls take the letterboxed 1xHxWx3 uint8 BGR frame (OpenVINO) instead of
        the 1x3xHxW float32 RGB array scaled to 0..1 (ONNX Runtime)."""
        return self.format != "onnx"

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """The head's raw output for an input as :attr:`takes_bgr_uint8` says.

        Safe to call from several threads at once. ONNX Runtime: a frame alone runs on all
        ``threads``, one that overlaps another on a session with ``crowded_threads``
        (:attr:`splits_threads`). OpenVINO gives each calling thread its own infer request on
        the one compiled model of the moment (:meth:`_follow_load`).
        """
        follow = self.splits_threads and self.format != "onnx"
        with self._lock:
            self._running += 1
            alone = self._running == 1
            start = time.monotonic() if follow else 0.0  # only OpenVINO follows the load
            if follow:
                self.load_mode.started(start, not alone)
                self._follow_load(start)
            runtime, on_streams = self._runtime, self._ov_streams
        try:
            if self.format == "onnx":
                session = self._crowded_session() if self.splits_threads and not alone else runtime
                return session.run([self._output_name], {self._input_name: images})[0]
            return infer_openvino(runtime.get(), images)
        finally:
            with self._lock:
                self._running -= 1
                if follow:
                    self.load_mode.ended(time.monotonic() - start, alone, on_streams)

    def _crowded_session(self):
        """ONNX Runtime: a second session with ``crowded_threads`` for the call that overlaps,
        built on first need (the main one if that fails). The sessions share one memory arena."""
        with self._build_lock:
            if self._crowded is None:
                try:
                    self._crowded = onnx_cpu_session(self._crowded_source, self.crowded_threads)
                except Exception:  # out of memory, say: overlapping frames share the main session
                    self._crowded = self._runtime
                self._crowded_source = None
            return self._crowded

    def _follow_load(self, now: float) -> None:
        """OpenVINO: one compiled model at a time, for the load of the moment (under ``_lock``).

        Frames the low-latency model (one stream, every thread on the frame) has time for run
        there. When frames come faster than it answers them, its requests take turns on its one
        stream; a model with ``threads / crowded_threads`` streams runs them side by side, each
        slower on fewer threads, and answers more. core/load_mode.py decides from the calls'
        timing; a stray overlap (the first frames, a hiccup) changes nothing. The new model is
        compiled in the background while the old one keeps answering, and the old one is freed
        once its last call returns: keeping both cost 35-50 MB at 480x640.
        """
        streams = self.load_mode.wants_streams(self._ov_streams, now)
        if streams == self._ov_streams or self._switching:
            return
        self._switching = True
        threading.Thread(
            target=self._switch_openvino,
            args=(streams, self._generation),
            name="openvino-switch",
            daemon=True,
        ).start()

    def _switch_openvino(self, streams: bool, generation: int) -> None:
        """Compile the model for ``streams`` (or low latency) and put it in place of the other."""
        try:
            with self._build_lock:
                if generation != self._generation:  # reloaded meanwhile (a thread change)
                    return
                n = self._stream_count if streams else None
                compiled = compile_openvino(self._ov_model, self.threads, streams=n)
                with self._lock:
                    self._runtime = PerThread(compiled.create_infer_request)
                    self._ov_streams = streams
                    self.load_mode.changed(time.monotonic())
        except Exception:  # out of memory, say: keep the model in place, try again after dwell_s
            with self._lock:
                self.load_mode.changed(time.monotonic())
        finally:
            with self._lock:
                self._switching = False

    @property
    def _stream_count(self) -> int:
        """OpenVINO streams while frames overlap: the threads split ``crowded_threads`` each."""
        return max(2, self.threads // self.crowded_threads)

    @property
    def splits_threads(self) -> bool:
        """Whether overlapping calls run side by side with fewer threads per frame.

        Measured on 2 cores (engine alone, imgsz 320, benchmarks/results/realtime.md): ONNX Runtime
        answered 117 frames/s with two frames at once, the overlapping one on 1 thread, against 82
        with one 2-thread frame at a time. OpenVINO: two requests on its low-latency compiled model
        take turns on its one stream; a compiled model with two 1-thread streams runs them side by
        side (engine alone, two callers: 193 against 162 frames/s at 256x320, 117 against 108 at
        320x416, 53 against 46 at 480x640, 2026-12-02). One 1-thread stream beside the
        low-latency model was worse (91 against 133 frames/s): its requests took turns too.
        Larger machines are not measured.
        """
        return self.crowded_threads != self.threads


def partial_shape(shape) -> list:
    """An OpenVINO PartialShape as a list: ints for static dimensions, '?' for dynamic ones."""
    return [d.get_length() if d.is_static else "?" for d in shape]
