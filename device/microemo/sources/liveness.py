"""Is a live stream still moving? The frozen-stream rule of the capture thread.

A frame counts as the stream moving when it comes within ``gap_s`` of the frame before it
(three frame intervals at the source's rate, and at least half a second). A camera whose
encoder froze may still let a frame trickle out every few seconds: each one restarts a
driver's read timeout, so the freeze is never noticed that way, but trickled frames do not
count here. No moving frame for ``stall_s`` (``source.timeout_s``) since the source was
opened, or since it last moved, is a frozen stream. Pure timing on the monotonic clock: the
times come from the caller, so a fake clock tests it.
"""

from __future__ import annotations

FLUENT_MIN_S = 0.5  # frames this close together always count as moving
FLUENT_FRAMES = 3  # ... and so do frames up to this many frame intervals apart


def fluent_gap_s(fps: float, stall_s: float) -> float:
    """The largest gap between two frames of a moving stream (never more than ``stall_s``)."""
    gap = max(FLUENT_MIN_S, FLUENT_FRAMES / fps) if fps > 0 else FLUENT_MIN_S
    return min(gap, stall_s)


class Liveness:
    """Frame arrival times of one opened source -> moving or frozen."""

    def __init__(self, stall_s: float) -> None:
        self.stall_s = stall_s
        self.gap_s = fluent_gap_s(0.0, stall_s)
        self._prev: float | None = None
        self._since = 0.0

    def opened(self, at: float, fps: float) -> None:
        """A (re)opened source: the stall timer starts now; its first frame moves nothing."""
        self.gap_s = fluent_gap_s(fps, self.stall_s)
        self._prev = None
        self._since = at

    def frame(self, at: float) -> bool:
        """A frame arrived at ``at``: True when it shows the stream moving."""
        moving = self._prev is not None and at - self._prev <= self.gap_s
        self._prev = at
        if moving:
            self._since = at
        return moving

    def quiet_s(self, now: float) -> float:
        """Seconds since the stream last moved (or was opened)."""
        return now - self._since

    def stalled(self, now: float) -> bool:
        return self.quiet_s(now) > self.stall_s
