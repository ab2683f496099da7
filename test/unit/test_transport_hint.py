"""ros/transport_hint.py: one hint when large frames arrive slowly or not at all, and only then."""

from __future__ import annotations

from face_expression.ros.transport_hint import PROFILE_ENV, LargeFrameWatch

VGA = (640, 480, "rgb8", 640 * 480 * 3)
SMALL = (320, 240, "rgb8", 320 * 240 * 3)


def watch() -> LargeFrameWatch:
    return LargeFrameWatch("/camera/image_raw", "/share/config/fastdds_large_frames.xml", window_s=5.0)


def test_a_publisher_whose_frames_never_come_gets_one_hint_after_ten_seconds() -> None:
    w = watch()
    hints = [w.check(t, 1, 0, 0, 0.0, (0, 0, "", 0)) for t in range(0, 10)]
    assert hints == [None] * 10
    hint = w.check(10.0, 1, 0, 0, 0.0, (0, 0, "", 0))
    assert hint and "no frame arrived on /camera/image_raw" in hint
    assert f"{PROFILE_ENV}=/share/config/fastdds_large_frames.xml" in hint
    assert w.check(20.0, 1, 0, 0, 0.0, (0, 0, "", 0)) is None  # once


def test_no_publisher_no_hint() -> None:
    w = watch()
    assert all(w.check(float(t), 0, 0, 0, 0.0, (0, 0, "", 0)) is None for t in range(60))


def test_large_frames_lost_while_the_node_is_idle_give_the_hint() -> None:
    w = watch()
    assert w.check(0.0, 1, 10, 0, 0.5, VGA) is None
    # 5 s later: 30 of 150 published frames arrived, the worker was busy 1.5 s of 5
    hint = w.check(5.0, 1, 40, 120, 2.0, VGA)
    assert hint and "640x480 rgb8 frames (900 KB) arrive slowly" in hint and "30 of the 150" in hint
    assert "idle 70%" in hint


def test_a_busy_node_skipping_frames_is_not_a_transport_problem() -> None:
    w = watch()
    w.check(0.0, 1, 10, 0, 0.5, VGA)
    assert w.check(5.0, 1, 100, 200, 5.0, VGA) is None  # busy all the time: skipped by design


def test_small_frames_or_several_publishers_give_no_slow_hint() -> None:
    for frame, publishers in ((SMALL, 1), (VGA, 2)):
        w = watch()
        w.check(0.0, publishers, 10, 0, 0.5, frame)
        assert w.check(5.0, publishers, 40, 120, 2.0, frame) is None


def test_frames_arriving_fully_give_no_hint() -> None:
    w = watch()
    for t in range(0, 60, 5):
        assert w.check(float(t), 1, 30 * t, 0, 0.3 * t, VGA) is None


def test_large_frames_that_stop_coming_after_a_few_give_the_silence_hint() -> None:
    """1920x1080 on the default segment: one frame came, then none in 10 s (seen in a full test run)."""
    w = watch()
    full_hd = (1920, 1080, "rgb8", 1920 * 1080 * 3)
    assert all(w.check(float(t), 1, 1, 0, 0.1, full_hd) is None for t in range(0, 11))  # silent from t=1
    hint = w.check(11.0, 1, 1, 0, 0.1, full_hd)
    assert hint and "no frame arrived on /camera/image_raw in 10 s" in hint
    assert "earlier ones were 1920x1080 rgb8" in hint


def test_a_rare_large_frame_carrying_a_long_sequence_gap_gives_the_slow_hint() -> None:
    """Frames 13 s apart: the window grows until a frame's sequence gap shows what was lost."""
    w = watch()
    full_hd = (1920, 1080, "rgb8", 1920 * 1080 * 3)
    assert w.check(0.0, 1, 1, 0, 0.1, full_hd) is None
    assert w.check(6.0, 1, 1, 0, 0.1, full_hd) is None  # nothing new: too few to judge, not yet silent
    hint = w.check(13.0, 1, 2, 390, 0.2, full_hd)  # the next frame: 390 lost before it
    assert hint and "1 of the 391" in hint


def test_a_paused_camera_with_small_frames_gets_no_hint() -> None:
    w = watch()
    assert all(w.check(float(t), 1, 50, 0, 1.0, SMALL) is None for t in range(0, 60))
