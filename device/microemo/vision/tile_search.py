"""Search the full-resolution frame for faces too small for the landmarker's own detector.

The landmarker's detector (BlazeFace short-range, inside ``face_landmarker.task``) sees the
whole frame at 128x128 and so misses faces narrower than about a tenth of the frame. Run on
square tiles of ``tile_size`` frame pixels instead, the same detector finds faces down to
about a tenth of the tile (measured: 40 px faces with 400 px tiles, 32-36 px with 300 px).
The model is read from the landmarker's own bundle: no other asset to fetch or trust.

Tiles overlap by a quarter, so a face up to a quarter tile wide that straddles a border is
whole in some tile; larger faces are the whole-frame landmarker's business anyway. A search
can be spread over frames (``next_tiles``): the per-frame cost stays bounded at a few tiles.
"""

from __future__ import annotations

import logging
import zipfile
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

logger = logging.getLogger(__name__)

_DETECTOR_MEMBER = "face_detector.tflite"
_OVERLAP = 0.25


@dataclass(frozen=True)
class Found:
    """A face the search found: box centre and width in frame pixels, detector score."""

    cx: float
    cy: float
    width: float
    score: float


def tile_origins(w: int, h: int, tile: int) -> list[tuple[int, int]]:
    """Top-left corners of overlapping square tiles covering a w x h frame."""

    def starts(n: int) -> list[int]:
        if n <= tile:
            return [0]
        step = max(1, int(tile * (1 - _OVERLAP)))
        out = list(range(0, n - tile + 1, step))
        if out[-1] + tile < n:
            out.append(n - tile)
        return out

    return [(x, y) for y in starts(h) for x in starts(w)]


class TileSearch:
    """Stage: frame -> faces found in its tiles (``start`` a search, then ``next_tiles``)."""

    def __init__(self, landmarker_task: Path, tile_size: int, min_confidence: float) -> None:
        import mediapipe as mp
        from mediapipe.tasks.python import BaseOptions, vision

        with zipfile.ZipFile(landmarker_task) as bundle:
            model = bundle.read(_DETECTOR_MEMBER)
        self._mp = mp
        self._task = vision.FaceDetector.create_from_options(
            vision.FaceDetectorOptions(
                base_options=BaseOptions(model_asset_buffer=model),
                running_mode=vision.RunningMode.IMAGE,
                min_detection_confidence=min_confidence,
            )
        )
        self.tile_size = tile_size
        self._pending: deque[tuple[int, int]] = deque()
        self.tiles_run = 0  # for the benchmark: how many tiles were searched in all

    @property
    def busy(self) -> bool:
        """A spread-out search still has tiles to go."""
        return bool(self._pending)

    def start(self, image: np.ndarray) -> None:
        h, w = image.shape[:2]
        self._pending = deque(tile_origins(w, h, self.tile_size))

    def cancel(self) -> None:
        self._pending.clear()

    def next_tiles(self, image: np.ndarray, n: int) -> list[Found]:
        """Search up to ``n`` more tiles of the current search (all when ``n`` is 0)."""
        found: list[Found] = []
        count = len(self._pending) if n <= 0 else min(n, len(self._pending))
        for _ in range(count):
            x, y = self._pending.popleft()
            found.extend(self._tile(image, x, y))
        return _dedupe(found)

    def _tile(self, image: np.ndarray, x: int, y: int) -> list[Found]:
        t = self.tile_size
        tile = cv2.cvtColor(np.ascontiguousarray(image[y : y + t, x : x + t]), cv2.COLOR_BGR2RGB)
        self.tiles_run += 1
        result = self._task.detect(
            self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=tile)
        )
        out = []
        for d in result.detections:
            b = d.bounding_box
            score = d.categories[0].score if d.categories else 0.0
            out.append(
                Found(x + b.origin_x + b.width / 2, y + b.origin_y + b.height / 2, b.width, score)
            )
        return out

    def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.close()


def _dedupe(found: list[Found]) -> list[Found]:
    """One detection per face: overlapping tiles see the same face twice."""
    keep: list[Found] = []
    for f in sorted(found, key=lambda f: -f.score):
        if all(np.hypot(f.cx - k.cx, f.cy - k.cy) > 0.5 * max(f.width, k.width) for k in keep):
            keep.append(f)
    return keep
