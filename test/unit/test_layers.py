"""The layers keep their promises: what each subpackage may import, checked in a fresh interpreter."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import pytest

import face_expression

HEAVY = ("torch", "ultralytics", "rclpy", "onnxruntime", "openvino")


def _modules(subpackage: str) -> list[str]:
    package = __import__(f"face_expression.{subpackage}", fromlist=["_"])
    return [f"face_expression.{subpackage}.{m.name}" for m in pkgutil.iter_modules(package.__path__)]


def _imported_after(modules: list[str]) -> set[str]:
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return {m.split(".")[0] for m in json.loads(out)}


@pytest.mark.parametrize(
    ("subpackage", "forbidden"),
    [
        ("core", HEAVY),  # decode, geometry, drawing, metrics: usable anywhere
        # offline data tools run without a model or ROS; the labelling teachers load their
        # runtimes (LiteRT, torch) only when asked to run
        ("data", (*HEAVY, "ai_edge_litert")),
        ("engine", ("rclpy",)),  # torch and ultralytics only once a model loads, never ROS
        ("cli", (*HEAVY, "ai_edge_litert")),  # parsing arguments must not pay for torch
    ],
)
def test_importing_a_layer_pulls_in_nothing_it_must_not(subpackage: str, forbidden: tuple[str, ...]) -> None:
    loaded = _imported_after(_modules(subpackage))
    assert not loaded & set(forbidden), (
        f"face_expression.{subpackage} imports {sorted(loaded & set(forbidden))}"
    )


def test_every_module_belongs_to_a_layer() -> None:
    top = [m.name for m in pkgutil.iter_modules(face_expression.__path__)]
    assert sorted(top) == ["cli", "core", "data", "engine", "ros"], top
