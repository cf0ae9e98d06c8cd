"""FACS-coded inputs as the benchmark and the calibration see them.

A ``FacsItem`` is one short stream of frames of one subject: optional neutral reference
frames first, then the frames that carry FACS codes. A frame is an image file or one frame
of a video (``VideoFrame``). ``codes`` maps a frame index to the AUs the coder saw there
(intensity 1-5 for A-E, 0 when present without an intensity); ``coded`` says which AUs the
data set codes at all (an AU it never codes is unknown, not absent) and ``uncoded`` which of
those it left uncoded at a given frame (BP4D's 9). Adapters (``adapters.py``), chosen by name:

- ``ckplus``: CK+, the development layout or as distributed (``ckplus.py``).
- ``au-csv``: per-frame AU CSVs in the DISFA/BP4D style, or a plain generic form
  (``au_csv.py``).
- ``manifest``: a generic CSV of frames, frame folders or videos (``manifest.py``).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from microemo.types import AU_IDS

logger = logging.getLogger(__name__)


class FacsDataError(Exception):
    """A data set that cannot be used as given; the message names the file and row."""


@dataclass(frozen=True)
class VideoFrame:
    """Frame ``index`` (from 0, in decoding order) of a video file."""

    video: Path
    index: int


Frame = Path | VideoFrame


@dataclass(frozen=True)
class FacsItem:
    key: str  # unique within the data set, e.g. "S005_001/neutral-apex"
    subject: str
    frames: tuple[Frame, ...]  # the frames in order (a frame may repeat)
    codes: dict[int, dict[int, float]]  # frame index -> AU -> intensity (0: present)
    coded: frozenset[int] | None = None  # AUs the data set codes; None: every AU
    neutral: tuple[int, ...] = ()  # frame indices known to show a neutral face
    label: str | None = None  # emotion label, when the data set has one
    fps: float = 30.0
    prepare: str = ""  # how frames are turned into pictures ("" = as read)
    meta: dict[str, str] = field(default_factory=dict)
    uncoded: dict[int, frozenset[int]] = field(default_factory=dict)  # frame -> AUs not coded
    camera: str = ""  # a poorer camera every frame is taken with (``emotion_bench.cameras``)

    def coded_at(self, frame: int) -> frozenset[int] | None:
        """The AUs coded at ``frame`` (None: every AU)."""
        gaps = self.uncoded.get(frame)
        if not gaps:
            return self.coded
        return frozenset(self.coded if self.coded is not None else AU_IDS) - gaps

    def images(self) -> Iterator[np.ndarray]:
        prep = PREPARE[self.prepare]
        take = _camera(self.camera)
        videos = _VideoReader()
        last: tuple[Frame, np.ndarray] | None = None
        try:
            for f in self.frames:
                if last is None or last[0] != f:  # frames repeat in runs: keep the last one
                    image = videos.read(f) if isinstance(f, VideoFrame) else prep(f)
                    last = (f, take(image, f))
                yield last[1]
        finally:
            videos.close()

    def fingerprint(self) -> str:
        """Changes when a frame's bytes, the order, the preparation or the camera change."""
        h = hashlib.sha256(self.prepare.encode())
        if self.camera:
            h.update(b"camera:" + self.camera.encode())
        digests: dict[Path, bytes] = {}
        for f in self.frames:
            path = f.video if isinstance(f, VideoFrame) else f
            if path not in digests:
                digests[path] = _video_digest(path) if isinstance(f, VideoFrame) else _digest(path)
            h.update(digests[path])
            if isinstance(f, VideoFrame):
                h.update(f.index.to_bytes(8, "little"))
        return h.hexdigest()[:20]


def _camera(name: str) -> Callable[[np.ndarray, Frame], np.ndarray]:
    """The frames as the camera ``name`` (``dark-0.5``) takes them; "" as they are. The same
    frame is taken alike every time it is shown and on every run (noise drawn from its name),
    as ``emotion-bench --camera`` takes a picture."""
    if not name:
        return lambda image, _f: image
    from microemo_train.emotion_bench.cameras import Camera, frame_seed

    camera = Camera.from_name(name)

    def take(image: np.ndarray, f: Frame) -> np.ndarray:
        key = f"{f.video.name}/{f.index}" if isinstance(f, VideoFrame) else f.name
        return camera.take(image, frame_seed(key))

    return take


def _digest(path: Path) -> bytes:
    return hashlib.sha256(path.read_bytes()).digest()


def _video_digest(path: Path, chunk: int = 4 << 20) -> bytes:
    """A video's size and its first and last 4 MB: DISFA's videos are gigabytes, and a
    re-encoded or truncated file changes these."""
    h = hashlib.sha256(str(path.stat().st_size).encode())
    with path.open("rb") as f:
        h.update(f.read(chunk))
        f.seek(max(0, path.stat().st_size - chunk))
        h.update(f.read(chunk))
    return h.digest()


class _VideoReader:
    """Frames of videos read forwards (grab to skip, retrieve to decode only those asked)."""

    def __init__(self) -> None:
        self.path: Path | None = None
        self.cap: cv2.VideoCapture | None = None
        self.pos = 0

    def read(self, f: VideoFrame) -> np.ndarray:
        if self.cap is None or self.path != f.video or f.index < self.pos:
            self.close()
            self.cap, self.path, self.pos = cv2.VideoCapture(str(f.video)), f.video, 0
            if not self.cap.isOpened():
                raise FacsDataError(f"{f.video}: OpenCV cannot open this video")
        while self.pos < f.index:
            if not self.cap.grab():
                break
            self.pos += 1
        ok, image = self.cap.read()
        if not ok or image is None:
            raise FacsDataError(
                f"{f.video}: the video ends before frame {f.index} that the codes need "
                f"(check the file with `ffprobe {f.video}`)"
            )
        self.pos += 1
        return image

    def close(self) -> None:
        if self.cap is not None:
            self.cap.release()
            self.cap = None


def _read_bgr(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FacsDataError(f"{path}: not a readable image (png, jpg, bmp...)")
    return image


def prepare_ck_crop(path: Path) -> np.ndarray:
    """A 48x48 CK+ crop as the landmarker needs it: cubic x4, 64 px black border."""
    grey = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if grey is None:
        raise FacsDataError(f"{path}: not a readable image")
    big = cv2.resize(grey, (192, 192), interpolation=cv2.INTER_CUBIC)
    big = cv2.copyMakeBorder(big, 64, 64, 64, 64, cv2.BORDER_CONSTANT, value=0)
    return cv2.cvtColor(big, cv2.COLOR_GRAY2BGR)


PREPARE: dict[str, Callable[[Path], np.ndarray]] = {"": _read_bgr, "ck48": prepare_ck_crop}
