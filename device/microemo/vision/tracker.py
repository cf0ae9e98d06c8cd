"""Stable face ids across frames.

Greedy matching of detections to tracks by centre distance in face widths. A track that
loses its face is kept for ``max_lost_ms``: a face that comes back near where it left (or,
failing that, the only face back after a lone face left) gets its old id and so keeps its
neutral baseline. After that the id is retired and reported once, so per-face state
downstream (baselines, windows, open episodes) can be closed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from microemo.config import TrackerConfig
from microemo.types import FaceObservation, TrackedFace

logger = logging.getLogger(__name__)


@dataclass
class _Track:
    face_id: int
    center: np.ndarray  # (2,) normalised image coordinates
    width: float  # normalised to image width
    last_ms: float
    hits: int = 1
    missed: int = 0  # frames since last matched


def _box(obs: FaceObservation) -> tuple[np.ndarray, float]:
    xy = obs.landmarks[:, :2]
    center = xy.mean(axis=0)
    width = float(abs(obs.landmarks[454, 0] - obs.landmarks[234, 0]))
    return center, max(width, 1e-3)


class FaceTracker:
    """Stage: list[FaceObservation] -> list[TrackedFace] (+ ids that are gone for good)."""

    def __init__(self, config: TrackerConfig) -> None:
        self.config = config
        self._tracks: dict[int, _Track] = {}
        self._next_id = 0

    def update(
        self, faces: list[FaceObservation], t_ms: float
    ) -> tuple[list[TrackedFace], list[int]]:
        boxes = [_box(f) for f in faces]
        pairs = []
        for i, (c, w) in enumerate(boxes):
            for tid, tr in self._tracks.items():
                dist = float(np.linalg.norm(c - tr.center)) / max(w, tr.width)
                pairs.append((dist, i, tid))
        pairs.sort()
        assigned: dict[int, int] = {}
        used: set[int] = set()
        for dist, i, tid in pairs:
            if i in assigned or tid in used:
                continue
            lost = self._tracks[tid].missed > 0
            limit = self.config.max_jump * (3.0 if lost else 1.0)
            if dist <= limit or (lost and len(faces) == 1 and len(self._tracks) == 1):
                assigned[i] = tid
                used.add(tid)
        out = []
        for i, obs in enumerate(faces):
            c, w = boxes[i]
            match = assigned.get(i)
            if match is None:
                tid = self._next_id
                self._next_id += 1
                self._tracks[tid] = _Track(tid, c, w, t_ms)
                logger.info("face %d appeared", tid)
                conf = 0.5
            else:
                tid = match
                tr = self._tracks[tid]
                tr.center, tr.width, tr.last_ms = c, w, t_ms
                tr.hits += 1
                tr.missed = 0
                conf = min(1.0, 0.5 + 0.05 * tr.hits)
            out.append(TrackedFace(tid, obs, conf))
        seen = {f.face_id for f in out}
        for tid, tr in self._tracks.items():
            if tid not in seen:
                tr.missed += 1
        return out, self.expire(t_ms)

    def expire(self, t_ms: float) -> list[int]:
        """Ids not seen for more than ``max_lost_ms`` by ``t_ms`` are gone: on a frame
        without them, and while no frame comes at all (a camera outage)."""
        gone = [
            tid for tid, tr in self._tracks.items() if t_ms - tr.last_ms > self.config.max_lost_ms
        ]
        for tid in gone:
            del self._tracks[tid]
            logger.info("face %d gone", tid)
        return gone

    def flush(self) -> list[int]:
        """End of stream: every remaining id is gone."""
        gone = list(self._tracks)
        self._tracks.clear()
        return gone

    @property
    def active_ids(self) -> list[int]:
        return list(self._tracks)
