"""The capture thread and the one-slot buffer between it and the frame loop.

The camera never waits for the pipeline: each new frame replaces the one in the slot (newest
wins) and the replaced frame is counted as dropped, so under overload the daemon skips
frames instead of queueing them and latency stays bounded. ``lossless=True`` makes the
producer wait for the slot instead (benchmarks and batch replays that must see every frame);
it then reads the next frame only once the slot is empty, so a frame's capture time is when
it could be taken, not when it was read ahead.

A source that fails, or a live stream that stops moving for ``stall_s``, is closed, logged
once ("camera lost"), reopened with a back-off that doubles up to ``retry_max_s``, and logged
once more when it is back; a camera that is not there at start is "not available yet" (no
loss counted) until it first delivers ("camera up"). The frame loop keeps running meanwhile
and ``status()`` reports the outage. Live frames carry the capture clock, so an outage stays
in the timeline.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from microemo.sources.base import Source, SourceError, SourceLost, redact_url
from microemo.sources.liveness import Liveness
from microemo.types import Frame

logger = logging.getLogger(__name__)


class FrameSlot:
    """Holds at most one frame. ``put`` replaces (and counts a drop), ``take`` empties."""

    def __init__(self, *, lossless: bool = False) -> None:
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self.lossless = lossless
        self.closed = False
        self.put_count = 0
        self.dropped = 0

    def put(self, frame: Frame) -> None:
        with self._cond:
            while self.lossless and self._frame is not None and not self.closed:
                self._cond.wait(0.1)
            if self._frame is not None:
                self.dropped += 1
            self._frame = frame
            self.put_count += 1
            self._cond.notify_all()

    def wait_empty(self) -> None:
        """Until the slot is empty (or closed)."""
        with self._cond:
            while self._frame is not None and not self.closed:
                self._cond.wait(0.1)

    def take(self, timeout: float | None = None) -> Frame | None:
        """The newest frame, waiting up to ``timeout`` s; None when there is none (yet)."""
        with self._cond:
            if self._frame is None and not self.closed:
                self._cond.wait(timeout)
            frame, self._frame = self._frame, None
            self._cond.notify_all()
            return frame

    def close(self) -> None:
        """No more frames will come: ``take`` stops waiting once the slot is empty."""
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    @property
    def finished(self) -> bool:
        return self.closed and self._frame is None


class Capture:
    """Runs ``opener()`` and ``read()`` on its own thread and feeds a ``FrameSlot``.

    ``live`` sources (cameras, streams) that cannot be opened at start are retried like lost
    ones; a file that cannot be opened at start is an error (``self.error``).

    Live sources: ``t_ms`` is the capture clock (``captured_at`` from the first frame on), so
    an outage shows as the gap it was, and the tracker and spotter see the time pass. With
    ``stall_s`` (``source.timeout_s``) a watcher thread declares the stream lost once it has
    not moved for that long (``liveness``: a frozen camera that trickles a frame out now and
    then counts as frozen), frames that still come from it are dropped, and it is reopened as
    soon as its driver returns; after a reopening frames flow again once the stream moves.

    ``state``: ``starting``; ``waiting`` (a live camera not seen yet: no loss counted); ``ok``;
    ``lost`` (after having been seen); ``ended`` (end of a file); ``failed``. Each change is
    one log line; retries in between are logged at DEBUG only.
    """

    def __init__(
        self,
        opener: Callable[[], Source],
        slot: FrameSlot,
        *,
        live: bool,
        retry_initial_s: float = 0.5,
        retry_max_s: float = 30.0,
        stall_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._open = opener
        self.slot = slot
        self.live = live
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self._clock = clock
        self._stop = threading.Event()
        self._lock = threading.RLock()  # state changes: capture thread and watcher
        self._thread: threading.Thread | None = None
        self._watcher: threading.Thread | None = None
        self._liveness = Liveness(stall_s) if live and stall_s else None
        self._pumping = False  # a source is open and being read
        self._stale = False  # the watcher gave up on the open source: drop it when it returns
        self.error: SourceError | None = None
        self.state = "starting"
        self.name = "source"
        self.fps = 0.0
        self.losses = 0
        self.down_s = 0.0
        self.last_error = ""
        self._seen = False  # delivered frames at least once
        self._lost_at: float | None = None
        self._last: tuple[float, int] | None = None  # (t_ms, index) of the last frame
        self._offset = (0.0, 0)
        self._epoch: float | None = None  # live: monotonic time of t_ms = 0
        self.opened = threading.Event()  # set once frames flow (or the source failed)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="capture", daemon=True)
        self._thread.start()
        if self._liveness is not None:
            self._watcher = threading.Thread(target=self._watch, name="capture-watch", daemon=True)
            self._watcher.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self.slot.close()
        if self._watcher is not None:
            self._watcher.join(timeout)
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.warning("capture thread still blocked in the driver; leaving it")

    def status(self) -> dict[str, Any]:
        down = self.down_s
        if self._lost_at is not None:
            down += self._clock() - self._lost_at
        return {
            "state": self.state,
            "name": self.name,
            "fps": self.fps,
            "losses": self.losses,
            "down_s": round(down, 1),
            "last_error": self.last_error,
        }

    def describe(self) -> str:
        """The source for a log line: its name, and what it is doing unless it delivers."""
        doing = _DOING.get(self.state)
        return f"{self.name} ({doing})" if doing else self.name

    # -- the capture thread ----------------------------------------------------------------
    def _run(self) -> None:
        backoff = self.retry_initial_s
        while not self._stop.is_set():
            try:
                src = self._open()
            except Exception as exc:  # drivers raise anything; a SourceError says what to do
                if not (self.live or self._seen):
                    self._fail(exc if isinstance(exc, SourceError) else SourceError(str(exc)))
                    return
                self._down(exc)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.retry_max_s)
                continue
            self.name, self.fps = src.name, float(src.fps or 0.0)
            if self._liveness is None:
                self._up()  # no watch on it: up once open
            ended, delivered = self._pump(src)
            if ended or self._stop.is_set():
                return
            if delivered:
                backoff = self.retry_initial_s
            # a source that fails right after opening is not reopened in a hot loop
            self._stop.wait(backoff)
            backoff = min(backoff * 2, self.retry_max_s)

    def _pump(self, src: Source) -> tuple[bool, int]:
        """Read until the source ends (True, n), fails or is stopped (False, n)."""
        delivered = 0
        with self._lock:
            self._pumping, self._stale = True, False
            if self._liveness is not None:
                self._liveness.opened(self._clock(), self.fps)
        try:
            while not self._stop.is_set():
                if self.slot.lossless:
                    self.slot.wait_empty()
                frame = src.read()
                if frame is None:
                    logger.info("%s: end of stream", self.name)
                    self.state = "ended"
                    self.slot.close()
                    return True, delivered
                if not frame.captured_at:  # a driver that does not say when
                    frame.captured_at = self._clock()
                if self._liveness is not None and not self._moving(frame):
                    continue  # not flowing yet after a reopening: nothing to show
                self.slot.put(self._stamp(frame))
                delivered += 1
        except Exception as exc:  # a driver can raise anything; the thread must survive it
            self._down(exc)
        finally:
            with self._lock:
                self._pumping = False
            try:
                src.close()
            except Exception:
                logger.debug("closing %s failed", self.name, exc_info=True)
        return False, delivered

    def _moving(self, frame: Frame) -> bool:
        """Whether to pass ``frame`` on; raises SourceLost when the watcher gave up on it."""
        assert self._liveness is not None
        with self._lock:
            if self._stale:
                raise SourceLost(self.last_error)
            if self._liveness.frame(frame.captured_at) and self.state != "ok":
                self._up()
            return self.state == "ok"

    def _watch(self) -> None:
        """Declares a live stream that stopped moving lost (its read may block for long)."""
        assert self._liveness is not None
        period = min(0.1, self._liveness.stall_s / 10)
        while not self._stop.wait(period):
            with self._lock:
                now = self._clock()
                if not self._pumping or self._stale or not self._liveness.stalled(now):
                    continue
                self._stale = True
                quiet = self._liveness.quiet_s(now)
                self._down(SourceLost(f"{self.name}: no frames for {quiet:.1f} s (frozen stream)"))

    # -- time ------------------------------------------------------------------------------
    def _stamp(self, frame: Frame) -> Frame:
        if not self.live:
            return self._rebase(frame)
        # the capture clock: an outage or a freeze is a gap in t_ms as long as it lasted
        if self._epoch is None:
            self._epoch = frame.captured_at - frame.t_ms / 1000.0
        t_ms = (frame.captured_at - self._epoch) * 1000.0
        index = 0
        if self._last is not None:
            t_ms = max(t_ms, self._last[0] + 1e-3)  # strictly increasing, whatever the driver
            index = self._last[1] + 1
        frame.t_ms, frame.index = t_ms, index
        self._last = (t_ms, index)
        return frame

    def _rebase(self, frame: Frame) -> Frame:
        """Files: keep their own ``t_ms`` and ``index`` increasing across reopenings."""
        t_off, i_off = self._offset
        if self._last is not None and frame.t_ms + t_off <= self._last[0]:
            step = 1000.0 / self.fps if self.fps > 0 else 1.0
            t_off = self._last[0] + step - frame.t_ms
            i_off = self._last[1] + 1 - frame.index
            self._offset = (t_off, i_off)
        frame.t_ms += t_off
        frame.index += i_off
        self._last = (frame.t_ms, frame.index)
        return frame

    # -- state changes: one log line each --------------------------------------------------
    def _down(self, exc: BaseException) -> None:
        with self._lock:
            self.last_error = why = redact_url(str(exc))  # a driver's message may quote the URL
            if self.state in ("waiting", "lost"):
                logger.debug("camera still %s: %s", self.state, why)
            elif not self._seen:
                self.state = "waiting"
                logger.warning(
                    "camera not available yet: %s; retrying with back-off up to %.3g s",
                    why,
                    self.retry_max_s,
                )
            else:
                self.losses += 1
                self._lost_at = self._clock()
                self.state = "lost"
                logger.error(
                    "camera lost: %s; retrying with back-off up to %.3g s", why, self.retry_max_s
                )

    def _up(self) -> None:
        with self._lock:
            if self._lost_at is not None:
                gone = self._clock() - self._lost_at
                self.down_s += gone
                self._lost_at = None
                logger.warning("camera back (%s) after %.1f s", self.name, gone)
            elif self.live and not self._seen:
                logger.info("camera up: %s", self.name)
            self._seen = True
            self.state = "ok"
            self.opened.set()

    def _fail(self, exc: SourceError) -> None:
        exc = SourceError(redact_url(str(exc)))
        self.error = exc
        self.state = "failed"
        self.last_error = str(exc)
        logger.error("%s", exc)
        self.slot.close()
        self.opened.set()


_DOING = {"starting": "starting", "waiting": "not seen yet, retrying", "lost": "lost, retrying"}
