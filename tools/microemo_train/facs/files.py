"""What every adapter needs from the files it reads: frames of a folder in order, a video's
length and rate, CSV columns matched loosely, how long videos are subsampled, and the
missing files of a data set collected and reported in one message."""

from __future__ import annotations

import csv
import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import cv2

from microemo_train.facs.items import FacsDataError

logger = logging.getLogger(__name__)

VIDEO_EXT = {".avi", ".mp4", ".mov", ".mkv", ".flv", ".webm", ".wmv", ".mpg", ".mpeg", ".m4v"}
IMAGE_EXT = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}
ON_MISSING = ("stop", "skip")


@dataclass
class Problems:
    """Missing files, folders and rows of a data set: all of them are named at once, then
    the items they belong to are left out (``skip``) or nothing runs (``stop``)."""

    source: str
    on_missing: str = "stop"
    found: list[str] = field(default_factory=list)
    items_left_out: int = 0

    def missing(self, what: str, why: str = "", item: bool = True) -> None:
        self.found.append(f"{what}" + (f" ({why})" if why else ""))
        self.items_left_out += int(item)

    def settle(self, kept: int) -> str | None:
        """Raise (``stop``) or say what was skipped (``skip``); None when nothing is missing."""
        if not self.found:
            return None
        listed = "; ".join(self.found)
        n = len(self.found)
        if self.on_missing == "stop" or kept == 0:
            raise FacsDataError(
                f"{self.source}: {n} missing: {listed}. Fix the paths, or pass "
                "--on-missing skip to leave those items out"
                + (" (nothing would be left)" if kept == 0 and self.on_missing == "skip" else "")
            )
        return (
            f"{self.source}: skipped {self.items_left_out} item(s), {kept} kept; "
            f"{n} missing: {listed}"
        )


def norm(name: str) -> str:
    """Column names compared without case, spaces, underscores or dashes."""
    return re.sub(r"[\s_\-]+", "", name).lower()


def read_table(path: Path, required: tuple[str, ...]) -> tuple[list[str], list[dict[str, str]]]:
    """A CSV's rows keyed by normalised column name; every missing required column in one
    error. Returns the normalised header too."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError) as exc:
        raise FacsDataError(f"{path}: cannot read it as a CSV ({exc})") from None
    if not rows:
        raise FacsDataError(f"{path}: empty file; expected a header row")
    header = [norm(h) for h in rows[0]]
    missing = [c for c in required if norm(c) not in header]
    if missing:
        raise FacsDataError(
            f"{path}: missing column(s) {', '.join(missing)} (found: {', '.join(rows[0])})"
        )
    out = []
    for values in rows[1:]:
        if any(v.strip() for v in values):
            out.append({h: v.strip() for h, v in zip(header, values)})
    return header, out


_NUMBER = re.compile(r"(\d+)")


def frame_number(path: Path) -> int | None:
    """The last number in a frame file's name (``S005_001_00000011`` -> 11, ``2440`` -> 2440)."""
    found = _NUMBER.findall(path.stem)
    return int(found[-1]) if found else None


def folder_frames(folder: Path) -> list[Path]:
    """A frame folder's images in frame order: by the number in their names when all have
    one, else by name."""
    files = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXT and p.is_file()]
    numbers = [frame_number(p) for p in files]
    if files and all(n is not None for n in numbers):
        return [p for _, p in sorted(zip(numbers, files), key=lambda t: (t[0], t[1].name))]
    return sorted(files)


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_EXT and path.is_file()


def video_info(path: Path) -> tuple[int, float]:
    """(frames, fps) as the container says; (0, 0) when OpenCV cannot open it."""
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            return 0, 0.0
        return int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    finally:
        cap.release()


@dataclass(frozen=True)
class Sampling:
    """Long videos are read every ``every``-th frame, and more sparsely when that still
    leaves more than ``max_frames`` of one video."""

    every: int = 1
    max_frames: int = 1000

    def stride(self, n: int) -> int:
        return max(self.every, math.ceil(n / self.max_frames) if self.max_frames > 0 else 1)

    def pick(self, frames: list[int]) -> tuple[list[int], int]:
        """Every stride-th of ``frames`` (in order) and the stride."""
        s = self.stride(len(frames))
        return frames[::s], s
