"""Model loading and inference (Ultralytics/torch, or the lean ONNX/OpenVINO runtime), export, training."""
