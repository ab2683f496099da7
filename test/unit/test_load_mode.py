"""When the lean runtime trades a frame's latency for throughput (core/load_mode.py).

Timings are fed in as a camera and two workers would produce them: calls of a fixed length at a
fixed rate, overlapping or not.
"""

from __future__ import annotations

from face_expression.core.load_mode import LoadMode


def feed(
    mode: LoadMode,
    *,
    alone_s: float,
    every_s: float,
    overlapping: bool,
    on_streams: bool,
    calls: int,
    t0: float = 0.0,
) -> float:
    """``calls`` calls, one every ``every_s``, each ``alone_s`` long; returns the time after them."""
    t = t0
    for _ in range(calls):
        mode.started(t, overlapping)
        mode.wants_streams(on_streams, t)  # asked as each call starts, as the runtime does
        mode.ended(alone_s, not overlapping, on_streams)
        t += every_s
    return t


def test_nothing_changes_before_anything_is_measured() -> None:
    mode = LoadMode()
    assert mode.load is None
    assert mode.wants_streams(False, 100.0) is False
    assert mode.wants_streams(True, 100.0) is True


def test_a_camera_the_low_latency_runtime_keeps_up_with_stays_on_it() -> None:
    mode = LoadMode()
    t = feed(mode, alone_s=0.022, every_s=1 / 30, overlapping=False, on_streams=False, calls=60)
    assert abs(mode.load - 0.66) < 0.01
    assert mode.wants_streams(False, t) is False


def test_frames_faster_than_it_answers_them_switch_to_streams() -> None:
    """Two workers on one low-latency stream: every call starts while the other runs, and calls
    start as fast as they end (load ~1)."""
    mode = LoadMode()
    t = feed(mode, alone_s=0.022, every_s=1 / 30, overlapping=False, on_streams=False, calls=20)
    t = feed(mode, alone_s=0.022, every_s=0.022, overlapping=True, on_streams=False, calls=20, t0=t)
    assert mode.load > 0.95 and mode.overlap > 0.9
    assert mode.wants_streams(False, t) is True, "the way to streams waits for no hold"


def test_one_caller_back_to_back_gains_nothing_from_streams() -> None:
    mode = LoadMode()
    t = feed(mode, alone_s=0.022, every_s=0.0225, overlapping=False, on_streams=False, calls=50)
    assert mode.load > 0.95
    assert mode.wants_streams(False, t) is False


def test_a_stray_overlap_switches_nothing() -> None:
    mode = LoadMode()
    t = feed(mode, alone_s=0.022, every_s=1 / 15, overlapping=False, on_streams=False, calls=30)
    t = feed(mode, alone_s=0.022, every_s=0.01, overlapping=True, on_streams=False, calls=2, t0=t)
    assert mode.wants_streams(False, t) is False


def test_on_streams_the_load_not_the_overlap_decides_the_way_back() -> None:
    """On 1-thread streams a 640 frame takes ~36 ms against 22 ms on the low-latency model, so a
    30 Hz camera keeps calls overlapping; the low-latency model would answer it at a load of 0.66
    and comes back. At 2x the model's rate streams stay."""
    mode = LoadMode(dwell_s=0.0, hold_s=0.0)
    t = feed(mode, alone_s=0.022, every_s=1 / 30, overlapping=False, on_streams=False, calls=20)
    t = feed(mode, alone_s=0.036, every_s=0.011, overlapping=True, on_streams=True, calls=40, t0=t)
    assert mode.alone_s == 0.022, "calls on streams must not count as the low-latency model's time"
    assert mode.wants_streams(True, t) is True
    t = feed(mode, alone_s=0.036, every_s=1 / 30, overlapping=True, on_streams=True, calls=40, t0=t)
    assert mode.overlap > 0.9 and mode.load < 0.7
    assert mode.wants_streams(True, t) is False


def test_changes_wait_the_dwell_time() -> None:
    mode = LoadMode(dwell_s=5.0, hold_s=0.0)
    t = feed(mode, alone_s=0.022, every_s=1 / 30, overlapping=False, on_streams=False, calls=5)
    t = feed(mode, alone_s=0.022, every_s=0.022, overlapping=True, on_streams=False, calls=30, t0=t)
    mode.changed(t)
    changed = t
    t = feed(mode, alone_s=0.036, every_s=0.2, overlapping=False, on_streams=True, calls=20, t0=t)
    assert mode.load < 0.2
    assert mode.wants_streams(True, changed + 4.9) is True, "changed again within dwell_s"
    assert mode.wants_streams(True, changed + 5.1) is False


def test_fresh_keeps_the_settings_and_forgets_the_timings() -> None:
    mode = LoadMode(to_streams=0.8, dwell_s=1.0, hold_s=0.5)
    feed(mode, alone_s=0.02, every_s=0.02, overlapping=True, on_streams=False, calls=10)
    fresh = mode.fresh()
    assert (fresh.to_streams, fresh.dwell_s, fresh.hold_s) == (0.8, 1.0, 0.5)
    assert fresh.load is None and fresh.overlap == 0.0


def test_a_pause_says_nothing_about_the_load() -> None:
    """A camera that stops for a while and comes back as fast: streams stay (one gap of 10 s
    averaged in as a rate would have dropped the load to the way back)."""
    mode = LoadMode(dwell_s=0.0)
    t = feed(mode, alone_s=0.037, every_s=1 / 15, overlapping=False, on_streams=False, calls=20)
    t = feed(mode, alone_s=0.06, every_s=1 / 28, overlapping=True, on_streams=True, calls=40, t0=t)
    before = mode.load
    t = feed(mode, alone_s=0.06, every_s=1 / 28, overlapping=True, on_streams=True, calls=1, t0=t + 10.0)
    assert mode.load == before
    assert mode.wants_streams(True, t) is True


def test_calls_that_start_in_pairs_count_at_their_rate() -> None:
    """Two workers on streams often start within a millisecond of each other (both took frames as
    they finished together): 40 calls a second in pairs are 40 a second, and a camera the
    low-latency model meets at a load of 0.5 brings it back (averaging 1 / interval read ~500
    calls a second and a load of 6, and streams never left)."""
    mode = LoadMode(dwell_s=0.0, hold_s=0.0)
    t = feed(mode, alone_s=0.0125, every_s=1 / 15, overlapping=False, on_streams=False, calls=20)
    for _ in range(40):
        t = feed(mode, alone_s=0.04, every_s=0.001, overlapping=True, on_streams=True, calls=1, t0=t)
        t = feed(mode, alone_s=0.04, every_s=0.049, overlapping=True, on_streams=True, calls=1, t0=t)
    assert 35.0 < mode.rate_hz < 45.0, mode.rate_hz
    assert mode.wants_streams(True, t) is False


def test_a_dip_of_the_load_shorter_than_hold_s_switches_nothing() -> None:
    """On streams beside a camera the load sits near 1; one late frame (a 150 ms gap) dips the
    averages below the way back for a few calls and nothing changes. Frames that stay slower for
    longer than ``hold_s`` bring the low-latency model back."""
    mode = LoadMode(dwell_s=0.0)  # hold_s 1.0
    t = feed(mode, alone_s=0.033, every_s=1 / 15, overlapping=False, on_streams=False, calls=20)
    t = feed(mode, alone_s=0.06, every_s=1 / 28, overlapping=True, on_streams=True, calls=60, t0=t)
    assert mode.load > 0.85
    mode.started(t + 0.15, True)  # a late frame
    t += 0.15
    dipped = False
    for _ in range(60):
        t += 1 / 28
        mode.started(t, True)
        dipped |= mode.load <= mode.to_latency
        assert mode.wants_streams(True, t) is True, f"switched on a dip (load {mode.load:.2f})"
        mode.ended(0.06, False, True)
    assert dipped, "the late frame must dip the load below to_latency for this to check anything"
    slow_since = t
    while mode.wants_streams(True, t):  # a camera at 12 Hz: the low-latency model meets it at 0.4
        t += 1 / 12
        mode.started(t, True)
        mode.ended(0.06, False, True)
        assert t - slow_since < 3.0, "never came back"
    assert t - slow_since >= 1.0
