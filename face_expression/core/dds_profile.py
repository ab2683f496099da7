"""The bundled Fast DDS profile with its shared-memory segment sized to the camera's frames.

Every process started with the profile allocates its own segment and writes zeros over all of it
at start-up (Fast DDS' SharedMemTransport::init, to map its pages at once): the bundled 16 MiB
segment, sized for two 1920x1080 rgb8 frames, made the camera driver, the detector and RViz 16 MB
larger each. A process's segment holds what it publishes (the camera its frames, the detector its
annotated images of the same size), so where the launch files know the camera's size they write a
copy of the bundled profile whose segment holds :data:`FRAMES_IN_SEGMENT` such frames instead.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

MIB = 1 << 20
#: Frames one segment holds: the newest, one being read, and room for readers that fall behind.
FRAMES_IN_SEGMENT = 4
#: The bundled profile's segment; carries 1920x1080 rgb8 without loss (two fit).
MAX_SEGMENT_BYTES = 16 * MIB
MIN_SEGMENT_BYTES = 4 * MIB
#: rgb8/bgr8, the largest encoding cameras commonly publish (usb_cam's *2rgb formats).
BYTES_PER_PIXEL = 3

_SEGMENT = re.compile(r"(<segment_size>)\s*\d+\s*(</segment_size>)")
_SEGMENT_VALUE = re.compile(r"<segment_size>\s*(\d+)\s*</segment_size>")


def segment_bytes(width: int, height: int) -> int:
    """A segment for ``FRAMES_IN_SEGMENT`` frames of ``width`` x ``height`` (whole MiB, 4-16 MiB)."""
    wanted = FRAMES_IN_SEGMENT * max(width, 1) * max(height, 1) * BYTES_PER_PIXEL
    whole_mib = -(-wanted // MIB) * MIB
    return min(MAX_SEGMENT_BYTES, max(MIN_SEGMENT_BYTES, whole_mib))


def sized_profile(bundled: Path, segment: int, folder: Path) -> Path:
    """A copy of ``bundled`` with a ``segment``-byte shared-memory segment, written in ``folder``.

    Written to a temporary name and renamed, so a process that starts meanwhile never reads half a
    file; the same size always gives the same file. Raises ValueError when ``bundled`` does not
    have exactly one segment_size, OSError when ``folder`` is not writable.
    """
    text = bundled.read_text(encoding="utf-8")
    sized, found = _SEGMENT.subn(rf"\g<1>{segment}\g<2>", text)
    if found != 1:
        raise ValueError(f"{bundled} has {found} <segment_size> elements, expected one")
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{bundled.stem}_{segment // MIB}MiB{bundled.suffix}"
    if target.is_file() and target.read_text(encoding="utf-8") == sized:
        return target
    handle, tmp = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(sized)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide it from nodes run as another user
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def segment_in(profile: Path) -> int:
    """The shared-memory segment size a profile sets (ValueError unless it sets exactly one)."""
    found = _SEGMENT_VALUE.findall(profile.read_text(encoding="utf-8"))
    if len(found) != 1:
        raise ValueError(f"{profile} has {len(found)} <segment_size> elements, expected one")
    return int(found[0])


def profile_folder() -> Path:
    """Where generated profiles go: ``$ROS_HOME/face_expression`` (``~/.ros/face_expression``)."""
    return Path(os.environ.get("ROS_HOME") or Path.home() / ".ros") / "face_expression"
