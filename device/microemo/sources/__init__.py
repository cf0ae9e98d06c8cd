"""Capture back-ends, chosen by ``source.type``; each imported only when chosen.

``open_source(cfg)`` opens one source; ``source_opener(cfg)`` returns the function the
capture thread calls again after a loss. File types (``file``, ``frames``, ``image``) are
wrapped in ``ReplaySource`` (real-time pacing at the file's rate, optional loop).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import partial
from typing import Any

from microemo.config import SourceConfig
from microemo.sources.base import Source, SourceError, SourceLost

__all__ = [
    "FILE_TYPES",
    "Source",
    "SourceError",
    "SourceLost",
    "is_live",
    "is_lossless",
    "open_source",
    "source_opener",
]

FILE_TYPES = frozenset({"file", "frames", "image"})

# source.type -> "module:function" taking the SourceConfig
_LIVE: dict[str, str] = {
    "v4l2": "microemo.sources.v4l2:open_v4l2",
    "picamera2": "microemo.sources.picamera2:open_picamera2",
    "gstreamer": "microemo.sources.gstreamer:open_gstreamer",
    "rtsp": "microemo.sources.rtsp:open_rtsp",
}


def is_live(cfg: SourceConfig) -> bool:
    return cfg.type not in FILE_TYPES


def is_lossless(cfg: SourceConfig) -> bool:
    """A recorded input replayed as fast as it goes: every frame is processed, none dropped."""
    return cfg.type in FILE_TYPES and not cfg.realtime


def _open_file(cfg: SourceConfig) -> Source:
    from microemo.sources.files import SourceError as FileError
    from microemo.sources.files import open_file_source
    from microemo.sources.replay import ReplaySource

    if not cfg.path:
        raise SourceError(
            f"source.type = {cfg.type!r} needs source.path (a video file, a "
            "folder of frames or an image)"
        )

    def opener() -> Source:
        try:
            src: Source = open_file_source(cfg.path)
        except (FileError, OSError, ValueError) as exc:
            raise SourceError(f"cannot open source.path = {cfg.path!r}: {exc}") from exc
        return src

    return ReplaySource(opener, realtime=cfg.realtime, loop=cfg.loop)


def open_source(cfg: SourceConfig) -> Source:
    """Open the source ``cfg`` describes; raise ``SourceError`` saying what to check."""
    if cfg.type in FILE_TYPES:
        return _open_file(cfg)
    module_name, func_name = _LIVE[cfg.type].split(":")
    opener: Any = getattr(importlib.import_module(module_name), func_name)
    source: Source = opener(cfg)
    return source


def source_opener(cfg: SourceConfig) -> Callable[[], Source]:
    return partial(open_source, cfg)
