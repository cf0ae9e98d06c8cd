"""The cabin stage: eyes, blinks, PERCLOS, yawns and attention on every watched face, beside
the emotion stage on the same per-face stream. It returns typed ``CabinStep``s (the event
payload is built in ``publish.events``, never here) and each watched face's cabin state as a
plain dict, which the pipeline puts in ``FrameResult.cabin``.

Faces watched: every face (``cabin.faces = "all"``), or the driver (``"largest"``): the
widest face in the picture when the stage first sees faces, kept until the tracker lets it
go, then the widest again. A watched face that the tracker still holds but the landmarker
did not find on a frame (turned away, covered, dropped) is ``no_face`` on that frame, not
attentive. Steps of the kinds not in ``cabin.events`` are measured (they move the state) but
not handed on.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from microemo.cabin.face import FaceCabin
from microemo.cabin.measure import read_face
from microemo.config_cabin import CabinConfig
from microemo.types import AUFrame, CabinStep

logger = logging.getLogger(__name__)


class CabinStage:
    def __init__(self, config: CabinConfig, device_id: str) -> None:
        self.config = config
        self.events = frozenset(config.events)
        self._faces: dict[int, FaceCabin] = {}
        self.driver: int | None = None
        self._prefix = f"{device_id}-{secrets.token_hex(3)}"

    def update(
        self, faces: list[AUFrame], t_ms: float
    ) -> tuple[list[CabinStep], dict[int, dict[str, Any]]]:
        """Steps taken on this frame and the state of every watched face."""
        if not self.config.enabled:
            return [], {}
        present = {au.face_id: au for au in faces}
        steps: list[CabinStep] = []
        for face_id in self._watched(present):
            face = self._faces.get(face_id)
            if face is None:
                face = self._faces[face_id] = FaceCabin(face_id, self.config, self._prefix)
            steps += face.update(t_ms, read_face(present[face_id].face))
        for face_id, face in self._faces.items():
            if face_id not in present:
                steps += face.lost(t_ms)
        driver = self.driver
        states = {f: face.state(t_ms, f == driver) for f, face in self._faces.items()}
        return self._wanted(steps), states

    def _watched(self, present: dict[int, AUFrame]) -> list[int]:
        if self.config.faces == "all":
            return list(present)
        if self.driver is None and present:
            self.driver = max(present, key=lambda f: present[f].face.face_width_px)
            logger.info("face %d is the driver (the largest in view)", self.driver)
        return [self.driver] if self.driver in present else []

    def forget(self, face_id: int, t_ms: float) -> list[CabinStep]:
        """The tracker let ``face_id`` go: its open episodes end where it was last seen."""
        if face_id == self.driver:
            self.driver = None
        face = self._faces.pop(face_id, None)
        return self._wanted(face.close(t_ms)) if face is not None else []

    def _wanted(self, steps: list[CabinStep]) -> list[CabinStep]:
        return [s for s in steps if s.kind in self.events] if steps else steps
