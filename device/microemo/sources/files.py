"""Recorded inputs: video files, folders of frames (a CASME II episode is one), single images.

Every frame carries ``t_ms`` on the file's own clock: frame index / fps, where fps is the
container's rate for videos and the caller's (or 30) for frame folders. Reading never
sleeps: real-time replay is the daemon's business.

Opening raises ``SourceError`` with one line naming the file, the fault and what to do next.
A frame folder never reads a picture ``microemo analyze`` wrote (a PNG tagged
``Software: microemo analyze``), so a folder analysed into itself reads the same frames again.
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
# the PNG text chunk that marks analyze's own pictures (written by analyze.plot)
OWN_PICTURE_TAG = ("Software", "microemo analyze")
VIDEO_HINT = (
    "OpenCV's FFmpeg reads mp4, mkv, avi, mov, flv and webm holding H.264, H.265, VP8/VP9, "
    "MPEG-4 or MJPEG; `ffprobe {p}` shows what the file holds, "
    "`ffmpeg -i {p} -c:v libx264 fixed.mp4` converts it"
)


class SourceError(Exception):
    """An input that cannot be read; the message names it, says why and what to do."""


def _exts(exts: set[str]) -> str:
    return " ".join(sorted(exts))


def is_own_picture(path: Path) -> bool:
    """True for a PNG that ``microemo analyze`` wrote (its text chunk says so). Reads the
    header only (about 0.04 ms); an unreadable file is not ours."""
    if path.suffix.lower() != ".png":
        return False
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return bool(im.info.get(OWN_PICTURE_TAG[0]) == OWN_PICTURE_TAG[1])
    except (OSError, UnidentifiedImageError, ValueError):
        return False


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

    def problem(self) -> str | None:
        """After reading: what the input lacked (naming it and what to do), or None."""
        return None

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
            self._cap.release()
            raise SourceError(_not_a_video(path))
        native = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        if fps is None and not (1.0 <= native <= 1000.0):
            logger.warning(
                "%s: the container reports %.3f fps; assuming 30 (analyze --fps sets it)",
                path,
                native,
            )
            native = 30.0
        self.fps = float(fps or native)
        self.frame_count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self._index = 0
        ok, first = self._cap.read()
        if not ok or first is None:
            self._cap.release()
            raise SourceError(
                f"{path}: opened, but no frame decodes (cut short, or a codec this OpenCV "
                f"lacks): " + VIDEO_HINT.format(p=path)
            )
        self._pending: np.ndarray | None = first

    @property
    def decoded(self) -> int:
        return self._index

    @property
    def truncated(self) -> bool:
        """True when the file ended well before the frame count its header promised."""
        return self.frame_count > 0 and self._index < self.frame_count * 0.95 - 1

    def problem(self) -> str | None:
        """After reading: what was missing, naming the file and what to do; else None."""
        if not self.truncated:
            return None
        return (
            f"{self.path}: truncated: decoded {self._index} of the {self.frame_count} frames "
            "its header lists (cut short, e.g. by an interrupted copy or recording); the "
            "decoded frames were analysed; copy or export the file again for the rest"
        )

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


def _not_a_video(path: Path) -> str:
    if path.suffix.lower() not in VIDEO_EXTS:
        return (
            f"{path}: not a video, a folder of frames or an image (videos: "
            f"{_exts(VIDEO_EXTS)}; images: {_exts(IMAGE_EXTS)}); if it is a video, "
            + VIDEO_HINT.format(p=path)
        )
    return f"{path}: not a readable video: " + VIDEO_HINT.format(p=path)


def _frame_number(p: Path) -> tuple[int, str]:
    digits = re.findall(r"\d+", p.stem)
    return (int(digits[-1]) if digits else -1, p.name)


class FrameFolderSource(FileSource):
    """Images in a folder, ordered by the last number in their names (img9 before img10)."""

    def __init__(self, path: Path, fps: float | None = None) -> None:
        self.path = path
        self.name = path.name
        entries = list(path.iterdir())
        images = [p for p in entries if p.suffix.lower() in IMAGE_EXTS]
        own = {p for p in images if is_own_picture(p)}
        if own:
            logger.info("%s: %d picture(s) of microemo analyze, not read as frames", path, len(own))
        self._files = sorted((p for p in images if p not in own), key=_frame_number)
        if not self._files:
            raise SourceError(_no_images(path, entries))
        self.fps = float(fps or DEFAULT_FOLDER_FPS)
        self.frame_count = len(self._files)
        self._index = 0
        self.unreadable: list[Path] = []

    def problem(self) -> str | None:
        """After reading: the images that could not be read, if any."""
        if not self.unreadable:
            return None
        n, first = len(self.unreadable), self.unreadable[0]
        return (
            f"{self.path}: {n} of its {self.frame_count} images could not be read and were "
            f"skipped (first: {first.name}): check them with `file {first}`, copy them again"
        )

    def read(self) -> Frame | None:
        while self._index < len(self._files):
            p = self._files[self._index]
            i = self._index
            self._index += 1
            image = cv2.imread(str(p), cv2.IMREAD_COLOR)
            if image is None:
                logger.warning("%s: unreadable image, skipped", p)
                self.unreadable.append(p)
                continue
            return Frame(image, i * 1000.0 / self.fps, i, time.monotonic())
        return None


def _no_images(path: Path, entries: list[Path]) -> str:
    text = (
        f"{path}: folder holds no images; a folder of frames holds {_exts(IMAGE_EXTS)} files, "
        "read in the order of the last number in their names at --fps (default 30)"
    )
    videos = [p for p in entries if p.suffix.lower() in VIDEO_EXTS]
    folders = [p for p in entries if p.is_dir()]
    if videos:
        globs = " ".join(f"{path}/*{s}" for s in sorted({p.suffix for p in videos}))
        return text + f"; it holds {len(videos)} videos: give them instead ({globs})"
    if folders:
        return text + f"; it holds {len(folders)} folders: give them instead ({path}/*/)"
    return text


class ImageSource(FileSource):
    """A single still: one frame at t=0."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = path.stem
        self.fps = DEFAULT_FOLDER_FPS
        self.frame_count = 1
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise SourceError(
                f"{path}: not a readable image (corrupt, or not the {path.suffix} it claims): "
                f"check it with `file {path}` or an image viewer, or convert it to PNG or JPEG"
            )
        self._image: np.ndarray | None = image

    def read(self) -> Frame | None:
        if self._image is None:
            return None
        image, self._image = self._image, None
        return Frame(image, 0.0, 0, time.monotonic(), still=True)


def open_file_source(path: str | Path, fps: float | None = None) -> FileSource:
    """Open a video file, a folder of frames or an image; raise ``SourceError`` naming it."""
    p = Path(path)
    if not p.exists():
        raise SourceError(
            f"{p}: no such file or folder: check the path (a video, a folder of frames or an image)"
        )
    try:
        if p.is_dir():
            return FrameFolderSource(p, fps)
        with p.open("rb"):  # OpenCV says "cannot open" for a file it may not read
            pass
    except PermissionError as exc:
        raise SourceError(
            f"{p}: permission denied: make it readable (`ls -l {exc.filename or p}` shows who "
            "may read it)"
        ) from None
    if p.suffix.lower() in IMAGE_EXTS:
        return ImageSource(p)
    if p.stat().st_size == 0:
        raise SourceError(
            f"{p}: empty file (0 bytes), e.g. an interrupted copy or recording: copy it again"
        )
    return VideoFileSource(p, fps)
