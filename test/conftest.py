"""Shared test set-up: an isolated ROS domain per run, real images and the real model."""

from __future__ import annotations

import os
import random

# Before anything imports rclpy: this run's own DDS domain, discovery on this machine only,
# so parallel runs (CI, developers) never see each other's nodes.
os.environ["ROS_DOMAIN_ID"] = os.environ.get("FACE_EXPRESSION_TEST_DOMAIN", str(random.randint(1, 101)))
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.pop("ROS_LOCALHOST_ONLY", None)
os.environ["YOLO_OFFLINE"] = "1"

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from face_photos import FACE_PHOTOS, FacePhoto
from hostile_models import HostileModels, build

from face_expression.core.resources import default_model_path


@pytest.fixture(scope="session")
def model_path() -> Path:
    """The bundled starter model: the tests run the real model, never a stand-in."""
    path = default_model_path()
    assert path.is_file(), f"bundled model missing: {path}"
    return path


@pytest.fixture(scope="session")
def onnx_model(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled model exported to ONNX at 320 for a 640x480 camera, as a user would (lean runtime)."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxslim")
    from face_expression.cli.export import main as export_main

    out = tmp_path_factory.mktemp("onnx_export")
    args = [str(model_path), "--imgsz", "320", "--camera", "640x480", "--out", str(out), "--format", "onnx"]
    assert export_main(args) == 0
    return next(out.glob("*.onnx"))


@pytest.fixture(scope="session")
def model_imgsz(model_path: Path) -> int:
    """The bundled model's own inference size (what imgsz 0 means): its card's, else its training size."""
    card = json.loads(model_path.with_suffix(".json").read_text())
    return int(card.get("imgsz") or card["training_args"]["imgsz"])


@pytest.fixture(scope="session")
def model_names(model_path: Path) -> dict[int, str]:
    """Class map of the bundled model, from the metadata written beside it by face-expression-train."""
    names = json.loads(model_path.with_suffix(".json").read_text())["class_names"]
    names = dict(enumerate(names)) if isinstance(names, list) else {int(k): v for k, v in names.items()}
    assert list(names.values())[:2] == ["neutral", "smile"], names
    return names


@pytest.fixture(scope="session")
def photos() -> dict[str, FacePhoto]:
    return FACE_PHOTOS


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    image = cv2.imread(str(FACE_PHOTOS["astronaut"].path))
    assert image is not None
    return image


@pytest.fixture(scope="session")
def hostile_models(tmp_path_factory: pytest.TempPathFactory, model_path: Path) -> HostileModels:
    """Payload, other-task, original-yolov5, tampered and broken model files (see hostile_models.py)."""
    return build(tmp_path_factory.mktemp("hostile_models"), model_path, FACE_PHOTOS["grace_hopper"].path)
