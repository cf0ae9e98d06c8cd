"""The capture thread and the one-slot buffer between it and the frame loop.

The camera never waits for the pipeline: each new frame replaces the one in the slot (newest
wins) and the replaced frame is counted as dropped, so under overload the daemon skips
frames instead of queueing them and latency stays bounded. ``lossless=True`` makes the
producer wait for the slot instead (benchmarks and batch replays that must see every frame).

A source that fails is closed, logged once ("camera lost"), reopened with a back-off that
doubles up to ``retry_max_s``, and logged once more when it is back; the frame loop keeps
running meanwhile and ``status()`` reports the outage.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from microemo.sources.base import Source, SourceError, redact_url
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
    """

    def __init__(
        self,
        opener: Callable[[], Source],
        slot: FrameSlot,
        *,
        live: bool,
        retry_initial_s: float = 0.5,
        retry_max_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._open = opener
        self.slot = slot
        self.live = live
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: SourceError | None = None
        self.state = "starting"
        self.name = "source"
        self.fps = 0.0
        self.losses = 0
        self.down_s = 0.0
        self.last_error = ""
        self._lost_at: float | None = None
        self._last: tuple[float, int] | None = None  # (t_ms, index) of the last frame
        self._offset = (0.0, 0)
        self.opened = threading.Event()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="capture", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self.slot.close()
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

    def _run(self) -> None:
        backoff = self.retry_initial_s
        ever_opened = False
        while not self._stop.is_set():
            try:
                src = self._open()
            except Exception as exc:  # drivers raise anything; a SourceError says what to do
                if not (self.live or ever_opened):
                    self._fail(exc if isinstance(exc, SourceError) else SourceError(str(exc)))
                    return
                self._lost(exc)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.retry_max_s)
                continue
            ever_opened = True
            self.name, self.fps = src.name, float(src.fps or 0.0)
            self._back()
            self.opened.set()
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
        try:
            while not self._stop.is_set():
                frame = src.read()
                if frame is None:
                    logger.info("%s: end of stream", self.name)
                    self.state = "ended"
                    self.slot.close()
                    return True, delivered
                self.slot.put(self._rebase(frame))
                delivered += 1
        except Exception as exc:  # a driver can raise anything; the thread must survive it
            self._lost(exc)
        finally:
            try:
                src.close()
            except Exception:
                logger.debug("closing %s failed", self.name, exc_info=True)
        return False, delivered

    def _rebase(self, frame: Frame) -> Frame:
        """Keep ``t_ms`` and ``index`` increasing across reopenings (sources restart at 0)."""
        t_off, i_off = self._offset
        if self._last is not None and frame.t_ms + t_off <= self._last[0]:
            step = 1000.0 / self.fps if self.fps > 0 else 1.0
            t_off = self._last[0] + step - frame.t_ms
            i_off = self._last[1] + 1 - frame.index
            self._offset = (t_off, i_off)
        frame.t_ms += t_off
        frame.index += i_off
        if not frame.captured_at:
            frame.captured_at = self._clock()
        self._last = (frame.t_ms, frame.index)
        return frame

    def _lost(self, exc: BaseException) -> None:
        self.last_error = why = redact_url(str(exc))  # a driver's message may quote the URL
        if self.state != "lost":
            self.losses += 1
            self._lost_at = self._clock()
            self.state = "lost"
            logger.error(
                "camera lost: %s; retrying with back-off up to %.3g s", why, self.retry_max_s
            )
        else:
            logger.debug("camera still lost: %s", why)

    def _back(self) -> None:
        if self._lost_at is not None:
            gone = self._clock() - self._lost_at
            self.down_s += gone
            self._lost_at = None
            logger.warning("camera back (%s) after %.1f s", self.name, gone)
        self.state = "ok"

    def _fail(self, exc: SourceError) -> None:
        exc = SourceError(redact_url(str(exc)))
        self.error = exc
        self.state = "failed"
        self.last_error = str(exc)
        logger.error("%s", exc)
        self.slot.close()
        self.opened.set()
