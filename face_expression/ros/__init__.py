"""Thin rclpy adapters: message conversions, QoS, start-up, the newest-frame reader and the nodes."""
