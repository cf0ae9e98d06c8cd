"""Episodes: spots from the spotter, classified and turned into lifecycle events.

``start`` at onset (classified on the onset frame), ``update`` at apex (re-classified on the
apex intensities, with the CNN's latest window for that face), ``end`` at offset with the
final duration and kind. The episode id is fixed at onset so consumers can dedupe.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import numpy as np

from microemo.emotion.classify import EmotionClassifier
from microemo.emotion.rules import Classification
from microemo.emotion.spotting import Spot
from microemo.publish.events import EventFactory
from microemo.types import AU_INDEX


@dataclass
class Episode:
    episode_id: str
    face_id: int
    onset_ms: float
    apex_ms: float | None
    offset_ms: float | None
    apex_aus: dict[str, float]
    classification: Classification


def _as_intensity(aus: dict[str, float], fallback: np.ndarray) -> np.ndarray:
    vec = np.zeros_like(fallback)
    for name, v in aus.items():
        idx = AU_INDEX.get(int(name[2:]))
        if idx is not None:
            vec[idx] = v
    return vec


class EpisodeManager:
    def __init__(self, events: EventFactory, classifier: EmotionClassifier) -> None:
        self.events = events
        self.classifier = classifier
        self._open: dict[int, Episode] = {}
        self._prefix = secrets.token_hex(3)

    def on_spot(self, spot: Spot, intensity: np.ndarray, t_ms: float) -> dict[str, Any] | None:
        ep = self._open.get(spot.face_id)
        if spot.phase == "start":
            cls = self.classifier.classify(spot.face_id, intensity)
            ep = Episode(
                episode_id=f"{self.events.device_id}-{self._prefix}-f{spot.face_id}-"
                f"{int(spot.onset_ms)}",
                face_id=spot.face_id,
                onset_ms=spot.onset_ms,
                apex_ms=None,
                offset_ms=None,
                apex_aus=dict(spot.apex_aus),
                classification=cls,
            )
            self._open[spot.face_id] = ep
            return self.events.make("start", ep, t_ms)
        if ep is None:
            return None  # an apex or end without a start (the start was before a restart)
        ep.apex_ms = spot.apex_ms if spot.apex_ms is not None else ep.apex_ms
        if spot.apex_aus:
            ep.apex_aus = dict(spot.apex_aus)
        ep.classification = self.classifier.classify(
            spot.face_id, _as_intensity(ep.apex_aus, intensity)
        )
        if spot.phase == "apex":
            return self.events.make("update", ep, t_ms)
        ep.offset_ms = spot.offset_ms if spot.offset_ms is not None else t_ms
        del self._open[spot.face_id]
        return self.events.make("end", ep, t_ms)

    @property
    def open_count(self) -> int:
        return len(self._open)
