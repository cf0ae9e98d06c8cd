"""Replays a file at its own frame rate, as if a camera were filming it (tests and demos).

Without pacing a file source delivers as fast as it decodes; ``ReplaySource`` holds each
frame back until its time has come relative to the first one, so the daemon meets the same
load as with a camera of that rate. ``loop=True`` reopens the file at the end and keeps
``t_ms`` and ``index`` increasing. A consumer that falls behind does not make the replay
slow down: frames keep coming at the file's rate and the one-slot buffer drops the old ones.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from microemo.sources.base import Source
from microemo.types import Frame

# After a pause this long (a debugger, a suspended VM) pacing restarts instead of bursting.
_RESYNC_S = 1.0


class ReplaySource:
    def __init__(
        self,
        opener: Callable[[], Source],
        *,
        realtime: bool = True,
        loop: bool = False,
        speed: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        self._open = opener
        self._src = opener()
        self.name = self._src.name
        self.fps = float(self._src.fps or 30.0)
        self.realtime = realtime
        self.loop = loop
        self.speed = speed  # 2.0 replays twice as fast as filmed (overload benchmarks)
        self._clock = clock
        self._sleep = sleep
        self._t_offset = 0.0
        self._i_offset = 0
        self._last: Frame | None = None
        self._anchor: tuple[float, float] | None = None  # (monotonic, t_ms) of pacing origin

    def _next_raw(self) -> Frame | None:
        frame = self._src.read()
        if frame is not None or not self.loop or self._last is None:
            return frame
        self._src.close()
        self._src = self._open()
        self._t_offset = self._last.t_ms + 1000.0 / self.fps
        self._i_offset = self._last.index + 1
        return self._src.read()

    def read(self) -> Frame | None:
        raw = self._next_raw()
        if raw is None:
            return None
        t_ms = raw.t_ms + self._t_offset
        if self.realtime:
            self._pace(t_ms)
        frame = Frame(
            image=raw.image, t_ms=t_ms, index=raw.index + self._i_offset, captured_at=self._clock()
        )
        self._last = frame
        return frame

    def _pace(self, t_ms: float) -> None:
        now = self._clock()
        if self._anchor is None:
            self._anchor = (now, t_ms)
            return
        due = self._anchor[0] + (t_ms - self._anchor[1]) / 1000.0 / self.speed
        delay = due - now
        if delay > 0:
            self._sleep(delay)
        elif -delay > _RESYNC_S:
            self._anchor = (now, t_ms)

    def close(self) -> None:
        self._src.close()
