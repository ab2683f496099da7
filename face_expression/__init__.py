"""face_expression: faces and their expressions from camera frames, with YOLOv5."""

__version__ = "0.1.0"
