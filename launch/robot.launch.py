"""Robot setup: the face expression detector alone, on a camera the robot already publishes.

    ros2 launch face_expression robot.launch.py image_topic:=/head_camera/image_raw
    ros2 launch face_expression robot.launch.py namespace:=left image_topic:=/left/image_raw

Arguments (``ros2 launch face_expression robot.launch.py --show-args``):
  namespace     namespace of the detector and its outputs ('' = root): <ns>/detections,
                <ns>/annotated_image, <ns>/label_info
  image_topic   camera topic to read (sensor_msgs/Image); a relative name resolves inside namespace
  params_file   detector parameters (default: the installed config/detector.yaml)
  model         model file; '' keeps the params_file value ('' there = the bundled model)
  device        cpu, cuda, cuda:N or N; '' keeps the params_file value
  use_sim_time  true on a robot or bag replay that publishes /clock
  log_level     debug, info, warn, error or fatal
  hri           true also publishes ROS4HRI faces (/humans/faces/...); '' keeps the params_file value
  lifecycle     true starts the managed (lifecycle) detector instead of the plain one
  autostart     with lifecycle:=true, configure and activate it at once (false: leave it unconfigured
                for a lifecycle manager or `ros2 lifecycle set`)
  rviz          true opens RViz on <ns>/annotated_image (off by default: robots are often headless)

webcam.launch.py includes this file for its detector, so both setups start the same node.
"""

from __future__ import annotations

import re

from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, EmitEvent, OpaqueFunction, SetEnvironmentVariable
from launch.conditions import IfCondition
from launch.events import Shutdown
from launch.events.process import ProcessExited
from launch.substitutions import EnvironmentVariable, LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode, LifecycleTransition, Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare
from lifecycle_msgs.msg import Transition

PACKAGE = "face_expression"
NODE_NAME = "face_expression_detector"
#: Devices the detector accepts (its own check, engine.detector.check_device, says the same).
DEVICE = re.compile(r"cpu|cuda|cuda:\d+|\d+")

PROFILES_ENV = "FASTDDS_DEFAULT_PROFILES_FILE"


def _large_frames_transport(share: FindPackageShare) -> SetEnvironmentVariable:
    """Fast DDS with a shared-memory segment that holds 640x480..1920x1080 frames, for every process.

    Fast DDS' default 512 KB segment cannot hold such a frame: its fragments crowd each other out
    and frames arrive late or not at all. A profile the user already exported is kept.
    """
    profile = PathJoinSubstitution([share, "config", "fastdds_large_frames.xml"])
    return SetEnvironmentVariable(PROFILES_ENV, EnvironmentVariable(PROFILES_ENV, default_value=profile))


def _annotated_topic(namespace: str, pushed: str = "") -> str:
    """Absolute name of the detector's annotated_image (the RViz config needs absolute names).

    ``pushed`` is a namespace pushed by an including launch file (PushRosNamespace); like
    launch_ros, it prefixes a relative ``namespace`` only.
    """
    if not namespace.startswith("/"):
        namespace = f"{pushed}/{namespace}"
    parts = [p for p in namespace.split("/") if p]
    return "/" + "/".join([*parts, "annotated_image"])


def _detector_exited(event: ProcessExited, context: LaunchContext) -> list[EmitEvent]:
    """End the launch with the detector; a detector that failed makes ros2 launch exit 1, not 0.

    Without this, a bad model, device or params file printed the detector's FATAL line and
    ``ros2 launch`` still exited 0 (found by running it), so scripts and service managers could
    not see the failure. Exit code 0 (Ctrl-C, clean shutdown) ends the launch quietly.
    """
    if context.is_shutdown:
        return []
    if event.returncode != 0:
        raise RuntimeError(f"{event.action.name} exited with code {event.returncode}; see its output above")
    return [EmitEvent(event=Shutdown(reason="the detector exited"))]


def _truthy(value: str) -> bool:
    return value.lower() == "true"


def _detector(context: LaunchContext, overrides: dict[str, object]) -> list:
    """The plain detector, or the lifecycle one (driven to active when autostart is true)."""
    common = {
        "package": PACKAGE,
        "name": NODE_NAME,
        "namespace": LaunchConfiguration("namespace"),
        "parameters": [LaunchConfiguration("params_file"), overrides],
        "remappings": [("image", LaunchConfiguration("image_topic"))],
        "arguments": ["--ros-args", "--log-level", LaunchConfiguration("log_level")],
        "output": "screen",
        "emulate_tty": True,
        "on_exit": _detector_exited,
    }
    if not _truthy(LaunchConfiguration("lifecycle").perform(context)):
        return [Node(executable="detector", **common)]
    node = LifecycleNode(executable="lifecycle_detector", **common)
    if not _truthy(LaunchConfiguration("autostart").perform(context)):
        return [node]
    parts = [
        p
        for ns in (
            context.launch_configurations.get("ros_namespace", ""),
            LaunchConfiguration("namespace").perform(context),
        )
        for p in ns.split("/")
        if p
    ]
    full_name = "/" + "/".join([*parts, NODE_NAME])
    start = LifecycleTransition(
        lifecycle_node_names=[full_name],
        transition_ids=[Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_ACTIVATE],
    )
    return [node, start]


def _detector_and_viewer(context: LaunchContext) -> list[Node]:
    """Build the nodes once the arguments are known.

    ``model`` and ``device`` override the params file only when given, so a params_file that
    sets them is not silently overruled by the launch defaults. String parameters are wrapped in
    ParameterValue(value_type=str): otherwise launch would read a device of ``0`` as an integer
    and the node would reject it.
    """
    overrides: dict[str, object] = {
        "use_sim_time": ParameterValue(LaunchConfiguration("use_sim_time"), value_type=bool),
    }
    for name in ("model", "device"):
        value = LaunchConfiguration(name).perform(context)
        if value:
            overrides[name] = ParameterValue(value, value_type=str)
    device = LaunchConfiguration("device").perform(context)
    if device and not DEVICE.fullmatch(device):
        # Like DeclareLaunchArgument's choices: a launch error before any process starts.
        raise ValueError(
            f'Argument "device" provided value "{device}" is not valid. Valid options are: '
            "'' (the params file's), cpu, cuda, cuda:N, N"
        )
    hri = LaunchConfiguration("hri").perform(context)
    if hri:
        overrides["hri"] = ParameterValue(hri, value_type=bool)

    # The RViz config shows /annotated_image; remap it to where this detector publishes it.
    annotated = _annotated_topic(
        LaunchConfiguration("namespace").perform(context),
        context.launch_configurations.get("ros_namespace", ""),
    )
    viewer = Node(
        package="rviz2",
        executable="rviz2",
        namespace=LaunchConfiguration("namespace"),
        arguments=["-d", LaunchConfiguration("rviz_config")],
        remappings=[("/annotated_image", annotated)] if annotated != "/annotated_image" else [],
        parameters=[{"use_sim_time": ParameterValue(LaunchConfiguration("use_sim_time"), value_type=bool)}],
        condition=IfCondition(LaunchConfiguration("rviz")),
        output="screen",
    )
    return [*_detector(context, overrides), viewer]


def generate_launch_description() -> LaunchDescription:
    """Arguments first, then the detector (and RViz when rviz:=true)."""
    share = FindPackageShare(PACKAGE)
    return LaunchDescription(
        [
            _large_frames_transport(share),
            DeclareLaunchArgument(
                "namespace",
                default_value="",
                description="Namespace of the detector and its output topics ('' = root).",
            ),
            DeclareLaunchArgument(
                "image_topic",
                default_value="camera/image_raw",
                description="Camera topic to subscribe to; relative names resolve inside namespace.",
            ),
            DeclareLaunchArgument(
                "params_file",
                default_value=PathJoinSubstitution([share, "config", "detector.yaml"]),
                description="Detector parameter file.",
            ),
            DeclareLaunchArgument(
                "model",
                default_value="",
                description="Model file (.pt, .onnx, *_openvino_model); '' = keep params_file's value.",
            ),
            DeclareLaunchArgument(
                "device",
                default_value="",
                description="Inference device (cpu, cuda, cuda:N, N); '' = keep params_file's value.",
            ),
            DeclareLaunchArgument(
                "use_sim_time",
                default_value="false",
                choices=["true", "false", "True", "False"],
                description="Use /clock (simulation, bag replay).",
            ),
            DeclareLaunchArgument(
                "log_level",
                default_value="info",
                choices=["debug", "info", "warn", "error", "fatal"],
                description="Logging level of the detector.",
            ),
            DeclareLaunchArgument(
                "hri",
                default_value="",
                choices=["", "true", "false", "True", "False"],
                description="ROS4HRI faces on /humans/faces (REP-155); '' = keep params_file's value.",
            ),
            DeclareLaunchArgument(
                "lifecycle",
                default_value="false",
                choices=["true", "false", "True", "False"],
                description="Start the managed (lifecycle) detector instead of the plain one.",
            ),
            DeclareLaunchArgument(
                "autostart",
                default_value="true",
                choices=["true", "false", "True", "False"],
                description="With lifecycle:=true: configure and activate it at once.",
            ),
            DeclareLaunchArgument(
                "rviz",
                default_value="false",
                choices=["true", "false", "True", "False"],
                description="Open RViz on the annotated image.",
            ),
            DeclareLaunchArgument(
                "rviz_config",
                default_value=PathJoinSubstitution([share, "config", "face_expression.rviz"]),
                description="RViz configuration file.",
            ),
            OpaqueFunction(function=_detector_and_viewer),
        ]
    )
