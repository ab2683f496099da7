"""ament_python package: colcon installs console scripts to lib/face_expression for `ros2 run`."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "face_expression"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml") + glob("config/*.rviz") + glob("config/*.xml")),
        (
            f"share/{PACKAGE}/models",
            glob("models/*.pt")
            + glob("models/*.onnx")
            + glob("models/*.json")
            + glob("models/*.md")
            + glob("models/*_LICENSE.txt"),
        ),
        (f"share/{PACKAGE}/media", glob("media/*.mp4") + glob("media/*.md")),
    ],
    install_requires=["setuptools"],
    # Teachers of face-expression-label only; the nodes never need them (requirements-teachers.txt).
    extras_require={"teachers": ["ai-edge-litert==2.3.0"]},
    zip_safe=False,
    maintainer="face_expression developers",
    maintainer_email="face-expression@example.com",
    description="Face detection with expression (neutral / smile) from camera frames with YOLOv5.",
    license="AGPL-3.0-only",
    entry_points={
        "console_scripts": [
            "detector = face_expression.ros.detector_node:main",
            "lifecycle_detector = face_expression.ros.lifecycle_node:main",
            "camera = face_expression.ros.camera_node:main",
            "recorder = face_expression.ros.recorder_node:main",
            "face-expression-demo = face_expression.cli.demo:main",
            "face-expression-train = face_expression.cli.train:main",
            "face-expression-eval = face_expression.cli.evaluate:main",
            "face-expression-dataset = face_expression.cli.dataset:main",
            "face-expression-label = face_expression.cli.label:main",
            "face-expression-export = face_expression.cli.export:main",
        ],
    },
)
