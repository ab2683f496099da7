"""Model files a careless or hostile user may hand the detector, built from real checkpoints and yamls.

- ``payload.pt``: the bundled checkpoint with one more pickled entry that runs code when unpickled
  (it writes ``payload_ran.txt``): a full, working model that is also an exploit.
- ``classify.pt``, ``segment.pt``, ``pose.pt``: Ultralytics models of other tasks saved straight from
  their yaml, without training arguments (so ``model.args`` says nothing about their task).
- ``yolov5_original.pt``: a checkpoint of the original ultralytics/yolov5 repository (its classes live
  in a ``models.yolo`` module).
- ``tampered.pt``: a copy of the bundled model whose card names another SHA-256.
- ``empty.pt``, ``truncated.pt`` (half the bundled file), ``image.pt`` (a JPEG renamed),
  ``garbage.onnx``: files that are not models at all.
"""

from __future__ import annotations

import json
import sys
import types
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class HostileModels:
    root: Path
    marker: Path  # written by payload.pt when it is unpickled

    def __getitem__(self, name: str) -> Path:
        path = self.root / name
        assert path.exists(), path
        return path


class _Payload:
    """Unpickles as a call to exec: what a real exploit in a .pt does."""

    def __init__(self, marker: Path) -> None:
        self.code = f"open({str(marker)!r}, 'w').write('the payload ran')"

    def __reduce__(self):
        return (exec, (self.code,))


def build(root: Path, bundled: Path, photo: Path) -> HostileModels:
    from face_expression.engine import offline

    offline.prepare_environment()
    import torch
    from ultralytics.nn.tasks import ClassificationModel, PoseModel, SegmentationModel

    root.mkdir(parents=True, exist_ok=True)
    marker = root / "payload_ran.txt"
    checkpoint = torch.load(bundled, map_location="cpu", weights_only=False)  # our own, trusted file
    torch.save({**checkpoint, "notes": _Payload(marker)}, root / "payload.pt")

    for task, cls, yaml in (
        ("classify", ClassificationModel, "yolov8n-cls.yaml"),
        ("segment", SegmentationModel, "yolov8n-seg.yaml"),
        ("pose", PoseModel, "yolov8n-pose.yaml"),
    ):
        torch.save({"model": cls(yaml, verbose=False)}, root / f"{task}.pt")

    package, module = types.ModuleType("models"), types.ModuleType("models.yolo")

    class DetectionModel(torch.nn.Module):
        pass

    DetectionModel.__module__, DetectionModel.__qualname__ = "models.yolo", "DetectionModel"
    module.DetectionModel = DetectionModel
    sys.modules.update({"models": package, "models.yolo": module})
    try:
        torch.save({"model": DetectionModel(), "epoch": -1}, root / "yolov5_original.pt")
    finally:
        del sys.modules["models"], sys.modules["models.yolo"]

    data = bundled.read_bytes()
    (root / "tampered.pt").write_bytes(data)
    card = json.loads(bundled.with_suffix(".json").read_text())
    (root / "tampered.json").write_text(json.dumps({**card, "sha256": "0" * 64}))
    (root / "empty.pt").write_bytes(b"")
    (root / "truncated.pt").write_bytes(data[: len(data) // 2])
    (root / "image.pt").write_bytes(photo.read_bytes())
    (root / "garbage.onnx").write_bytes(b"\x08\x07" + bytes(range(256)) * 8)
    return HostileModels(root, marker)
