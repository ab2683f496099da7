"""The health verdict behind /diagnostics, driven by a fake clock (the rules, not the timing)."""

from __future__ import annotations

from face_expression.core.health import ERROR, OK, WARN, BusyTime, HealthLimits, HealthMonitor


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _steady(monitor: HealthMonitor, clock: Clock, hz: float, seconds: float, latency: float = 0.03) -> None:
    for _ in range(int(hz * seconds)):
        clock.t += 1.0 / hz
        monitor.frame_arrived()
        monitor.frame_processed(latency)


def test_levels_follow_conditions_and_recover() -> None:
    clock = Clock()
    mon = HealthMonitor(HealthLimits(window_s=5.0, min_input_rate=5.0), clock=clock)
    assert mon.report().level == WARN and "no frame" in mon.report().message
    _steady(mon, clock, 30, 6)
    report = mon.report()
    assert (report.level, report.message) == (OK, "ok")
    assert (
        abs(float(report.values["input rate (Hz)"]) - 30.0) < 1
        and report.values["latency p50 (ms)"] == "30.0"
    )
    clock.t += 4.0  # the camera stops
    assert mon.report().level == WARN and "no frame for 4.0 s" in mon.report().message
    _steady(mon, clock, 30, 6, latency=2.0)  # frames come back, but each is processed 2 s late
    assert mon.report().level == WARN and "falling behind" in mon.report().message
    _steady(mon, clock, 30, 6)
    assert mon.report().level == OK


def test_slow_camera_and_repeated_failures_and_future_stamps() -> None:
    clock = Clock()
    mon = HealthMonitor(HealthLimits(min_input_rate=5.0), clock=clock)
    _steady(mon, clock, 2, 6)
    assert mon.report().level == WARN and "below 5 Hz" in mon.report().message
    for _ in range(6):
        clock.t += 1.0
        mon.frame_arrived()
        mon.inference_failed("RuntimeError: shape mismatch")
    report = mon.report()
    assert report.level == ERROR and "shape mismatch" in report.message
    _steady(mon, clock, 30, 6, latency=-3.0)  # the camera's clock runs 3 s ahead of ours
    assert mon.report().level == ERROR and "future" in mon.report().message


def test_counts_and_last_drop_reason() -> None:
    clock = Clock()
    mon = HealthMonitor(clock=clock)
    mon.frame_arrived(skipped_before=4)
    mon.frame_dropped("unsupported encoding 'bayer_rggb8'")
    mon.frame_arrived()
    mon.frame_processed(None)  # zero stamp: no latency, counted
    values = mon.report().values
    assert values["frames received"] == "2" and values["frames skipped as stale"] == "4"
    assert values["frames dropped as bad"] == "1" and "bayer" in values["last drop reason"]
    assert values["latency p50 (ms)"] == "-" and mon.zero_stamps == 1


def test_busy_time_counts_overlapping_frames_once() -> None:
    """Two frames in hand at once are one busy stretch: idle = 1 - busy / elapsed stays true."""
    clock = Clock()
    busy = BusyTime(clock=clock)
    with busy:  # 0 .. 4
        clock.t += 1.0
        with busy:  # 1 .. 3, inside it
            clock.t += 2.0
        assert busy.total_s == 3.0  # the stretch still open counts up to now
        clock.t += 1.0
    clock.t += 5.0  # idle
    with busy:
        clock.t += 0.5
    assert busy.total_s == 4.5
