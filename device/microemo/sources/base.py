"""The one small interface every capture back-end implements, and the OpenCV helper that
three of them share.

A source has ``name``, ``fps``, ``read() -> Frame | None`` and ``close()``. ``read`` returns
None only at the end of a finite stream (a file); a live camera that stops delivering raises
``SourceLost``, which the capture thread answers by reopening with back-off. Opening raises
``SourceError`` with a message that says what to check next.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any, Protocol

from microemo.secrets import redact_url as redact_url  # URLs go to logs: masked
from microemo.types import Frame

logger = logging.getLogger(__name__)


class SourceError(RuntimeError):
    """A source cannot be opened; the message names it and says what to do."""


class SourceLost(SourceError):
    """A source that was delivering frames stopped (unplugged camera, dropped stream)."""


class Source(Protocol):
    name: str
    fps: float

    def read(self) -> Frame | None: ...

    def close(self) -> None: ...


class OpenCVSource:
    """Frames from an opened ``cv2.VideoCapture``.

    ``t_ms`` counts from the moment the source was opened on the monotonic clock (the capture
    thread keeps it increasing across reopenings); ``captured_at`` is the monotonic time the
    frame came out of the driver. A failed read raises ``SourceLost``.
    """

    def __init__(
        self,
        cap: Any,
        name: str,
        fps: float,
        *,
        lost_hint: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cap = cap
        self.name = name
        reported = float(cap.get(5) or 0.0)  # cv2.CAP_PROP_FPS
        self.fps = reported if 0 < reported < 1000 else fps
        self._lost_hint = lost_hint
        self._clock = clock
        self._t0 = clock()
        self._index = 0

    def read(self) -> Frame | None:
        ok, image = self._cap.read()
        now = self._clock()
        if not ok or image is None:
            hint = f": {self._lost_hint}" if self._lost_hint else ""
            raise SourceLost(f"{self.name} stopped delivering frames{hint}")
        if image.ndim == 2 or image.shape[2] != 3:
            image = _to_bgr(image)
        frame = Frame(
            image=image, t_ms=(now - self._t0) * 1000.0, index=self._index, captured_at=now
        )
        self._index += 1
        return frame

    def close(self) -> None:
        self._cap.release()


def quiet_native_logs() -> None:
    """Keep OpenCV's and FFmpeg's own messages off stderr.

    While a camera is down they add lines on every retry ("[tcp @ 0x...] Connection
    refused", and OpenCV's misleading "backend is generally available but can't be used to
    capture by name"), and a frozen stream adds "Stream timeout triggered": the capture
    thread says what happened once, in the log. Call it before the first stream is opened
    (FFmpeg reads its level once); ``OPENCV_FFMPEG_LOGLEVEL`` and ``OPENCV_LOG_LEVEL`` set
    by the user win, and ``microemo -v run`` does not call it."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
    if "OPENCV_LOG_LEVEL" in os.environ:
        return  # the user's own choice
    import cv2

    api = getattr(getattr(cv2, "utils", None), "logging", None)  # older builds lack it
    if api is not None:
        api.setLogLevel(api.LOG_LEVEL_ERROR)


def _to_bgr(image: Any) -> Any:
    import cv2

    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)


def open_capture(
    target: int | str,
    api: int,
    *,
    name: str,
    fps: float,
    error: str,
    lost_hint: str = "",
    params: list[int] | None = None,
    size: tuple[int, int] | None = None,
) -> OpenCVSource:
    """Open ``cv2.VideoCapture(target, api)``; raise ``SourceError(error)`` when it fails."""
    import cv2

    cap = cv2.VideoCapture(target, api, params or [])
    if not cap.isOpened():
        cap.release()
        raise SourceError(error)
    if size is not None:
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, size[0])
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, size[1])
        cap.set(cv2.CAP_PROP_FPS, fps)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # newest frame, not a backlog in the driver
    logger.debug("opened %s", name)  # the capture thread logs the state change
    return OpenCVSource(cap, name, fps, lost_hint=lost_hint)
