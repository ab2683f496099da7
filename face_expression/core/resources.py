"""Where the bundled files live, in a ROS 2 install and in a source checkout."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

PACKAGE = "face_expression"
DEFAULT_MODEL_NAME = "face_expression_yolov5n_starter.pt"


def share_dir() -> Path:
    """The package's share directory (colcon/ament install), else the source checkout root."""
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

        try:
            return Path(get_package_share_directory(PACKAGE))
        except (PackageNotFoundError, OSError):  # OSError: no AMENT_PREFIX_PATH (plain venv)
            pass
    except ImportError:
        pass
    return Path(__file__).resolve().parents[2]


def default_model_path() -> Path:
    """The bundled starter model."""
    return share_dir() / "models" / DEFAULT_MODEL_NAME


def sample_stream_path() -> Path:
    """The bundled sample clip used by the demo."""
    return share_dir() / "media" / "carphone.mp4"


@contextlib.contextmanager
def ultralytics_loadable(path: str | Path) -> Iterator[str]:
    """A name for ``path`` that Ultralytics loads as it is.

    Ultralytics rewrites any ``*yolov5n.pt`` path without a letter "u" to ``*yolov5nu.pt`` and
    then tries to download that official file. Our models are named face_expression_yolov5n_starter.pt,
    so such a path is handed over as a link in a folder whose name has a "u"; the user's file is
    never touched.
    """
    from ultralytics.utils.checks import check_yolov5u_filename

    path = Path(path)
    name = str(path)
    if path.suffix != ".pt" or check_yolov5u_filename(name, verbose=False) == name:
        yield name
        return
    with tempfile.TemporaryDirectory(prefix="face_expression_unaltered_") as tmp:
        link = Path(tmp) / path.name
        link.symlink_to(path.resolve())
        yield str(link)
