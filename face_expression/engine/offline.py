"""Keep Ultralytics off the network: import this module before ``ultralytics``.

Robots often run without internet, and a perception node must never stall on a download,
an update check or telemetry. ``YOLO_OFFLINE`` makes Ultralytics treat the machine as
offline (no checks, no events); settings sync is turned off as well.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

os.environ["YOLO_OFFLINE"] = "1"


def disable_sync() -> None:
    """Turn Ultralytics' settings sync (telemetry) off, writing the settings file only if needed."""
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
