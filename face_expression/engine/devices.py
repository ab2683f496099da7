"""Device strings: one syntax (cpu, cuda, cuda:N, N) checked once, mapped for torch and Ultralytics."""

from __future__ import annotations

import re

_DEVICE_RE = re.compile(r"^(cpu|cuda|cuda:\d+|\d+)$")


def check_device_syntax(device: str) -> None:
    """Reject strings no backend understands, without importing torch."""
    if not _DEVICE_RE.match(device):
        raise ValueError(f"device={device!r} is unknown; use 'cpu', 'cuda', 'cuda:N' or 'N'")


def cuda_index(device: str) -> int:
    """The CUDA ordinal of a non-CPU device string ('cuda' = 0)."""
    if ":" in device:
        return int(device.split(":", 1)[1])
    return int(device) if device.isdigit() else 0


def check_device(device: str) -> None:
    """Reject unknown device strings, and CUDA where there is none (imports torch for that)."""
    check_device_syntax(device)
    if device == "cpu":
        return
    import torch

    if not torch.cuda.is_available():
        raise ValueError(f"device={device!r} requested but no CUDA device is available; use 'cpu'")
    if cuda_index(device) >= torch.cuda.device_count():
        raise ValueError(f"device={device!r}: only {torch.cuda.device_count()} CUDA device(s) present")


def torch_device(device: str) -> str:
    """'cpu' / 'cuda' / 'cuda:N' / 'N' -> a torch.device string."""
    return "cpu" if device == "cpu" else f"cuda:{cuda_index(device)}"


def ultralytics_device(device: str) -> str:
    """'cpu' / 'cuda' / 'cuda:N' / 'N' -> what Ultralytics' train/val/predict take ('cpu' or 'N')."""
    return "cpu" if device == "cpu" else str(cuda_index(device))


def release_device_memory(device: str) -> None:
    """Hand the GPU memory PyTorch keeps cached back to the driver (a no-op on the CPU)."""
    if device == "cpu":
        return
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def default_device() -> str:
    """The first GPU when there is one, else the CPU."""
    import torch

    return "cuda:0" if torch.cuda.is_available() else "cpu"
