"""A real ROS 2 workspace: colcon build, ros2 launch and ros2 run of this package, as a user runs them.

A temporary workspace gets the repository in ``src/face_expression`` (the files a clone holds,
with this checkout's uncommitted edits), is built with colcon and sourced, and every command runs
in bash exactly as the README's "In a ROS 2 workspace" section writes it. Ctrl-C is a SIGINT to the
whole process group, as a terminal sends it.

Needs colcon and the ros2 command line: a ROS 2 distro, or ``../shared/ros2-tools/install.sh
.venv`` on the PyPI-wheel venv (CI does that). Without them these tests skip with the reason;
FACE_EXPRESSION_REQUIRE_ROS2_TOOLS=1 (set by .ci/run) turns the skip into a failure.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from node_parameters import USB_CAM_RGB8_FORMATS

REPO = Path(__file__).resolve().parents[2]
PACKAGE = "face_expression"
VENV_BIN = Path(sys.executable).parent
REQUIRE_TOOLS = "FACE_EXPRESSION_REQUIRE_ROS2_TOOLS"
CLIP = "src/face_expression/media/carphone.mp4"

# The README's commands, verbatim (test_readme_workspace_section_is_what_these_tests_run checks it).
BUILD = "python3 -m colcon build --symlink-install"
SOURCE = "source install/setup.bash"
WEBCAM = (
    "ros2 launch face_expression webcam.launch.py camera_driver:=opencv "
    f"video_device:={CLIP} loop:=true rviz:=false"
)
ECHO = "ros2 topic echo --once --filter 'len(m.detections) > 0' /detections vision_msgs/msg/Detection2DArray"
README_COMMANDS = (BUILD, SOURCE, WEBCAM, ECHO)

EXECUTABLES = {
    "detector",
    "lifecycle_detector",
    "camera",
    "recorder",
    "face-expression-demo",
    "face-expression-train",
    "face-expression-eval",
    "face-expression-dataset",
    "face-expression-export",
    "face-expression-label",
}
OFFLINE_TOOLS = ("face-expression-train", "face-expression-eval", "face-expression-dataset")
OFFLINE_TOOLS += ("face-expression-export",)
MODEL_NAME = "face_expression_yolov5n_starter"


def missing_tools() -> str | None:
    """Why colcon / ros2 cannot run here, or None when they can."""
    path = f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    for exe in ("colcon", "ros2"):
        if shutil.which(exe, path=path) is None:
            return f"`{exe}` not installed (no ROS 2 distro; run ../shared/ros2-tools/install.sh .venv)"
    for module in ("launch_ros", "ros2launch", "ros2run", "ros2topic", "ros2param"):
        if importlib.util.find_spec(module) is None:
            return f"Python package {module} not installed (no ROS 2 distro; see ../shared/ros2-tools)"
    return None


@pytest.fixture(scope="session")
def tools() -> None:
    """Skip (or, where FACE_EXPRESSION_REQUIRE_ROS2_TOOLS=1, fail) without colcon and ros2."""
    reason = missing_tools()
    if reason is None:
        return
    if os.environ.get(REQUIRE_TOOLS) == "1":
        pytest.fail(f"{REQUIRE_TOOLS}=1 but {reason}")
    pytest.skip(reason)


def shell_env() -> dict[str, str]:
    """A user's shell: the venv (our stand-in for /opt/ros) first on PATH, nothing on PYTHONPATH.

    ROS_DOMAIN_ID and ROS_AUTOMATIC_DISCOVERY_RANGE come from conftest, so this run's nodes meet
    no one else's.
    """
    env = dict(os.environ, RCUTILS_COLORIZED_OUTPUT="0", PYTHONUNBUFFERED="1")
    env.pop("PYTHONPATH", None)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(VENV_BIN.parent)
    return env


def run(ws: Path, command: str, timeout: float = 120, source: bool = True) -> subprocess.CompletedProcess:
    """``command`` in bash in the workspace, after ``source install/setup.bash`` unless not yet built."""
    script = f"{SOURCE} && {command}" if source else command
    proc = subprocess.Popen(
        ["bash", "-c", script],
        cwd=ws,
        env=shell_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # on a timeout the whole group goes, not only bash
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def ask_node(ws: Path, command: str, timeout: float = 60, attempt: float = 20) -> str:
    """A ``ros2 param``/``ros2 node``/``ros2 service`` query, repeated while it cannot succeed yet.

    Repeated while discovery has not found the node, and when one attempt hangs: these commands
    wait for a service response without a time limit, and a response sent before the node matched
    the command's fresh client is lost.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = run(ws, command, timeout=attempt)
        except subprocess.TimeoutExpired:
            if time.monotonic() > deadline:
                raise
            continue
        if result.returncode == 0 or "Node not found" not in result.stderr or time.monotonic() > deadline:
            return ok(result)
        time.sleep(0.5)


def ok(result: subprocess.CompletedProcess) -> str:
    command = result.args[-1]
    assert result.returncode == 0, f"{command}\nexit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


class Background:
    """A long-running command (ros2 launch, ros2 run) in its own process group, output to a file."""

    def __init__(self, ws: Path, command: str, log: Path) -> None:
        self.command = command
        self.log = log
        self._file = log.open("w")
        self.proc = subprocess.Popen(
            ["bash", "-c", f"{SOURCE} && exec {command}"],
            cwd=ws,
            env=shell_env(),
            stdout=self._file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        if not self._file.closed:
            self._file.flush()
        return self.log.read_text()

    def wait_for(self, text: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return
            assert self.proc.poll() is None, f"{self.command} ended early:\n{self.output()}"
            time.sleep(0.2)
        raise AssertionError(f"no {text!r} from {self.command} after {timeout:.0f} s:\n{self.output()}")

    def ctrl_c(self, timeout: float = 30) -> int:
        """SIGINT to the process group, as a terminal's Ctrl-C; the exit code."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
                raise AssertionError(f"{self.command} still running {timeout:.0f} s after Ctrl-C") from None
        self._file.close()
        return self.proc.returncode


@pytest.fixture
def background(tmp_path: Path) -> Iterator[list[Background]]:
    """Started commands; any still running at the end are stopped with SIGKILL (a failed test)."""
    started: list[Background] = []
    yield started
    for item in started:
        if item.proc.poll() is None:
            os.killpg(item.proc.pid, signal.SIGKILL)
            item.proc.wait()


def start(background: list[Background], ws: Path, command: str, log: Path) -> Background:
    item = Background(ws, command, log)
    background.append(item)
    return item


def assert_clean_exit(item: Background, launched: int) -> None:
    """Exit 0, every launched process 'finished cleanly', no traceback or died process."""
    code = item.ctrl_c()
    out = item.output()
    assert code == 0, f"{item.command}: exit {code} after Ctrl-C\n{out}"
    assert "Traceback" not in out and "process has died" not in out, out
    if launched:
        assert out.count("process has finished cleanly") == launched, out


def faces_in(echo_output: str) -> list[str]:
    """Class names of the detections ``ros2 topic echo`` printed."""
    return re.findall(r"class_id: (\w+)", echo_output)


def copy_repository(dest: Path) -> None:
    """The files a clone of this repository holds, plus this checkout's uncommitted edits.

    No .venv, build/ or other ignored output: the workspace sees what a user's clone would.
    """
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=False,
    )
    if listed.returncode != 0:  # not a git checkout (a source archive): everything but outputs
        ignore = shutil.ignore_patterns(".git", ".venv", "build", "install", "log", "__pycache__", "runs")
        shutil.copytree(REPO, dest, ignore=ignore)
        return
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = REPO / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)


def make_workspace(root: Path, build: str) -> Path:
    """``root/src/face_expression``, then ``build`` run in ``root``."""
    copy_repository(root / "src" / PACKAGE)
    ok(run(root, build, timeout=300, source=False))
    return root


@pytest.fixture(scope="session")
def workspace(tools: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The README's workspace: built with ``colcon build --symlink-install``; one per session."""
    ws = make_workspace(tmp_path_factory.mktemp("ros2_ws"), BUILD)
    yield ws
    # `ros2` verbs without --no-daemon start a daemon in this run's domain: stop it.
    run(ws, "ros2 daemon stop", timeout=30)


@pytest.fixture(scope="session")
def plain_workspace(tools: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same, built with a plain ``colcon build`` (copies instead of symlinks)."""
    return make_workspace(tmp_path_factory.mktemp("ros2_ws_plain"), "colcon build")


# -- colcon ----------------------------------------------------------------------------------
def test_colcon_finds_only_this_package(workspace: Path) -> None:
    """interfaces/vision_msgs must never override a distro's full vision_msgs in a workspace."""
    out = ok(run(workspace, "colcon list", source=False))
    assert out.split() == [PACKAGE, f"src/{PACKAGE}", "(ros.ament_python)"], out


@pytest.mark.parametrize("kind", ["symlink", "plain"])
def test_colcon_build_installs_launch_config_model_and_executables(
    kind: str, workspace: Path, plain_workspace: Path
) -> None:
    ws = workspace if kind == "symlink" else plain_workspace
    share = ws / "install" / PACKAGE / "share" / PACKAGE
    source = ws / "src" / PACKAGE
    expected = [p.relative_to(source) for p in (source / "launch").glob("*.launch.py")]
    expected += [p.relative_to(source) for p in (source / "config").iterdir()]
    expected += [p.relative_to(source) for p in (source / "models").glob("*.pt")]
    expected += [p.relative_to(source) for p in (source / "models").glob("fer_mini_xception*")]
    assert {p.name for p in expected} >= {
        "webcam.launch.py",
        "robot.launch.py",
        "detector.yaml",
        "camera.yaml",
        "usb_cam.yaml",
        "face_expression.rviz",
        "face_expression_yolov5n_starter.pt",
        "fer_mini_xception.onnx",  # the second stage, its card and its licence
        "fer_mini_xception.json",
        "fer_mini_xception_LICENSE.txt",
    }
    missing = [str(rel) for rel in [*expected, Path("package.xml")] if not (share / rel).is_file()]
    assert missing == [], f"colcon build does not install {missing}"
    linked = (share / "launch" / "webcam.launch.py").is_symlink()
    assert linked == (kind == "symlink"), "--symlink-install links the sources; a plain build copies"

    out = ok(run(ws, "ros2 pkg executables face_expression"))
    assert set(out.split()) - {PACKAGE} == EXECUTABLES, out
    out = ok(run(ws, 'python3 -c "import face_expression; print(face_expression.__file__)"'))
    assert out.startswith(str(ws)), f"face_expression imported from {out}, not from the workspace"


def test_launch_files_name_only_installed_files(workspace: Path) -> None:
    """Every default path of every launch argument (params, RViz config, included launch file) exists."""
    code = """
import sys
from launch import LaunchContext
from launch.actions import DeclareLaunchArgument
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.utilities import perform_substitutions
from ament_index_python.packages import get_package_share_directory

share = get_package_share_directory("face_expression")
for name in ("webcam.launch.py", "robot.launch.py"):
    source = PythonLaunchDescriptionSource(f"{share}/launch/{name}")
    for action in source.get_launch_description(LaunchContext()).entities:
        if isinstance(action, DeclareLaunchArgument) and action.default_value:
            print(name, action.name, perform_substitutions(LaunchContext(), action.default_value))
"""
    out = ok(run(workspace, f"python3 -c '{code}'"))
    files = [line.split() for line in out.splitlines() if line.endswith((".yaml", ".rviz", ".launch.py"))]
    names = {Path(f[2]).name for f in files}
    assert names >= {"detector.yaml", "camera.yaml", "usb_cam.yaml", "face_expression.rviz"}, out
    share = workspace / "install" / PACKAGE / "share" / PACKAGE
    for launch_file, argument, path in files:
        assert Path(path).is_file(), f"{launch_file}: {argument} defaults to {path}, which is not installed"
        assert Path(path).is_relative_to(share), path


def test_launch_arguments_as_ros2_launch_shows_them(workspace: Path) -> None:
    robot = ok(run(workspace, "ros2 launch face_expression robot.launch.py --show-args"))
    for name in (
        "namespace",
        "image_topic",
        "params_file",
        "model",
        "device",
        "use_sim_time",
        "log_level",
        "hri",
        "lifecycle",
        "autostart",
    ):
        assert f"'{name}':" in robot, robot
    rviz = re.search(r"'rviz':\n.*Valid choices are: .*\n\s+\(default: '(\w+)'\)", robot)
    assert rviz and rviz.group(1) == "false", "robots are often headless: no RViz by default"
    assert "(default: 'camera/image_raw')" in robot, "relative image topic: follows the namespace"

    webcam = ok(run(workspace, "ros2 launch face_expression webcam.launch.py --show-args"))
    assert "Valid choices are: ['usb_cam', 'opencv', 'none']" in webcam, webcam
    pixel_format = re.search(r"'pixel_format':\n(?:.*\n)*?\s+\(default: '(\w+)'\)", webcam)
    assert pixel_format and pixel_format.group(1) in USB_CAM_RGB8_FORMATS, webcam
    assert "'loop':" in webcam and "'hri':" in webcam


# -- ros2 launch -----------------------------------------------------------------------------
def test_webcam_launch_with_the_opencv_camera_finds_faces_and_ctrl_c_ends_it(
    workspace: Path, background: list[Background], tmp_path: Path
) -> None:
    """The README's command: the installed model, faces on /detections, then Ctrl-C."""
    launch = start(background, workspace, WEBCAM, tmp_path / "launch.log")
    launch.wait_for("listening on /camera/image_raw")
    out = launch.output()
    model = workspace / "install" / PACKAGE / "share" / PACKAGE / "models" / f"{MODEL_NAME}.pt"
    assert f"model {model} " in out, f"the detector did not load the installed model:\n{out}"
    echo = ok(run(workspace, ECHO, timeout=60))
    assert set(faces_in(echo)) <= {"neutral", "smile"} and faces_in(echo), echo
    assert "frame_id: camera" in echo
    assert_clean_exit(launch, launched=2)


def test_webcam_launch_with_the_lifecycle_detector_autostarts_it_to_active(
    workspace: Path, background: list[Background], tmp_path: Path
) -> None:
    """lifecycle:=true: the managed node, configured and activated by the launch file itself."""
    launch = start(background, workspace, f"{WEBCAM} lifecycle:=true", tmp_path / "launch.log")
    launch.wait_for("listening on /camera/image_raw")
    get_state = "ros2 service call /face_expression_detector/get_state lifecycle_msgs/srv/GetState"
    state = ask_node(workspace, get_state)
    assert "label='active'" in state, state
    assert faces_in(ok(run(workspace, ECHO, timeout=60)))
    assert_clean_exit(launch, launched=2)


def test_robot_launch_in_a_namespace_on_another_camera_topic(
    workspace: Path, background: list[Background], tmp_path: Path
) -> None:
    """namespace, image_topic, params_file, model and device reach the node; outputs only under /robot1."""
    model = tmp_path / "my_model.pt"
    models = workspace / "src" / PACKAGE / "models"
    for suffix in (".pt", ".json"):
        shutil.copy2(models / f"{MODEL_NAME}{suffix}", model.with_suffix(suffix))
    params = yaml.safe_load((workspace / "src" / PACKAGE / "config" / "detector.yaml").read_text())
    params["/**"]["ros__parameters"].update(conf_threshold=0.3, device="cuda:0")  # device:=cpu overrides
    params_file = tmp_path / "my_detector.yaml"
    params_file.write_text(yaml.safe_dump(params))

    camera = start(
        background,
        workspace,
        f"ros2 run face_expression camera --ros-args -p source:={CLIP} -p loop:=true "
        "-r image_raw:=/head/image_raw",
        tmp_path / "camera.log",
    )
    launch = start(
        background,
        workspace,
        "ros2 launch face_expression robot.launch.py namespace:=robot1 image_topic:=/head/image_raw "
        f"params_file:={params_file} model:={model} device:=cpu",
        tmp_path / "launch.log",
    )
    launch.wait_for("listening on /head/image_raw")
    camera.wait_for("publishing")
    echo = ok(run(workspace, ECHO.replace("/detections", "/robot1/detections"), timeout=60))
    assert faces_in(echo), echo

    outputs = {"detections", "annotated_image", "label_info"}
    deadline = time.monotonic() + 30  # discovery on a loaded machine can take more than one listing
    while True:
        topics = set(ok(run(workspace, "ros2 topic list --no-daemon --spin-time 2")).split())
        if {f"/robot1/{name}" for name in outputs} <= topics or time.monotonic() > deadline:
            break
    assert {f"/robot1/{name}" for name in outputs} <= topics, topics
    stray = {t for t in topics if t.rsplit("/", 1)[-1] in outputs and not t.startswith("/robot1/")}
    assert stray == set(), f"outputs outside /robot1: {stray}"
    assert "/robot1/head/image_raw" not in topics and "/camera/image_raw" not in topics, topics

    node = "/robot1/face_expression_detector"
    dumped = yaml.safe_load(ask_node(workspace, f"ros2 param dump --no-daemon {node}"))
    values = dumped[node]["ros__parameters"]
    assert {k: values[k] for k in ("model", "device", "conf_threshold", "image_qos")} == {
        "model": str(model),
        "device": "cpu",
        "conf_threshold": 0.3,
        "image_qos": "auto",
    }, values
    assert_clean_exit(launch, launched=1)
    assert_clean_exit(camera, launched=0)


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("use_sim_time:=maybe", 'Argument "use_sim_time" provided value "maybe" is not valid'),
        ("log_level:=loud", 'Argument "log_level" provided value "loud" is not valid'),
        ("device:=gpu", 'Argument "device" provided value "gpu" is not valid'),
        ("namespace:=robot-1", "Invalid namespace"),
    ],
)
def test_robot_launch_rejects_a_bad_argument_before_starting_anything(
    workspace: Path, argument: str, message: str
) -> None:
    result = run(workspace, f"ros2 launch face_expression robot.launch.py {argument}", timeout=60)
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert message in out, out
    assert "process started" not in out, out


def test_robot_launch_exits_1_when_the_detector_cannot_start(workspace: Path, tmp_path: Path) -> None:
    """A model that does not exist: the detector's FATAL line, and ros2 launch fails with it."""
    missing = tmp_path / "nope.pt"
    result = run(workspace, f"ros2 launch face_expression robot.launch.py model:={missing}", timeout=120)
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "[FATAL]" in out and str(missing) in out, out
    assert "detector-1 exited with code 1" in out, out


# -- ros2 run --------------------------------------------------------------------------------
def test_ros2_run_camera_and_detector_with_parameters(
    workspace: Path, background: list[Background], tmp_path: Path
) -> None:
    """The README's `ros2 run ... --ros-args -p`: the camera feeds the detector on /camera/image_raw."""
    camera = start(
        background,
        workspace,
        f"ros2 run face_expression camera --ros-args -p source:={CLIP} -p loop:=true",
        tmp_path / "camera.log",
    )
    detector = start(
        background,
        workspace,
        "ros2 run face_expression detector --ros-args -p imgsz:=256 -p conf_threshold:=0.3",
        tmp_path / "detector.log",
    )
    detector.wait_for("listening on /camera/image_raw")
    assert "imgsz 256" in detector.output(), detector.output()
    echo = ok(run(workspace, ECHO, timeout=60))
    assert faces_in(echo), echo
    value = ask_node(workspace, "ros2 param get --no-daemon /face_expression_detector conf_threshold")
    assert value.strip() == "Double value is: 0.3"
    assert_clean_exit(detector, launched=0)
    assert_clean_exit(camera, launched=0)
    assert "processed" in detector.output(), "the detector's closing summary line"


def test_offline_tools_run_with_ros2_run(workspace: Path) -> None:
    """Documented as `ros2 run face_expression face-expression-train ...` for colcon users."""
    for tool in OFFLINE_TOOLS:
        out = ok(run(workspace, f"ros2 run face_expression {tool} --help"))
        assert out.startswith("usage:"), f"{tool}: {out[:300]}"


# -- README ----------------------------------------------------------------------------------
def readme_workspace_commands() -> list[str]:
    """Lines of the bash blocks in the README's "In a ROS 2 workspace" section, comments removed."""
    text = (REPO / "README.md").read_text()
    section = re.search(r"^## In a ROS 2 workspace\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert section, "README has no '## In a ROS 2 workspace' section"
    blocks = re.findall(r"```bash\n(.*?)```", section.group(1), re.S)
    lines = [re.sub(r"\s+#.*$", "", line).strip() for block in blocks for line in block.splitlines()]
    return [line.removesuffix("&").strip() for line in lines if line and not line.startswith("#")]


def test_readme_workspace_section_is_what_these_tests_run() -> None:
    """Runs everywhere (no tools needed): the README must not drift from the tested commands."""
    commands = readme_workspace_commands()
    missing = [c for c in README_COMMANDS if c not in commands]
    assert missing == [], f"README's workspace section lacks the tested command(s): {missing}"
