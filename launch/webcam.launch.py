"""Webcam-only setup: a USB camera, the face expression detector and RViz on one computer.

    ros2 launch face_expression webcam.launch.py
    ros2 launch face_expression webcam.launch.py video_device:=/dev/video2 image_width:=1280 \\
        image_height:=720 pixel_format:=mjpeg2rgb
    ros2 launch face_expression webcam.launch.py camera_driver:=opencv   # no usb_cam installed
    ros2 launch face_expression webcam.launch.py camera_driver:=none image_topic:=/other/image

Topics: the camera publishes /camera/image_raw (usb_cam also /camera/camera_info); the
detector publishes /detections, /annotated_image and /label_info; RViz shows /annotated_image.

camera_driver:
  usb_cam  ros-drivers/usb_cam (usb_cam_node_exe in namespace camera), config/usb_cam.yaml
  opencv   this package's `camera` node (OpenCV), config/camera.yaml; video_device may be
           /dev/videoN, a camera index, a video file or a folder of images (loop:=true replays
           a file or folder; otherwise the camera ends with it)
  none     no camera: the detector reads image_topic, published by something else
video_device, pixel_format, image_width, image_height, framerate (and loop) override the camera's
params file; the detector arguments (image_topic, params_file, model, device, hri, lifecycle,
autostart, log_level, rviz_config) are declared by robot.launch.py, which this file includes; rviz
defaults to true here.
"""

from __future__ import annotations

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, SetEnvironmentVariable
from launch.conditions import IfCondition
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import (
    EnvironmentVariable,
    LaunchConfiguration,
    PathJoinSubstitution,
    PythonExpression,
)
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

PACKAGE = "face_expression"
PROFILES_ENV = "FASTDDS_DEFAULT_PROFILES_FILE"
CAMERA_DRIVERS = ("usb_cam", "opencv", "none")


def _large_frames_transport(share: FindPackageShare) -> SetEnvironmentVariable:
    """Fast DDS with a shared-memory segment that holds 640x480..1920x1080 frames, for every process.

    Fast DDS' default 512 KB segment cannot hold such a frame: its fragments crowd each other out
    and frames arrive late or not at all. A profile the user already exported is kept.
    """
    profile = PathJoinSubstitution([share, "config", "fastdds_large_frames.xml"])
    return SetEnvironmentVariable(PROFILES_ENV, EnvironmentVariable(PROFILES_ENV, default_value=profile))


def _driver_is(name: str) -> IfCondition:
    """True when camera_driver equals ``name`` (PythonExpression works on Humble and later)."""
    return IfCondition(PythonExpression(["'", LaunchConfiguration("camera_driver"), f"' == '{name}'"]))


def _typed(argument: str, value_type: type) -> ParameterValue:
    """A launch argument as a parameter of a fixed type (usb_cam rejects e.g. framerate 30 as int)."""
    return ParameterValue(LaunchConfiguration(argument), value_type=value_type)


def generate_launch_description() -> LaunchDescription:
    """Arguments, one camera driver (or none), then the detector and RViz via robot.launch.py."""
    share = FindPackageShare(PACKAGE)
    config = PathJoinSubstitution([share, "config"])

    usb_cam = Node(
        package="usb_cam",
        executable="usb_cam_node_exe",
        name="usb_cam",
        namespace="camera",  # -> /camera/image_raw, /camera/camera_info
        parameters=[
            LaunchConfiguration("usb_cam_params_file"),
            {
                "video_device": _typed("video_device", str),
                "pixel_format": _typed("pixel_format", str),
                "image_width": _typed("image_width", int),
                "image_height": _typed("image_height", int),
                "framerate": _typed("framerate", float),
            },
        ],
        condition=_driver_is("usb_cam"),
        output="screen",
    )

    # Our OpenCV camera takes a camera index, not a device path: /dev/video2 -> "2".
    opencv_source = PythonExpression(
        ["'", LaunchConfiguration("video_device"), "'.replace('/dev/video', '', 1)"]
    )
    opencv_camera = Node(
        package=PACKAGE,
        executable="camera",
        name="face_expression_camera",
        parameters=[
            LaunchConfiguration("camera_params_file"),
            {
                "source": ParameterValue(opencv_source, value_type=str),
                "width": _typed("image_width", int),
                "height": _typed("image_height", int),
                "rate": _typed("framerate", float),
                "loop": _typed("loop", bool),
            },
        ],
        # Explicit, so it is /camera/image_raw like usb_cam's (relative: follows a pushed namespace).
        remappings=[("image_raw", "camera/image_raw")],
        condition=_driver_is("opencv"),
        output="screen",
        emulate_tty=True,
    )

    # The detector's own arguments (params_file, model, device, hri, lifecycle, ...) are declared
    # once, in robot.launch.py: values given to this file reach it as launch configurations.
    detector = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(PathJoinSubstitution([share, "launch", "robot.launch.py"])),
        launch_arguments={
            "namespace": "",
            "use_sim_time": "false",
            "rviz": LaunchConfiguration("rviz"),
        }.items(),
    )

    return LaunchDescription(
        [
            _large_frames_transport(share),  # camera drivers, detector and RViz alike
            DeclareLaunchArgument(
                "camera_driver",
                default_value="usb_cam",
                choices=list(CAMERA_DRIVERS),
                description="usb_cam, opencv (this package's camera node) or none (frames from elsewhere).",
            ),
            DeclareLaunchArgument(
                "video_device", default_value="/dev/video0", description="Camera device (V4L2)."
            ),
            DeclareLaunchArgument(
                "pixel_format",
                default_value="yuyv2rgb",
                description="usb_cam pixel_format; yuyv2rgb/mjpeg2rgb/uyvy2rgb/rgb8 publish rgb8.",
            ),
            DeclareLaunchArgument("image_width", default_value="640", description="Capture width."),
            DeclareLaunchArgument("image_height", default_value="480", description="Capture height."),
            DeclareLaunchArgument("framerate", default_value="30.0", description="Frames per second."),
            DeclareLaunchArgument(
                "loop",
                default_value="false",
                choices=["true", "false", "True", "False"],
                description="opencv: start a video file or image folder again at its end.",
            ),
            DeclareLaunchArgument(
                "usb_cam_params_file",
                default_value=PathJoinSubstitution([config, "usb_cam.yaml"]),
                description="usb_cam parameter file.",
            ),
            DeclareLaunchArgument(
                "camera_params_file",
                default_value=PathJoinSubstitution([config, "camera.yaml"]),
                description="Parameter file of the opencv camera node.",
            ),
            DeclareLaunchArgument(
                "rviz",
                default_value="true",
                choices=["true", "false", "True", "False"],
                description="Open RViz on /annotated_image (robot.launch.py's default is false).",
            ),
            usb_cam,
            opencv_camera,
            detector,
        ]
    )
