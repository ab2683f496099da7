"""Model files for the second-stage tests, built from the real bundled detector or by the ONNX helpers.

- ``renamed_detector``: the bundled checkpoint with other class names. Swapping neutral and smile
  makes the detector's own label surely wrong on every face it gets right, so a test can tell its
  label from the classifier's whatever model is bundled; other names (e.g. calm / joy) make a
  detector the second stage must leave alone.
- ``onnx_classifier``: a tiny but valid ONNX classifier (average pooling, a fixed linear layer,
  softmax) with the input shape and class names asked for: for classifiers of the wrong shape or
  without a smiling class.
"""

from __future__ import annotations

from pathlib import Path


def renamed_detector(bundled: Path, names: dict[int, str], dst: Path) -> Path:
    """A copy of the bundled detector whose classes are called ``names`` (no card: it is a new file)."""
    from face_expression.engine import offline

    offline.prepare_environment()
    import torch

    checkpoint = torch.load(bundled, map_location="cpu", weights_only=False)  # our own, trusted file
    for key in ("model", "ema"):
        if checkpoint.get(key) is not None:
            checkpoint[key].names = dict(names)
    dst.parent.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, dst)
    return dst


def onnx_classifier(
    dst: Path, names: list[str] | None, shape: tuple = ("N", 1, 64, 64), classes: int = 7
) -> Path:
    """A valid ONNX classifier: ``shape`` in, len(names) (else ``classes``) probabilities out."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    classes = len(names) if names else classes
    channels = shape[1]
    weight = numpy_helper.from_array(np.ones((channels, classes), np.float32), "w")
    graph = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["faces"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["flat"]),
            helper.make_node("MatMul", ["flat", "w"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probs"], axis=1),
        ],
        "tiny_classifier",
        [helper.make_tensor_value_info("faces", TensorProto.FLOAT, list(shape))],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [shape[0], classes])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    if names:
        model.metadata_props.add(key="names", value=repr(dict(enumerate(names))))
    onnx.checker.check_model(model)
    dst.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(dst))
    return dst
