"""launch/: what running the launch files cannot show here, read from their source.

The launch files themselves are run for real in test_workspace.py (colcon build, ros2 launch,
--show-args, every default file path resolved). What stays here needs no ROS 2 tools and covers
what those runs cannot reach on a machine without usb_cam and RViz: that every started
executable exists and every parameter a launch file sets is declared by the node with that type
(usb_cam's too), usb_cam's namespace, and that setup.py installs the files where ament_index
looks (for machines without colcon).
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from node_parameters import USB_CAM_PARAMETERS, USB_CAM_RGB8_FORMATS, declared_types

from face_expression.core.resources import DEFAULT_MODEL_NAME
from face_expression.ros import camera_node, detector_node

REPO = Path(__file__).resolve().parents[2]
PACKAGE = "face_expression"
LAUNCH_FILES = sorted((REPO / "launch").glob("*.launch.py"))
#: (package, executable) of other packages the launch files may start.
FOREIGN_EXECUTABLES = {("usb_cam", "usb_cam_node_exe"), ("rviz2", "rviz2")}
#: Declared parameter types of every node a launch file may start (rviz2: only use_sim_time).
NODE_PARAMETERS: dict[tuple[str, str], dict[str, type]] = {
    (PACKAGE, "detector"): {**declared_types(detector_node.PARAMETERS), "use_sim_time": bool},
    (PACKAGE, "lifecycle_detector"): {**declared_types(detector_node.PARAMETERS), "use_sim_time": bool},
    (PACKAGE, "camera"): {**declared_types(camera_node.PARAMETERS), "use_sim_time": bool},
    ("usb_cam", "usb_cam_node_exe"): {**USB_CAM_PARAMETERS, "use_sim_time": bool},
    ("rviz2", "rviz2"): {"use_sim_time": bool},
}
TYPE_NAMES = {"str": str, "int": int, "float": float, "bool": bool}


def console_scripts() -> set[str]:
    """Names of setup.py's console_scripts, read from its source (setup.py runs setup() on import)."""
    tree = ast.parse((REPO / "setup.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value == "console_scripts":
                    return {ast.literal_eval(e).split("=")[0].strip() for e in value.elts}
    raise AssertionError("setup.py has no console_scripts")


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def calls(tree: ast.AST, name: str) -> list[ast.Call]:
    """Calls of ``name(...)`` (a plain name, as the launch files import what they use)."""
    found = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    out = [n for n in found if n.func.id == name]
    for call in out:
        call.fe_tree = tree  # lets keyword() follow **name to the dict it names
    return out


def node_calls(tree: ast.AST) -> list[ast.Call]:
    """Every Node(...) and LifecycleNode(...) a launch file builds."""
    return calls(tree, "Node") + calls(tree, "LifecycleNode")


def keyword(call: ast.Call, name: str) -> ast.expr | None:
    """A keyword argument, also one passed in ``**common`` where ``common = {...}`` in the file."""
    explicit = next((k.value for k in call.keywords if k.arg == name), None)
    tree = getattr(call, "fe_tree", None)
    if explicit is not None or tree is None:
        return explicit
    for k in call.keywords:
        if k.arg is None and isinstance(k.value, ast.Name):
            shared = assigned(tree, k.value.id)
            if isinstance(shared, ast.Dict):
                for key, value in zip(shared.keys, shared.values):
                    if isinstance(key, ast.Constant) and key.value == name:
                        return value
    return None


def assigned(tree: ast.AST, name: str) -> ast.expr | None:
    """The value last assigned to a plain variable ``name`` anywhere in the file."""
    values = [
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in n.targets)
    ]
    return values[-1] if values else None


def literal(tree: ast.AST, expr: ast.expr | None) -> object:
    """A literal, or a variable holding one (PACKAGE = "face_expression")."""
    assert expr is not None, "missing argument"
    if isinstance(expr, ast.Name):
        value = assigned(tree, expr.id)
        assert value is not None, f"{expr.id} is not a constant of the file"
        return literal(tree, value)
    return ast.literal_eval(expr)


def node_executables(tree: ast.AST) -> list[tuple[str, str]]:
    """(package, executable) of every Node(...) call; both must be constants so they can be checked."""
    nodes = node_calls(tree)
    return [(literal(tree, keyword(c, "package")), literal(tree, keyword(c, "executable"))) for c in nodes]


def value_type(value: ast.expr, helpers: dict[str, int]) -> type | None:
    """Type a launch parameter value gets: a literal's, or value_type= of ParameterValue/helper."""
    if isinstance(value, ast.Constant):
        return type(value.value)
    if isinstance(value, ast.Call) and isinstance(value.func, ast.Name):
        if value.func.id == "ParameterValue":
            typed = keyword(value, "value_type")
        elif value.func.id in helpers and len(value.args) > helpers[value.func.id]:
            typed = value.args[helpers[value.func.id]]
        else:
            return None
        if isinstance(typed, ast.Name) and typed.id in TYPE_NAMES:
            return TYPE_NAMES[typed.id]
    return None


def _value_type_helpers(tree: ast.Module) -> dict[str, int]:
    """Functions taking a ``value_type`` argument -> that argument's position."""
    return {
        f.name: [a.arg for a in f.args.args].index("value_type")
        for f in ast.walk(tree)
        if isinstance(f, ast.FunctionDef) and "value_type" in [a.arg for a in f.args.args]
    }


def _passed_dicts(tree: ast.Module, call: ast.Call) -> tuple[list[ast.Dict], set[str]]:
    """Dict literals in ``parameters=[...]`` and in the variables it names; those names."""
    dicts: list[ast.Dict] = []
    names: set[str] = set()
    params = keyword(call, "parameters")
    for element in params.elts if isinstance(params, ast.List) else []:
        if isinstance(element, ast.Dict):
            dicts.append(element)
        elif isinstance(element, ast.Name):
            names.add(element.id)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Dict):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id in names for t in targets):
                dicts.append(node.value)
    return dicts, names


def _loop_assigned(tree: ast.Module, names: set[str], helpers: dict[str, int]) -> dict[str, type | None]:
    """``for name in (...): overrides[name] = ...`` -> a type per name."""
    types: dict[str, type | None] = {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.For) and isinstance(node.target, ast.Name)):
            continue
        for inner in ast.walk(node):
            if (
                isinstance(inner, ast.Assign)
                and isinstance(inner.targets[0], ast.Subscript)
                and isinstance(inner.targets[0].value, ast.Name)
                and inner.targets[0].value.id in names
            ):
                for key in ast.literal_eval(node.iter):
                    types[key] = value_type(inner.value, helpers)
    return types


def parameter_types(tree: ast.Module, call: ast.Call) -> dict[str, type | None]:
    """Parameter name -> type for the dicts a Node(...) passes, including dicts built in a variable.

    Understands the patterns the launch files use: dict literals, ``overrides[name] = ...`` in a
    ``for name in (...)`` loop, and small helpers ``f(argument, type)`` returning a ParameterValue.
    """
    helpers = _value_type_helpers(tree)
    dicts, names = _passed_dicts(tree, call)
    types = _loop_assigned(tree, names, helpers)
    for d in dicts:
        for key, value in zip(d.keys, d.values):
            assert isinstance(key, ast.Constant), ast.unparse(d)
            types[key.value] = value_type(value, helpers)
    return types


# -- source checks -------------------------------------------------------------------------
@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_every_started_executable_exists(path: Path) -> None:
    """Our executables are setup.py console scripts; others only usb_cam's and rviz2's."""
    scripts = console_scripts()
    started = node_executables(parse(path))
    assert started, f"{path.name} starts no Node"
    for package, executable in started:
        if package == PACKAGE:
            assert executable in scripts, f"{path.name}: {executable} is not a console script of setup.py"
        else:
            assert (package, executable) in FOREIGN_EXECUTABLES, (
                f"{path.name}: unknown {package}/{executable}"
            )


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_parameters_set_by_launch_are_declared_with_the_same_type(path: Path) -> None:
    """A launch-time override of an undeclared name or of the wrong type would stop the node."""
    tree = parse(path)
    for call, started in zip(node_calls(tree), node_executables(tree)):
        declared = NODE_PARAMETERS[started]
        for name, typ in parameter_types(tree, call).items():
            assert name in declared, f"{path.name}: {started[1]} does not declare {name}"
            assert typ is declared[name], f"{path.name}: {started[1]}.{name} is {typ}, not {declared[name]}"


def test_usb_cam_runs_in_namespace_camera_and_publishes_rgb8() -> None:
    """usb_cam cannot run here: its namespace (-> /camera/image_raw) and format, from the source."""
    tree = parse(REPO / "launch" / "webcam.launch.py")
    usb_cam = next(c for c in calls(tree, "Node") if literal(tree, keyword(c, "package")) == "usb_cam")
    assert literal(tree, keyword(usb_cam, "namespace")) == "camera"
    args = {ast.literal_eval(c.args[0]): c for c in calls(tree, "DeclareLaunchArgument")}
    assert ast.literal_eval(keyword(args["pixel_format"], "default_value")) in USB_CAM_RGB8_FORMATS


# -- installation --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def install_prefix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """setup.py installed into a temporary prefix the way colcon's ament_python build does it.

    Runs on a copy, so no build/ or *.egg-info appears in the source tree.
    """
    work = tmp_path_factory.mktemp("install")
    source, build, prefix = work / "src", work / "build", work / "prefix"
    source.mkdir()
    build.mkdir()
    for name in ("setup.py", "setup.cfg", "package.xml"):
        shutil.copy2(REPO / name, source / name)
    for name in ("resource", "face_expression", "launch", "config", "models", "media"):
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    cmd = [sys.executable, "setup.py", "-q", "egg_info", "--egg-base", str(build)]
    cmd += ["build", "--build-base", str(build / "build")]
    cmd += ["install", "--prefix", str(prefix), "--single-version-externally-managed"]
    cmd += ["--record", str(work / "installed.txt")]
    result = subprocess.run(cmd, cwd=source, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return prefix


def share_directory(prefix: Path) -> Path:
    """What get_package_share_directory answers with AMENT_PREFIX_PATH set to the prefix alone."""
    code = f"from ament_index_python.packages import get_package_share_directory as g; print(g('{PACKAGE}'))"
    env = dict(os.environ, AMENT_PREFIX_PATH=str(prefix))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    assert out.returncode == 0, out.stderr
    return Path(out.stdout.strip())


def test_setup_py_installs_launch_config_and_models_where_ament_index_looks(install_prefix: Path) -> None:
    share = share_directory(install_prefix)
    assert share == install_prefix / "share" / PACKAGE
    expected = [p.relative_to(REPO) for p in (REPO / "launch").glob("*.launch.py")]
    expected += [p.relative_to(REPO) for p in (REPO / "config").iterdir() if p.is_file()]
    expected += [p.relative_to(REPO) for p in (REPO / "models").glob("*") if p.suffix in (".pt", ".onnx")]
    assert Path("config/detector.yaml") in expected and Path("launch/robot.launch.py") in expected
    missing = [str(rel) for rel in expected if not (share / rel).is_file()]
    assert missing == [], f"setup.py does not install: {missing}"
    if (REPO / "models" / DEFAULT_MODEL_NAME).is_file():
        assert (share / "models" / DEFAULT_MODEL_NAME).is_file()
    assert (share / "package.xml").is_file()
    assert (install_prefix / "lib" / PACKAGE / "detector").is_file(), "ros2 run looks in lib/<package>"
