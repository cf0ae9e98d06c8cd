"""Small faces: found by a tiled search, then landmarked each in its own crop, every frame.

The whole-frame landmarker keeps doing what it did (the common case of one or two near faces
costs what it cost). Beside it:

- a **search** (``tile_search``) runs only while fewer than ``num_faces`` faces are held, at
  most every ``search_interval_ms``, spread over frames ``search_tiles_per_frame`` tiles at a
  time (the first search of a stream covers the whole frame at once, so a still picture is
  searched whole);
- each face it finds that no landmarker already has becomes a **crop track**: on every frame
  the face is landmarked in a square crop of the full-resolution frame around where it was
  (``crops``), the crop following it. A track whose face is not in its crop for
  ``_MAX_MISSES`` frames in a row ends; the next search finds the face again if it is there.
- A crop track whose face the whole-frame landmarker now holds (someone walked closer) ends:
  that face is reported once, from the whole frame, at the same place, so the tracker keeps
  its id.

Cost per frame: nothing while ``num_faces`` faces are held by the whole-frame landmarker;
otherwise a few detector tiles on search frames, plus one crop landmarker pass per small face
(about 0.4-0.6 of a whole-frame landmarker pass each: see ``make bench`` and docs/faces.md).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from microemo.config import LandmarkerConfig
from microemo.types import FaceObservation
from microemo.vision.crops import CROP_PX, Box, CropLandmarker, CropWindow, covered, face_box
from microemo.vision.tile_search import Found, TileSearch

logger = logging.getLogger(__name__)

_MAX_MISSES = 3  # frames a crop track may lose its face (a blink of blur, a turn) and go on


@dataclass
class _CropTrack:
    cx: float  # frame pixels
    cy: float
    width: float  # cheek to cheek, frame pixels
    misses: int = 0


class SmallFaces:
    """Used by ``Landmarker.detect``: the faces its whole-frame pass cannot see."""

    def __init__(self, model: Path, config: LandmarkerConfig) -> None:
        self.config = config
        self.search = TileSearch(model, config.tile_size, config.min_detection_confidence)
        self.crops = CropLandmarker(str(model), config)
        self._tracks: list[_CropTrack] = []
        self._next_search_ms = float("-inf")
        self._whole_next = True
        self.crops_run = 0  # for the benchmark: crop landmarker passes in all

    def new_stream(self) -> None:
        self._tracks.clear()
        self.search.cancel()
        self._next_search_ms = float("-inf")
        self._whole_next = True

    def detect(
        self, image: np.ndarray, t_ms: float, main: list[FaceObservation], size: tuple[int, int]
    ) -> list[FaceObservation]:
        """Faces beyond ``main`` (the whole-frame faces), in frame-normalised coordinates with
        ``image_size`` ``size`` like them, at most ``num_faces`` faces in all."""
        room = self.config.num_faces - len(main)
        if room <= 0:  # every face the whole frame may hold: no crop track goes on, no search
            self._tracks = []
            return []
        h, w = image.shape[:2]
        known = [face_box(o, w, h) for o in main]
        out = self._follow(image, known, size, room)
        room -= len(out)
        if room > 0:
            for found in self._search_step(image, t_ms):
                if room <= 0:
                    break
                if covered((found.cx, found.cy, found.width), known):
                    continue
                obs, box = self._landmark(image, (found.cx, found.cy, found.width), size)
                if obs is None or covered(box, known):
                    continue
                self._tracks.append(_CropTrack(*box))
                logger.debug("small face at (%.0f, %.0f), %.0f px wide", *box)
                known.append(box)
                out.append(obs)
                room -= 1
        return out

    def _follow(
        self, image: np.ndarray, known: list[Box], size: tuple[int, int], room: int
    ) -> list[FaceObservation]:
        """Every crop track on this frame; ends tracks that are lost or now held elsewhere."""
        out: list[FaceObservation] = []
        kept: list[_CropTrack] = []
        for tr in self._tracks:
            if len(out) >= room or covered((tr.cx, tr.cy, tr.width), known):
                continue
            obs, box = self._landmark(image, (tr.cx, tr.cy, tr.width), size)
            if obs is None or covered(box, known):
                tr.misses += 1
                if tr.misses <= _MAX_MISSES:
                    kept.append(tr)
                continue
            tr.cx, tr.cy, tr.width = box
            tr.misses = 0
            kept.append(tr)
            known.append(box)
            out.append(obs)
        self._tracks = kept
        return out

    def _search_step(self, image: np.ndarray, t_ms: float) -> list[Found]:
        if not self.search.busy:
            if t_ms < self._next_search_ms:
                return []
            self.search.start(image)
            self._next_search_ms = t_ms + self.config.search_interval_ms
        n = 0 if self._whole_next else self.config.search_tiles_per_frame
        self._whole_next = False
        return self.search.next_tiles(image, n)

    def _landmark(
        self, image: np.ndarray, expect: Box, size: tuple[int, int]
    ) -> tuple[FaceObservation | None, Box]:
        """The face expected at ``expect`` landmarked in its crop; (None, expect) if the crop
        holds no face there (a neighbour's face in the same crop is not it)."""
        h, w = image.shape[:2]
        win = CropWindow.around(*expect)
        self.crops_run += 1
        best: tuple[float, FaceObservation, Box] | None = None
        for obs in self.crops.detect(image, win):
            cx, cy, fw = face_box(obs, CROP_PX, CROP_PX)
            k = win.side / CROP_PX
            box = (win.x0 + cx * k, win.y0 + cy * k, fw * k)
            dist = float(np.hypot(box[0] - expect[0], box[1] - expect[1]))
            plausible = dist < 0.5 * expect[2] and 0.4 < box[2] / expect[2] < 2.5
            if plausible and (best is None or dist < best[0]):
                best = (dist, obs, box)
        if best is None:
            return None, expect
        _, obs, box = best
        return (
            FaceObservation(
                win.to_frame(obs.landmarks, w, h),
                obs.blendshapes,
                win.pose_to_frame(obs.pose, w, h),
                size,
            ),
            box,
        )

    def close(self) -> None:
        self.search.close()
        self.crops.close()
