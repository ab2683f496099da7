"""Background model loads with the real model: frames keep being answered, failures keep the old model."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import numpy as np

from face_expression.engine.config import InferenceConfig
from face_expression.engine.detector import ExpressionDetector
from face_expression.engine.hot_swap import HotSwapDetector


def _swap(model_path: Path) -> tuple[HotSwapDetector, list, list]:
    loaded: list[ExpressionDetector] = []
    failed: list[tuple[InferenceConfig, Exception]] = []
    running = ExpressionDetector(InferenceConfig(model=str(model_path)))
    swap = HotSwapDetector(running, loaded.append, lambda cfg, exc: failed.append((cfg, exc)))
    return swap, loaded, failed


def test_frames_are_answered_by_the_running_model_while_the_new_one_loads(
    model_path: Path, astronaut: np.ndarray, tmp_path: Path
) -> None:
    """The real load is held at its start until a frame was answered, so the order is certain."""
    release = threading.Event()

    def slow_load(cfg: InferenceConfig) -> ExpressionDetector:
        assert release.wait(60), "the frame was never answered while the load waited"
        return ExpressionDetector(cfg)

    loaded: list[ExpressionDetector] = []
    failed: list = []
    old = ExpressionDetector(InferenceConfig(model=str(model_path)))
    swap = HotSwapDetector(old, loaded.append, lambda cfg, exc: failed.append(exc), loader=slow_load)
    copy = tmp_path / "copy.pt"
    copy.write_bytes(model_path.read_bytes())
    swap.load(dataclasses.replace(old.cfg, model=str(copy)))
    assert swap.loading, "the load must run on its own thread"
    answered_while_loading = swap(astronaut)  # would block if the loader held the lock while loading
    assert answered_while_loading and swap.detector is old
    release.set()
    swap.join(timeout=60)
    assert not failed and loaded and swap.detector is loaded[0] and swap.detector.path == copy
    assert swap(astronaut)


def test_thresholds_changed_during_a_load_apply_to_the_new_model(model_path: Path, tmp_path: Path) -> None:
    swap, loaded, _ = _swap(model_path)
    copy = tmp_path / "copy.pt"
    copy.write_bytes(model_path.read_bytes())
    cfg = dataclasses.replace(swap.detector.cfg, model=str(copy))
    swap.load(cfg)
    swap.update(dataclasses.replace(cfg, conf_threshold=0.9))
    swap.join(timeout=60)
    assert loaded and swap.detector.cfg.conf_threshold == 0.9


def test_a_failed_load_keeps_the_running_model(
    model_path: Path, astronaut: np.ndarray, tmp_path: Path
) -> None:
    swap, loaded, failed = _swap(model_path)
    old = swap.detector
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"\x80\x04 truncated")
    swap.load(dataclasses.replace(old.cfg, model=str(broken)))
    swap.join(timeout=60)
    assert not loaded and len(failed) == 1 and "broken.pt" in str(failed[0][1])
    assert swap.detector is old and swap(astronaut)


def test_only_the_newest_request_swaps_in(model_path: Path, tmp_path: Path) -> None:
    swap, loaded, _ = _swap(model_path)
    first, second = tmp_path / "first.pt", tmp_path / "second.pt"
    for path in (first, second):
        path.write_bytes(model_path.read_bytes())
    swap.load(dataclasses.replace(swap.detector.cfg, model=str(first)))
    swap.load(dataclasses.replace(swap.detector.cfg, model=str(second)))
    swap.join(timeout=60)
    assert swap.detector.path == second and [d.path for d in loaded] == [second]


def _second_slot_waits(swap: HotSwapDetector) -> bool:
    """Hold one slot here; does another thread's slot wait until it is released?"""
    entered = threading.Event()

    def other() -> None:
        with swap.slot():
            entered.set()

    with swap.slot():
        thread = threading.Thread(target=other)
        thread.start()
        waited = not entered.wait(0.5)
    thread.join(10)
    assert entered.is_set(), "the second slot never opened"
    return waited


def test_cpu_models_take_two_frames_at_once_and_ultralytics_backends_one(
    model_path: Path, onnx_model: Path
) -> None:
    """A .pt model on the CPU runs two frames at once; Ultralytics' other backends one, whatever is set."""

    def swap(model: Path, parallel: int, runtime: str = "auto") -> HotSwapDetector:
        cfg = InferenceConfig(model=str(model), parallel_frames=parallel)
        return HotSwapDetector(ExpressionDetector(cfg, runtime=runtime), print, print)

    pt, lean, one = swap(model_path, 0), swap(onnx_model, 0), swap(onnx_model, 1)
    via_ultralytics = swap(onnx_model, 2, runtime="ultralytics")
    assert (pt.parallel, lean.parallel, one.parallel, via_ultralytics.parallel) == (2, 2, 1, 1)
    assert not _second_slot_waits(pt)
    assert not _second_slot_waits(lean)
    assert _second_slot_waits(one)
    assert _second_slot_waits(via_ultralytics)


def test_a_settings_change_waits_for_frames_in_flight(onnx_model: Path, astronaut: np.ndarray) -> None:
    """Thresholds and threads change between frames, never under one (threads rebuild the session)."""
    swap = HotSwapDetector(ExpressionDetector(InferenceConfig(model=str(onnx_model))), print, print)
    cfg = swap.detector.cfg
    done = threading.Event()

    def change() -> None:
        swap.update(dataclasses.replace(cfg, conf_threshold=0.5, threads=1))
        done.set()

    with swap.slot() as detector:
        thread = threading.Thread(target=change)
        thread.start()
        assert not done.wait(0.5), "the settings changed while a frame was in flight"
        assert detector(astronaut)
    thread.join(10)
    assert done.is_set() and swap.detector.cfg.conf_threshold == 0.5
    assert swap(astronaut)
