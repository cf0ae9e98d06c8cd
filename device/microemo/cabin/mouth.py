"""Yawns of one face: the mouth wide open (inner-lip gap at least ``yawn_open`` face widths)
and held for ``yawn_ms``, not laughing.

Speech opens the mouth too, but a syllable at a time: it closes again within a fifth of a
second, for a tenth of a second or so (loud speech on the CREMA-D clips reaches 0.23 face
widths for a frame). A laugh can hold it open, smiling, but it shakes it (ha-ha-ha, four or
five times a second), where a yawn opens slowly and holds still: a mouth held open while
smiling (mean smile above ``yawn_max_smile``) and moving on average ``LAUGH_SHAKE`` face
widths a frame is a laugh, no yawn. (The smile alone does not tell, nor the mouth's width:
the landmarker reads a yawning mouth, corners above the dropped lower lip, as a smile, and
places its corners wider as it opens.) A dip shorter than ``DIP_MS`` (a frame or two lost
to noise) does not break a yawn. The yawn starts once held long enough (its onset
backdated to when the mouth opened) and ends when the mouth has been closed for ``DIP_MS``.
"""

from __future__ import annotations

from dataclasses import dataclass

from microemo.config_cabin import CabinConfig

DIP_MS = 70.0  # two frames at 30 fps; speech closes the mouth longer between syllables
LAUGH_SHAKE = 0.012  # face widths a frame, on average over the held mouth


@dataclass(slots=True)
class MouthEvent:
    phase: str  # start | end
    onset_ms: float
    offset_ms: float | None = None


class Mouth:
    def __init__(self, config: CabinConfig) -> None:
        self.config = config
        self.yawning = False
        self._open_since: float | None = None
        self._last_wide = 0.0
        self._last_gap = 0.0
        self._frames = 0  # of the mouth held open: their smile and movement, summed
        self._smile = 0.0
        self._shake = 0.0

    def update(self, t_ms: float, gap: float, smile: float) -> list[MouthEvent]:
        cfg = self.config
        moved, self._last_gap = abs(gap - self._last_gap), gap
        if gap >= cfg.yawn_open:
            if self._open_since is None:
                self._open_since, self._frames, self._smile, self._shake = t_ms, 0, 0.0, 0.0
            self._last_wide = t_ms
            self._frames += 1
            self._smile += smile
            self._shake += moved
        elif self._open_since is not None and t_ms - self._last_wide > DIP_MS:
            return self.close(self._last_wide)
        onset = self._open_since
        if self.yawning or onset is None or t_ms - onset < cfg.yawn_ms or self.laughing:
            return []
        self.yawning = True
        return [MouthEvent("start", onset)]

    @property
    def laughing(self) -> bool:
        n = max(self._frames, 1)
        return self._smile / n > self.config.yawn_max_smile and self._shake / n >= LAUGH_SHAKE

    def close(self, t_ms: float) -> list[MouthEvent]:
        """The mouth closed (or the face is gone): an open yawn ends at ``t_ms``."""
        onset, self._open_since = self._open_since, None
        if not self.yawning or onset is None:
            return []
        self.yawning = False
        return [MouthEvent("end", onset, t_ms)]
