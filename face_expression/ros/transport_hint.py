"""One hint when camera frames too large for Fast DDS' default shared memory arrive slowly or not at all.

A 640x480 rgb8 frame (900 KB) does not fit Fast DDS' default 512 KB shared-memory segment. A
camera process started without a larger segment (config/fastdds_large_frames.xml) sends such
frames in fragments that crowd each other out of its segment: measured on 2 cores, a reliable
camera's frames reached the detector at a rate that decayed from 19 to 6 per second over minutes
while the detector sat idle; best effort lost most of them. The detector cannot see the camera's
settings, but it sees the symptom: a publisher whose frames do not come, or come far below the
rate the publisher's sequence numbers say it sends while the detector has time for them. Plain
logic, no rclpy: the node feeds it counters.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Fast DDS' default shared-memory segment: a larger frame's fragments crowd each other out of it.
DEFAULT_SHM_SEGMENT_BYTES = 512 * 1024
PROFILE_ENV = "FASTDDS_DEFAULT_PROFILES_FILE"


@dataclass
class _Window:
    t: float
    taken: int
    skipped: int
    busy_s: float


class LargeFrameWatch:
    """Decides, once per ``window_s``, whether to give the hint; gives it at most once."""

    def __init__(self, topic: str, profile_path: str, window_s: float = 5.0) -> None:
        self.topic = topic
        self.profile_path = profile_path
        self.window_s = window_s
        self.hinted = False
        self._silent_since: float | None = None
        self._window: _Window | None = None
        self._last_taken = 0

    def _fix(self) -> str:
        return (
            f"start the camera's process with {PROFILE_ENV}={self.profile_path} (a 16 MB segment; the "
            "face_expression launch files set it for every process they start), or publish smaller or "
            "compressed frames"
        )

    def check(
        self,
        now: float,
        publishers: int,
        taken: int,
        skipped: int,
        busy_s: float,
        frame: tuple[int, int, str, int],
    ) -> str | None:
        """The hint, or None. ``taken``/``skipped``/``busy_s`` are totals since start (skipped =
        publication sequence gaps); ``frame`` = (width, height, encoding, bytes) of the largest frame seen.
        """
        if self.hinted:
            return None
        if publishers == 0:
            self._silent_since, self._window = None, None
            return None
        large_seen = frame[3] > DEFAULT_SHM_SEGMENT_BYTES
        if taken == self._last_taken and (taken == 0 or large_seen):
            # nothing yet, or large frames came and then stopped coming (1920x1080 over UDP: one in
            # hundreds arrives, too few for the rate check below)
            hint = self._silence_hint(now, publishers, frame if taken else None)
        else:
            self._silent_since = None
            hint = None
        if hint is None and taken:
            hint = self._slow_hint(now, publishers, taken, skipped, busy_s, frame)
        self._last_taken = taken
        self.hinted = hint is not None
        return hint

    def _silence_hint(
        self, now: float, publishers: int, last: tuple[int, int, str, int] | None
    ) -> str | None:
        """A camera publishes, yet no frame arrived for two windows (``last``: the largest seen before)."""
        self._silent_since = now if self._silent_since is None else self._silent_since
        if now - self._silent_since < 2 * self.window_s:  # a camera may take seconds to open
            return None
        before = f" (earlier ones were {last[0]}x{last[1]} {last[2]}, {last[3] // 1024} KB)" if last else ""
        return (
            f"no frame arrived on {self.topic} in {now - self._silent_since:.0f} s from {publishers} "
            f"publisher(s){before}. Frames larger than Fast DDS' default "
            f"{DEFAULT_SHM_SEGMENT_BYTES // 1024} KB shared-memory segment (640x480 rgb8 is 900 KB) "
            "do not fit in it and may never "
            f"arrive: {self._fix()}. Also check that the camera's QoS matches image_qos."
        )

    def _slow_hint(
        self,
        now: float,
        publishers: int,
        taken: int,
        skipped: int,
        busy_s: float,
        frame: tuple[int, int, str, int],
    ) -> str | None:
        """Large frames, one camera, most of them lost in transport while this node sat idle."""
        window = self._window
        if window is None:
            self._window = _Window(now, taken, skipped, busy_s)
            return None
        if now - window.t < self.window_s:
            return None
        width, height, encoding, nbytes = frame
        got, lost = taken - window.taken, skipped - window.skipped
        sent = got + lost
        if sent < 10:  # too few to judge: the window grows until a frame's sequence gap shows the rest
            return None
        self._window = _Window(now, taken, skipped, busy_s)
        idle = 1.0 - (busy_s - window.busy_s) / (now - window.t)
        if nbytes <= DEFAULT_SHM_SEGMENT_BYTES or publishers != 1 or got > sent / 2 or idle < 0.5:
            return None
        return (
            f"{width}x{height} {encoding} frames ({nbytes // 1024} KB) arrive slowly on {self.topic}: "
            f"{got} of the {sent} the camera published in the last {now - window.t:.0f} s reached this node "
            f"while it was idle {idle:.0%} of the time. Frames larger than Fast DDS' default "
            f"{DEFAULT_SHM_SEGMENT_BYTES // 1024} KB shared-memory segment do not fit in it: "
            f"{self._fix()}."
        )
