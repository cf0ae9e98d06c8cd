"""Recorded inputs: video files, folders of frames (a CASME II episode is one), single images.

Every frame carries ``t_ms`` on the file's own clock: frame index / fps, where fps is the
container's rate for videos and the caller's (or 30) for frame folders. Reading never
sleeps: real-time replay is the daemon's business.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from microemo.types import Frame

logger = logging.getLogger(__name__)

VIDEO_EXTS = {".mp4", ".avi", ".mov", ".mkv", ".flv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv"}
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}
DEFAULT_FOLDER_FPS = 30.0


class SourceError(Exception):
    """An input that cannot be read; the message names it and says why."""


def _as_bgr(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


class FileSource:
    """Base for recorded sources: iterable, with ``fps``, ``name`` and ``read()``."""

    name: str
    fps: float
    frame_count: int

    def read(self) -> Frame | None:
        raise NotImplementedError

    def close(self) -> None:
        return None

    def __iter__(self) -> Iterator[Frame]:
        while (frame := self.read()) is not None:
            yield frame

    def __enter__(self) -> FileSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class VideoFileSource(FileSource):
    def __init__(self, path: Path, fps: float | None = None) -> None:
        self.path = path
        self.name = path.stem
        self._cap = cv2.VideoCapture(str(path))
        if not self._cap.isOpened():
            raise SourceError(f"{path}: not a readable video (OpenCV/FFmpeg could not open it)")
        native = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        if fps is None and not (1.0 <= native <= 1000.0):
            logger.warning("%s: container reports fps %.3f; assuming 30", path, native)
            native = 30.0
        self.fps = float(fps or native)
        self.frame_count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self._index = 0
        ok, first = self._cap.read()
        if not ok or first is None:
            self._cap.release()
            raise SourceError(f"{path}: no decodable frame (truncated or not a video)")
        self._pending: np.ndarray | None = first

    @property
    def decoded(self) -> int:
        return self._index

    @property
    def truncated(self) -> bool:
        """True when the file ended well before the frame count its header promised."""
        return self.frame_count > 0 and self._index < self.frame_count * 0.95 - 1

    def read(self) -> Frame | None:
        if self._pending is not None:
            image, self._pending = self._pending, None
        else:
            ok, image = self._cap.read()
            if not ok or image is None:
                return None
        frame = Frame(
            _as_bgr(image), self._index * 1000.0 / self.fps, self._index, time.monotonic()
        )
        self._index += 1
        return frame

    def close(self) -> None:
        self._cap.release()


def _frame_number(p: Path) -> tuple[int, str]:
    digits = re.findall(r"\d+", p.stem)
    return (int(digits[-1]) if digits else -1, p.name)


class FrameFolderSource(FileSource):
    """Images in a folder, ordered by the last number in their names (img9 before img10)."""

    def __init__(self, path: Path, fps: float | None = None) -> None:
        self.path = path
        self.name = path.name
        self._files = sorted(
            (p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTS), key=_frame_number
        )
        if not self._files:
            raise SourceError(f"{path}: folder holds no images ({', '.join(sorted(IMAGE_EXTS))})")
        self.fps = float(fps or DEFAULT_FOLDER_FPS)
        self.frame_count = len(self._files)
        self._index = 0

    def read(self) -> Frame | None:
        while self._index < len(self._files):
            p = self._files[self._index]
            i = self._index
            self._index += 1
            image = cv2.imread(str(p), cv2.IMREAD_COLOR)
            if image is None:
                logger.warning("%s: unreadable image, skipped", p)
                continue
            return Frame(image, i * 1000.0 / self.fps, i, time.monotonic())
        return None


class ImageSource(FileSource):
    """A single still: one frame at t=0."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = path.stem
        self.fps = DEFAULT_FOLDER_FPS
        self.frame_count = 1
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise SourceError(f"{path}: not a readable image")
        self._image: np.ndarray | None = image

    def read(self) -> Frame | None:
        if self._image is None:
            return None
        image, self._image = self._image, None
        return Frame(image, 0.0, 0, time.monotonic())


def open_file_source(path: str | Path, fps: float | None = None) -> FileSource:
    """Open a video file, a folder of frames or an image; raise ``SourceError`` naming it."""
    p = Path(path)
    if not p.exists():
        raise SourceError(f"{p}: no such file or folder")
    if p.is_dir():
        return FrameFolderSource(p, fps)
    if p.suffix.lower() in IMAGE_EXTS:
        return ImageSource(p)
    if p.stat().st_size == 0:
        raise SourceError(f"{p}: empty file")
    return VideoFileSource(p, fps)
