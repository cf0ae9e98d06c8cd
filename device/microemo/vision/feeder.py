"""The thread that hands frames to the landmarker pool, so that whoever collects the results
never waits for a frame to arrive and a result to come back at the same time.

It waits until the pool has room *before* it takes a frame, so the frame it takes is the
newest one: from the daemon's one-slot buffer (older frames were replaced there and counted
as dropped) or the next one decoded from a recorded input (decoding then overlaps the
landmarker). A ``take`` that raises (a broken file) ends the feeder; the error is kept for
the collector to raise.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from microemo.types import Frame
from microemo.vision.pool import LandmarkerPool

logger = logging.getLogger(__name__)

Take = Callable[[float], "Frame | None"]


class Feeder:
    """``take(timeout_s)`` gives the next frame or None (none yet, or none any more: then
    ``ended()`` is true). ``done`` is set once the frames have ended or ``stop`` was called,
    after the last frame was submitted."""

    def __init__(
        self,
        pool: LandmarkerPool,
        take: Take,
        ended: Callable[[], bool],
        on_end: Callable[[], None] | None = None,
    ) -> None:
        """``on_end`` is called once the frames have ended, after the last was submitted."""
        self.pool = pool
        self._take = take
        self._ended = ended
        self._on_end = on_end
        self._stop = threading.Event()
        self.done = False
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="pool-feeder", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                if not self.pool.wait_room(0.2):
                    continue
                frame = self._take(0.2)
                if frame is None:
                    if self._ended():
                        if self._on_end is not None:
                            self._on_end()
                        break
                    continue
                self.pool.submit(frame)
        except BaseException as exc:  # handed to the collector, which raises it
            self.error = exc
        finally:
            self.done = True
            self.pool.wake()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout_s)


def iterator_take(frames: Iterable[Frame]) -> tuple[Take, Callable[[], bool]]:
    """``take`` and ``ended`` over an iterable (a recorded input, decoded on the feeder)."""
    it = iter(frames)
    state = {"ended": False}

    def take(_timeout_s: float) -> Frame | None:
        frame = next(it, None)
        state["ended"] = frame is None
        return frame

    return take, lambda: state["ended"]
