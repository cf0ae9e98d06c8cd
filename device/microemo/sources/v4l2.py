"""USB and other V4L2 cameras through OpenCV (``source.type = "v4l2"``).

``source.device`` is an index (0) or a device path (``/dev/video0``). The driver buffer is
set to one frame so a slow consumer gets the newest picture, not a stale backlog.
"""

from __future__ import annotations

from pathlib import Path

from microemo.config import SourceConfig
from microemo.sources.base import OpenCVSource, SourceError, open_capture

HINT = "check `v4l2-ctl --list-devices` (apt package v4l-utils) or set source.device"


def _device(cfg: SourceConfig) -> int | str:
    dev: int | str = cfg.device
    if isinstance(dev, str) and dev.strip().isdigit():
        dev = int(dev)
    if dev == 0 and cfg.path.startswith("/dev/"):
        dev = cfg.path  # a device path given as source.path is accepted too
    return dev


def device_path(cfg: SourceConfig) -> str:
    """The device node ``cfg`` names (``/dev/video0`` for index 0)."""
    dev = _device(cfg)
    return f"/dev/video{dev}" if isinstance(dev, int) else dev


def open_v4l2(cfg: SourceConfig) -> OpenCVSource:
    import cv2

    dev = _device(cfg)
    where = device_path(cfg)
    if not Path(where).exists():
        raise SourceError(f"no camera at {where}: {HINT}")
    return open_capture(
        dev,
        cv2.CAP_V4L2,
        name=f"v4l2 {where}",
        fps=cfg.fps,
        size=(cfg.width, cfg.height),
        error=f"cannot open camera at {where} (busy, or no permission: is the user in the "
        f"`video` group?): {HINT}",
        lost_hint="unplugged? " + HINT,
    )
