"""Episodes: spots from the spotter, classified and handed on as lifecycle steps.

``start`` at onset (classified on the onset frame), ``update`` at apex and ``end`` at offset
(re-classified on the whole face at the frame where the episode's AUs were strongest, with
the episode's apex intensities, and the CNN's latest window for that face). The episode id
is fixed at onset so consumers can dedupe. Each step is a typed ``EpisodeStep``; the event
payload (sequence number, wall time, kind, rounding) is stamped onto it in
``publish.events``, never here.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import numpy as np

from microemo.emotion.classify import EmotionClassifier
from microemo.emotion.spotting import Spot
from microemo.types import AU_INDEX, Classification, EpisodeStep


@dataclass
class Episode:
    episode_id: str
    face_id: int
    onset_ms: float
    apex_ms: float | None
    offset_ms: float | None
    apex_aus: dict[str, float]
    classification: Classification
    peak_face: np.ndarray | None = None  # every AU at the frame the episode's AUs peaked
    peak_level: float = -1.0
    peak_appearance: np.ndarray | None = None  # the appearance reading at that frame
    trust: float = 0.0  # how far the face's neutral baseline was trusted then


def _as_intensity(aus: dict[str, float], fallback: np.ndarray) -> np.ndarray:
    vec = np.zeros_like(fallback)
    for name, v in aus.items():
        idx = AU_INDEX.get(int(name[2:]))
        if idx is not None:
            vec[idx] = v
    return vec


class EpisodeManager:
    """Open episodes per face. ``model`` is the model info stamped on each step: the model
    that classified the latest window (the pipeline updates it as windows are classified)."""

    def __init__(self, device_id: str, classifier: EmotionClassifier) -> None:
        self.device_id = device_id
        self.classifier = classifier
        self.model: dict[str, Any] = classifier.model_info
        self._open: dict[int, Episode] = {}
        self._prefix = secrets.token_hex(3)

    def observe(self, face_id: int, intensity: np.ndarray, trust: float = 0.0) -> None:
        """Every frame of a face with an open episode: keep the whole face at the frame where
        the episode's AUs are strongest, and its appearance reading there, so the episode is
        read as the face looked then (a brow raise with the mouth open is not "AU1 alone",
        and the face after the offset is not the face at the apex)."""
        ep = self._open.get(face_id)
        if ep is None:
            return
        idx = [AU_INDEX[int(n[2:])] for n in ep.apex_aus if int(n[2:]) in AU_INDEX]
        level = float(intensity[idx].sum()) if idx else 0.0
        if level > ep.peak_level:
            ep.peak_level, ep.peak_face, ep.trust = level, intensity.copy(), trust
            ep.peak_appearance = self.classifier.appearance_logp(face_id)

    def on_spot(
        self, spot: Spot, intensity: np.ndarray, t_ms: float, trust: float = 0.0
    ) -> EpisodeStep | None:
        ep = self._open.get(spot.face_id)
        if spot.phase == "start":
            cls = self.classifier.classify(spot.face_id, intensity, trust)
            ep = Episode(
                episode_id=f"{self.device_id}-{self._prefix}-f{spot.face_id}-{int(spot.onset_ms)}",
                face_id=spot.face_id,
                onset_ms=spot.onset_ms,
                apex_ms=None,
                offset_ms=None,
                apex_aus=dict(spot.apex_aus),
                classification=cls,
                trust=trust,
            )
            self._open[spot.face_id] = ep
            return self._step("start", ep, t_ms)
        if ep is None:
            return None  # an apex or end without a start (the start was before a restart)
        ep.apex_ms = spot.apex_ms if spot.apex_ms is not None else ep.apex_ms
        if spot.apex_aus:
            ep.apex_aus = dict(spot.apex_aus)
        apex = _as_intensity(ep.apex_aus, intensity)
        if ep.peak_face is not None:
            apex = np.maximum(apex, ep.peak_face)
        ep.classification = self.classifier.classify(
            spot.face_id, apex, ep.trust, ep.peak_appearance
        )
        if spot.phase == "apex":
            return self._step("update", ep, t_ms)
        ep.offset_ms = spot.offset_ms if spot.offset_ms is not None else t_ms
        del self._open[spot.face_id]
        return self._step("end", ep, t_ms)

    def _step(self, phase: str, ep: Episode, t_ms: float) -> EpisodeStep:
        return EpisodeStep(
            phase=phase,
            episode_id=ep.episode_id,
            face_id=ep.face_id,
            t_ms=t_ms,
            onset_ms=ep.onset_ms,
            apex_ms=ep.apex_ms,
            offset_ms=ep.offset_ms if phase == "end" else None,
            classification=ep.classification,
            apex_aus=dict(ep.apex_aus),
            model=dict(self.model),
            appearance=self._appearance(ep.classification.core_source),
        )

    def _appearance(self, core_source: str) -> dict[str, Any] | None:
        """The appearance model's identity (a copy), where it helped decide the core emotion."""
        return self.classifier.appearance_info if "appearance" in core_source else None

    @property
    def open_count(self) -> int:
        return len(self._open)
