"""Keep Ultralytics off the network: import this module before ``ultralytics``.

Robots often run without internet, and a perception node must never stall on a download,
an update check or telemetry. ``YOLO_OFFLINE`` makes Ultralytics treat the machine as
offline (no checks, no events); settings sync is turned off as well.
"""

from __future__ import annotations

import os

os.environ["YOLO_OFFLINE"] = "1"


def disable_sync() -> None:
    """Turn Ultralytics' settings sync (telemetry) off, writing the settings file only if needed."""
    from ultralytics.utils import SETTINGS

    if SETTINGS.get("sync", False):
        SETTINGS.update({"sync": False})
