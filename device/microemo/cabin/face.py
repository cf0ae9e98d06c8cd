"""One watched face: its eyes, mouth and attention together, their happenings turned into
typed ``CabinStep``s and the face's cabin state (a plain dict) read off them."""

from __future__ import annotations

from typing import Any

from microemo.cabin.attention import Attention
from microemo.cabin.eyes import Eyes
from microemo.cabin.measure import Reading
from microemo.cabin.mouth import Mouth
from microemo.config_cabin import CabinConfig
from microemo.types import CabinStep


def _r(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


class FaceCabin:
    def __init__(self, face_id: int, config: CabinConfig, id_prefix: str) -> None:
        self.face_id = face_id
        self.config = config
        self.id_prefix = id_prefix
        self.eyes = Eyes(config)
        self.mouth = Mouth(config)
        self.attention = Attention(config)
        self.reading: Reading | None = None  # None while the face is not seen
        self.last_seen_ms: float | None = None

    def update(self, t_ms: float, r: Reading) -> list[CabinStep]:
        self.reading, self.last_seen_ms = r, t_ms
        steps = [self._step(e.phase, e.kind, e.onset_ms, e.offset_ms, t_ms)
                 for e in self.eyes.update(t_ms, (r.aperture_l, r.aperture_r),
                                           (r.blink_l, r.blink_r))]  # fmt: skip
        for m in self.mouth.update(t_ms, r.mouth_gap, r.smile):
            steps.append(self._step(m.phase, "yawn", m.onset_ms, m.offset_ms, t_ms))
        for a in self.attention.update(t_ms, r, not self.eyes.closed):
            steps.append(self._step(a.phase, "distraction", a.onset_ms, a.offset_ms, t_ms, a.cause))
        return steps

    def lost(self, t_ms: float) -> list[CabinStep]:
        """The face is tracked but not seen on this frame (turned away, covered, dropped)."""
        self.reading = None
        self.eyes.lost()
        return [self._step(a.phase, "distraction", a.onset_ms, a.offset_ms, t_ms, a.cause)
                for a in self.attention.lost(t_ms)]  # fmt: skip

    def close(self, t_ms: float) -> list[CabinStep]:
        """The face is gone at ``t_ms``: every open episode ends where it was last seen."""
        last = t_ms if self.last_seen_ms is None else self.last_seen_ms
        self.reading = None
        steps = [self._step(e.phase, e.kind, e.onset_ms, e.offset_ms, t_ms, ended=True)
                 for e in self.eyes.close(last)]  # fmt: skip
        steps += [self._step(m.phase, "yawn", m.onset_ms, m.offset_ms, t_ms, ended=True)
                  for m in self.mouth.close(last)]  # fmt: skip
        steps += [self._step(a.phase, "distraction", a.onset_ms, a.offset_ms, t_ms, a.cause, True)
                  for a in self.attention.close(last)]  # fmt: skip
        return steps

    def _step(
        self,
        phase: str,
        kind: str,
        onset: float,
        offset: float | None,
        t_ms: float,
        cause: str | None = None,
        ended: bool = False,
    ) -> CabinStep:
        return CabinStep(
            phase=phase,
            kind=kind,
            episode_id=f"{self.id_prefix}-f{self.face_id}-{kind}-{int(onset)}",
            face_id=self.face_id,
            t_ms=t_ms,
            onset_ms=onset,
            offset_ms=offset if phase == "end" else None,
            cause=cause,
            readings=self.readings(t_ms),
            ended_by="face_gone" if ended else None,
        )

    def readings(self, t_ms: float) -> dict[str, Any]:
        """What an event carries of the face at ``t_ms``."""
        seen = self.reading is not None
        att = self.attention
        return {
            "drowsiness": self.eyes.drowsiness(t_ms),
            "attention": ("distracted" if att.cause else "attentive") if seen else "no_face",
            "perclos": round(self.eyes.perclos.share, 3),
            "off_road_share": round(att.share.share, 3),
            "head_yaw": _r(self.reading.head_yaw, 1) if self.reading else None,
            "head_pitch": _r(self.reading.head_pitch, 1) if self.reading else None,
            "gaze_yaw": round(att.gaze_yaw, 1) if seen else None,
            "gaze_pitch": round(att.gaze_pitch, 1) if seen else None,
        }

    def state(self, t_ms: float, driver: bool) -> dict[str, Any]:
        """The face's cabin state: what the retained MQTT state, the CSV and a status page
        show. Readings of the eyes and mouth are None while the face is not seen."""
        seen = self.reading is not None
        eyes = self.eyes
        blink_ms = eyes.blink_ms
        minutes = max(min(eyes.perclos.covered_ms, eyes.perclos.window_ms), 1.0) / 60_000.0
        return {
            "driver": driver,
            **self.readings(t_ms),
            "eyes_closed": eyes.closed if seen else None,
            "eye_open_l": round(eyes.open_l, 2) if seen else None,
            "eye_open_r": round(eyes.open_r, 2) if seen else None,
            "yawning": self.mouth.yawning if seen else None,
            "blinks_per_min": round(eyes.blinks / minutes, 1),
            "blink_ms": None if blink_ms is None else round(blink_ms),
        }
