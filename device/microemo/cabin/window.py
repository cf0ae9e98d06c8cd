"""Time shares over a sliding window: PERCLOS (the share of the last minute with the eyes
closed) and the off-road share of the last 30 s.

Each frame adds its own duration (the time since the previous frame, capped so that a gap in
the stream, a face lost for a while, counts as at most ``max_step_ms``), flagged or not; the
window forgets what is older. O(1) a frame; memory is one entry a frame of the window (1800
at 30 fps for a minute)."""

from __future__ import annotations

from collections import deque


class ShareWindow:
    def __init__(self, window_ms: float, max_step_ms: float = 200.0) -> None:
        self.window_ms = window_ms
        self.max_step_ms = max_step_ms
        self._items: deque[tuple[float, float, bool]] = deque()  # (t_ms, weight, flagged)
        self._total = 0.0
        self._flagged = 0.0
        self._last: float | None = None
        self._weight = 1000.0 / 30  # a frame's weight after a pause: the last frame's

    def add(self, t_ms: float, flagged: bool) -> None:
        if self._last is not None:
            self._weight = min(max(t_ms - self._last, 0.0), self.max_step_ms)
        weight, self._last = self._weight, t_ms
        self._items.append((t_ms, weight, flagged))
        self._total += weight
        if flagged:
            self._flagged += weight
        self.trim(t_ms)

    def trim(self, t_ms: float) -> None:
        """Forget what is older than the window at ``t_ms``."""
        items, start = self._items, t_ms - self.window_ms
        while items and items[0][0] <= start:
            _, weight, flagged = items.popleft()
            self._total -= weight
            if flagged:
                self._flagged -= weight
        if not items:
            self._total = self._flagged = 0.0

    def pause(self) -> None:
        """The face is not seen: the next frame starts afresh rather than counting the gap."""
        self._last = None

    @property
    def covered_ms(self) -> float:
        """How much of the window has frames in it."""
        return self._total

    @property
    def share(self) -> float:
        return self._flagged / self._total if self._total > 0 else 0.0
