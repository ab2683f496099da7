"""Process start-up settings for everything that may import torch or Ultralytics.

Robots often run without internet, and a perception node must never stall on a download, an
update check or telemetry: ``YOLO_OFFLINE`` makes Ultralytics treat the machine as offline, and
settings sync is turned off as well. Idle OpenMP threads sleep instead of spinning: on a small CPU
shared with a camera driver, DDS and other nodes, spinning threads starve them (YOLOv5n at 320 with
2 threads took ~100 ms per frame with spinning and ~30 ms without on a loaded 2-core machine).
OpenMP reads its policy when torch loads, so :func:`prepare_environment` runs first in every entry
point, before anything imports torch; nothing here changes the environment at import time.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path


def prepare_environment() -> None:
    """Set the process-wide defaults; call before torch/ultralytics are imported. Idempotent.

    An explicit ``OMP_WAIT_POLICY`` from the caller wins (``ACTIVE`` lets threads spin again).
    """
    os.environ["YOLO_OFFLINE"] = "1"
    if "OMP_WAIT_POLICY" not in os.environ and "torch" in sys.modules:
        print(
            "warning: torch was imported before face_expression set OMP_WAIT_POLICY=PASSIVE; "
            "idle threads may spin (call prepare_environment() first, or export OMP_WAIT_POLICY)",
            file=sys.stderr,
        )
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def disable_sync() -> None:
    """Turn Ultralytics' settings sync (telemetry) off, writing the settings file only if needed."""
    prepare_environment()
    from ultralytics.utils import SETTINGS

    if SETTINGS.get("sync", False):
        SETTINGS.update({"sync": False})


def ensure_local_fonts() -> None:
    """Give Ultralytics' plots a local font so they never try to download Arial.

    Ultralytics looks for Arial.ttf in its config folder and otherwise downloads it (an HTTP
    request per plot on an offline robot). Matplotlib's DejaVu Sans is installed with
    Ultralytics; a copy under the name Ultralytics asks for, written only if absent, keeps
    plotting local. Lettering in plots is then DejaVu Sans.
    """
    prepare_environment()
    import matplotlib
    from ultralytics.utils import USER_CONFIG_DIR

    src = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    for name in ("Arial.ttf", "Arial.Unicode.ttf"):
        dst = Path(USER_CONFIG_DIR) / name
        if dst.exists() or not src.is_file():
            continue
        try:
            dst.parent.mkdir(parents=True, exist_ok=True)
            tmp = dst.with_suffix(".tmp")
            shutil.copyfile(src, tmp)
            tmp.replace(dst)
        except OSError as exc:
            print(f"warning: cannot write {dst} ({exc}); plots may try to download a font", file=sys.stderr)


def prepare_ultralytics() -> None:
    """Everything that keeps Ultralytics offline; call before training or validation."""
    disable_sync()
    ensure_local_fonts()
