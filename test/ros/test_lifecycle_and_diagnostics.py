"""The managed detector driven through ~/change_state, and /diagnostics as conditions change.

Real processes over Fast DDS, each module in a domain of its own (other_domain offsets 40 and 50).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from lifecycle_msgs.msg import State, Transition
from lifecycle_msgs.srv import ChangeState, GetState
from ros_probe import NodeProcess, Probe, call_service, other_domain, wait_until

NODE = "face_expression_detector"
LIFECYCLE_DOMAIN_OFFSET = 40
DIAGNOSTICS_DOMAIN_OFFSET = 50


def _state(probe: Probe) -> int:
    return call_service(probe.node, GetState, f"/{NODE}/get_state", GetState.Request()).current_state.id


# Where each transition leads when it succeeds.
_GOAL = {
    Transition.TRANSITION_CONFIGURE: State.PRIMARY_STATE_INACTIVE,
    Transition.TRANSITION_ACTIVATE: State.PRIMARY_STATE_ACTIVE,
    Transition.TRANSITION_DEACTIVATE: State.PRIMARY_STATE_INACTIVE,
    Transition.TRANSITION_CLEANUP: State.PRIMARY_STATE_UNCONFIGURED,
}


def _transition(probe: Probe, transition: int) -> bool:
    """Whether the transition succeeded.

    A request sent again (its response was lost) fails when the first one already moved the node on,
    so the node's state, not only the last response, tells.
    """
    request = ChangeState.Request(transition=Transition(id=transition))
    name = f"/{NODE}/change_state"
    if call_service(probe.node, ChangeState, name, request, timeout=30.0).success:
        return True
    return _state(probe) == _GOAL[transition]


def _subscribed(probe: Probe) -> bool:
    return any(i.node_name == NODE for i in probe.node.get_subscriptions_info_by_topic("/camera/image_raw"))


@pytest.fixture
def managed(tmp_path: Path) -> Iterator[tuple[NodeProcess, Probe]]:
    domain = other_domain(LIFECYCLE_DOMAIN_OFFSET)
    proc = NodeProcess("lifecycle_detector", {}, tmp_path / "node.log", domain_id=domain)
    probe = Probe("lifecycle_probe", domain_id=domain)
    try:
        yield proc, probe
    finally:
        probe.close()
        assert proc.stop() == 0, proc.output()


def test_transitions_load_subscribe_release_and_free(managed, astronaut: np.ndarray) -> None:
    proc, probe = managed
    assert _state(probe) == State.PRIMARY_STATE_UNCONFIGURED
    assert "loading model" not in proc.output(), "the model must wait for configure"

    assert _transition(probe, Transition.TRANSITION_CONFIGURE)
    assert _state(probe) == State.PRIMARY_STATE_INACTIVE
    assert "loading model" in proc.output()
    time.sleep(1.0)
    assert not _subscribed(probe), "inactive: no camera subscription yet"

    assert _transition(probe, Transition.TRANSITION_ACTIVATE)
    assert _state(probe) == State.PRIMARY_STATE_ACTIVE
    wait_until(lambda: _subscribed(probe), 10, "active: the camera subscription must exist")
    # image_qos auto: the probe's reliable publisher, known since configure, sets the first subscription
    assert "listening on /camera/image_raw (auto: reliable, " in proc.output(), proc.output()
    assert probe.ask(astronaut, (100, 1)).detections, "active: frames are answered"

    assert _transition(probe, Transition.TRANSITION_DEACTIVATE)
    assert _state(probe) == State.PRIMARY_STATE_INACTIVE
    wait_until(lambda: not _subscribed(probe), 10, "inactive: the subscription must be released")
    probe.send(astronaut, (101, 1))
    time.sleep(1.5)
    assert all(m.header.stamp.sec != 101 for m in probe.detections), "inactive: nothing processed"

    assert _transition(probe, Transition.TRANSITION_CLEANUP)
    assert _state(probe) == State.PRIMARY_STATE_UNCONFIGURED
    assert "cleaned up: model freed" in proc.output()

    assert _transition(probe, Transition.TRANSITION_CONFIGURE)  # and back up again
    assert _transition(probe, Transition.TRANSITION_ACTIVATE)
    assert probe.ask(astronaut, (102, 1)).detections


def test_configure_with_a_bad_model_fails_and_stays_unconfigured(managed, tmp_path: Path) -> None:
    proc, probe = managed
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    assert probe.set_parameter(NODE, "model", str(broken)) == (True, "")
    assert not _transition(probe, Transition.TRANSITION_CONFIGURE)
    assert _state(probe) == State.PRIMARY_STATE_UNCONFIGURED
    wait_until(lambda: "configure failed" in proc.output(), 10, "no reason logged")
    assert "broken.pt" in proc.output().split("configure failed", 1)[1]
    assert probe.set_parameter(NODE, "model", "") == (True, "")  # the bundled model configures
    assert _transition(probe, Transition.TRANSITION_CONFIGURE)


# -- /diagnostics ------------------------------------------------------------------------------
class DiagnosticsWatch:
    def __init__(self, probe: Probe) -> None:
        self.statuses: list[DiagnosticStatus] = []
        probe.node.create_subscription(DiagnosticArray, "/diagnostics", self._keep, 50)

    def _keep(self, msg: DiagnosticArray) -> None:
        self.statuses.extend(s for s in msg.status if s.name.startswith(NODE))

    def next(self, after: int, timeout: float = 10.0) -> DiagnosticStatus:
        wait_until(lambda: len(self.statuses) > after, timeout, "no /diagnostics status")
        return self.statuses[-1]

    def wait_level(self, level: bytes, timeout: float, feed=None) -> DiagnosticStatus:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if feed is not None:
                feed()
            status = self.next(len(self.statuses))
            if status.level == level:
                return status
        last = self.statuses[-1] if self.statuses else None
        raise AssertionError(f"level never became {level}; last: {last}")


@pytest.fixture(scope="module")
def watched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Probe, DiagnosticsWatch]]:
    domain = other_domain(DIAGNOSTICS_DOMAIN_OFFSET)
    proc = NodeProcess("detector", {}, tmp_path_factory.mktemp("diag") / "node.log", domain_id=domain)
    probe = Probe("diagnostics_probe", domain_id=domain)
    watch = DiagnosticsWatch(probe)
    try:
        probe.wait_for_detector()
        yield probe, watch
    finally:
        probe.close()
        assert proc.stop() == 0, proc.output()


def test_diagnostics_report_the_model_and_levels_follow_the_camera(
    watched, astronaut: np.ndarray, model_imgsz: int
) -> None:
    probe, watch = watched
    first = watch.next(0)
    values = {kv.key: kv.value for kv in first.values}
    assert first.hardware_id == "none" and first.name == f"{NODE}: face detector"
    assert values["device"] == "cpu" and values["model"].endswith(".pt")
    assert values["runtime"] == "Ultralytics AutoBackend (pt)"
    assert values["imgsz"] == str(model_imgsz)
    assert values["image topic"] == "/camera/image_raw"
    assert first.level == DiagnosticStatus.WARN and "no frame" in first.message

    small = np.ascontiguousarray(astronaut[::2, ::2])
    clock = probe.node.get_clock()

    def feed_now() -> None:  # about 10 Hz, stamped now
        for _ in range(10):
            probe.send(small, _stamp(clock.now().nanoseconds))
            time.sleep(0.1)

    ok = watch.wait_level(DiagnosticStatus.OK, 30, feed_now)
    values = {kv.key: kv.value for kv in ok.values}
    assert float(values["input rate (Hz)"]) > 1.0 and values["latency p50 (ms)"] != "-"
    stale = watch.wait_level(DiagnosticStatus.WARN, 15)  # the camera stops
    assert "no frame for" in stale.message

    def feed_future() -> None:  # a camera whose clock runs 30 s ahead
        for _ in range(10):
            probe.send(small, _stamp(clock.now().nanoseconds + 30_000_000_000))
            time.sleep(0.1)

    error = watch.wait_level(DiagnosticStatus.ERROR, 30, feed_future)
    assert "future" in error.message


def test_bad_frames_are_counted_with_the_last_reason(watched) -> None:
    probe, watch = watched
    probe.send_raw(b"\x00" * 12, "bayer_rggb8", 2, 2, 2, (900, 1))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        values = {kv.key: kv.value for kv in watch.next(len(watch.statuses)).values}
        if values["frames dropped as bad"] != "0":
            break
    assert values["frames dropped as bad"] != "0" and "bayer_rggb8" in values["last drop reason"]


def _stamp(nanoseconds: int) -> tuple[int, int]:
    sec, nsec = divmod(nanoseconds, 1_000_000_000)
    return int(sec), int(nsec)
