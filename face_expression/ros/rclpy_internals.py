"""Every access to rclpy internals, in one module, checked against the versions it was written for.

rclpy has no public API for two things the nodes want: taking a message from a subscription
outside an executor (the newest-frame reader, with the same wait-set calls as
``rclpy.wait_for_message``) and listing the parameter overrides a node was started with (to reject
params-file typos). Both are used only when :func:`internals_problem` finds nothing wrong; the
callers fall back to public APIs otherwise.
"""

from __future__ import annotations

from contextlib import ExitStack
from functools import lru_cache
from pathlib import Path

from rclpy.node import Node

#: rclpy releases whose internals match this module: [from, to). Written against the Humble (3.3)
#: to Kilted (9.x) sources of wait_for_message and Node.declare_parameter; tested on 9.1.2 (Kilted).
SUPPORTED_RCLPY = ((3, 3), (10, 0))


def version_beside_package() -> str | None:
    """rclpy's version from the metadata folder next to the package, None where there is none.

    A distro installs ``rclpy-X.Y.Z-pyN.egg-info`` beside it, the PyPI wheel
    ``ros_rclpy-X.Y.Z.dist-info``. ``importlib.metadata`` finds the same but imports ~40 modules and
    scans every folder of ``sys.path``: 40-50 ms of a node's start-up (measured; 2-core EPYC).
    """
    import rclpy

    site = Path(rclpy.__file__).parent.parent  # not resolved: a symlink install keeps its metadata here
    for pattern in ("rclpy-*.egg-info", "rclpy-*.dist-info", "ros_rclpy-*.dist-info"):
        for folder in sorted(site.glob(pattern)):
            found = folder.name.split("-")[1]
            if found[:1].isdigit():
                return found
    return None


def version_from_metadata() -> str | None:
    """rclpy's version as ``importlib.metadata`` finds it (slow; see :func:`version_beside_package`)."""
    from importlib.metadata import PackageNotFoundError, version

    for dist in ("rclpy", "ros-rclpy"):  # a distro's rclpy, or the PyPI wheel
        try:
            return version(dist)
        except PackageNotFoundError:
            continue
    return None


@lru_cache(maxsize=1)
def rclpy_version() -> str:
    return version_beside_package() or version_from_metadata() or "unknown"


@lru_cache(maxsize=1)
def internals_problem() -> str | None:
    """Why the internals cannot be used here (None when they can)."""
    found = rclpy_version()
    parts = tuple(int(p) for p in found.split(".")[:2] if p.isdigit())
    low, high = SUPPORTED_RCLPY
    if len(parts) != 2 or not low <= parts < high:
        return f"rclpy {found} is outside the range {low[0]}.{low[1]} to <{high[0]}.{high[1]} checked here"
    try:
        from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
    except ImportError as exc:
        return f"rclpy {found} has no implementation singleton ({exc})"
    if not hasattr(_rclpy, "WaitSet"):
        return f"rclpy {found} has no _rclpy.WaitSet"
    return None


def parameter_overrides(node: Node) -> dict | None:
    """The overrides (params file, ``-p``) a node was started with; None when this rclpy hides them.

    ``_parameter_overrides`` is the attribute ``Node.declare_parameter`` itself reads.
    """
    overrides = getattr(node, "_parameter_overrides", None)
    return overrides if isinstance(overrides, dict) else None


def take_when_ready(node: Node, subscriptions: list, timeout: float):
    """Wait up to ``timeout`` s on subscriptions outside any executor; (subscription, msg, info) or None.

    The first ready subscription in the list is taken from. Raises what rclpy raises; the caller
    decides what a dead context means.
    """
    from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy

    context = node.context
    with ExitStack() as handles:
        for sub in subscriptions:
            handles.enter_context(sub.handle)
        wait_set = _rclpy.WaitSet(len(subscriptions), 0, 0, 0, 0, 0, context.handle)
        wait_set.clear_entities()
        for sub in subscriptions:
            wait_set.add_subscription(sub.handle)
        wait_set.wait(int(timeout * 1e9))  # releases the GIL while it waits
        ready = wait_set.get_ready_entities("subscription")
        for sub in subscriptions:
            if sub.handle.pointer in ready:
                taken = sub.handle.take_message(sub.msg_type, sub.raw)
                if taken is not None:
                    return (sub, *taken)
        return None
