"""Raspberry Pi cameras through picamera2 (``source.type = "picamera2"``).

picamera2 is imported inside ``open_picamera2`` only, so boards without it start fine with
any other source. It comes from Raspberry Pi OS (``sudo apt install python3-picamera2``); the
venv must be created with ``--system-site-packages`` to see it. picamera2 keeps one request
and recycles older buffers, so ``capture_array`` always returns the newest frame.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from microemo.config import SourceConfig
from microemo.sources.base import SourceError, SourceLost
from microemo.types import Frame

logger = logging.getLogger(__name__)

HINT = "check `rpicam-hello --list-cameras` and the ribbon cable, or set source.device"


class Picamera2Source:
    def __init__(self, cam: Any, cfg: SourceConfig, clock: Callable[[], float]) -> None:
        self._cam = cam
        self.name = f"picamera2 {cfg.device}"
        self.fps = cfg.fps
        self._clock = clock
        self._t0 = clock()
        self._index = 0

    def read(self) -> Frame | None:
        try:
            image = self._cam.capture_array("main")
        except Exception as exc:
            raise SourceLost(f"{self.name} stopped delivering frames ({exc}): {HINT}") from exc
        now = self._clock()
        if image.ndim == 3 and image.shape[2] == 4:
            image = image[:, :, :3]  # XRGB8888 is [B, G, R, A]: drop A
        frame = Frame(
            image=image, t_ms=(now - self._t0) * 1000.0, index=self._index, captured_at=now
        )
        self._index += 1
        return frame

    def close(self) -> None:
        try:
            self._cam.stop()
        finally:
            self._cam.close()


def open_picamera2(
    cfg: SourceConfig, clock: Callable[[], float] = time.monotonic
) -> Picamera2Source:
    try:
        from picamera2 import Picamera2
    except ImportError as exc:
        raise SourceError(
            "source.type = picamera2 needs picamera2: `sudo apt install python3-picamera2` and "
            "create the venv with --system-site-packages"
        ) from exc
    num = cfg.device if isinstance(cfg.device, int) else 0
    try:
        cam = Picamera2(camera_num=num)
    except Exception as exc:  # IndexError/RuntimeError when no camera is attached
        raise SourceError(f"no Pi camera number {num} ({exc}): {HINT}") from exc
    try:
        # "RGB888" is stored B, G, R in memory: the BGR order OpenCV and the landmarker expect.
        video = cam.create_video_configuration(
            main={"size": (cfg.width, cfg.height), "format": "RGB888"},
            controls={"FrameRate": cfg.fps},
            buffer_count=2,
        )
        cam.configure(video)
        cam.start()
    except Exception as exc:
        cam.close()
        raise SourceError(f"Pi camera {num} did not start ({exc}): {HINT}") from exc
    logger.debug("opened picamera2 camera %s at %dx%d", num, cfg.width, cfg.height)
    return Picamera2Source(cam, cfg, clock)
