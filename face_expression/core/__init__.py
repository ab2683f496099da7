"""ROS-free, torch-free building blocks: detections, geometry, codec, drawing, frame sources, metrics."""
