"""Yawns of one face: the mouth wide open (inner-lip gap at least ``yawn_open`` face widths)
and held for ``yawn_ms``, not laughing.

Speech opens the mouth too, but a syllable at a time: it closes again within a fifth of a
second, for a tenth of a second or so (loud speech on the CREMA-D clips reaches 0.23 face
widths for a frame). A laugh holds it open too, but pulled wide: a mouth at least
``LAUGH_WIDTH`` times as wide as this face's own at rest, smiling (``yawn_max_smile``), is
no yawn; a yawn draws the corners in. (The smile alone does not tell: the landmarker reads a
yawning mouth, corners above the dropped lower lip, as a smile.) A dip shorter than
``DIP_MS`` (a frame or two lost to noise) does not break a yawn. The yawn starts once held
long enough (its onset backdated to when the mouth opened) and ends when the mouth has been
closed for ``DIP_MS``.
"""

from __future__ import annotations

from dataclasses import dataclass

from microemo.config_cabin import CabinConfig

DIP_MS = 70.0  # two frames at 30 fps; speech closes the mouth longer between syllables
LAUGH_WIDTH = 1.08
REST_GAP = 0.05  # a mouth this little open is at rest: its width is learnt
REST_STEP = 0.002  # face widths a frame: the running median of the resting width


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
        self.rest_width: float | None = None  # the mouth's width at rest

    def update(self, t_ms: float, gap: float, width: float, smile: float) -> list[MouthEvent]:
        cfg = self.config
        if gap < REST_GAP:
            rest = self.rest_width
            self.rest_width = (
                width if rest is None else rest + (REST_STEP if width > rest else -REST_STEP)
            )
        laugh = (
            smile > cfg.yawn_max_smile
            and self.rest_width is not None
            and width >= LAUGH_WIDTH * self.rest_width
        )
        wide = gap >= cfg.yawn_open and not laugh
        if wide:
            if self._open_since is None:
                self._open_since = t_ms
            self._last_wide = t_ms
        elif self._open_since is not None and t_ms - self._last_wide > DIP_MS:
            return self.close(self._last_wide)
        held = self._open_since is not None and t_ms - self._open_since >= cfg.yawn_ms
        if held and not self.yawning and self._open_since is not None:
            self.yawning = True
            return [MouthEvent("start", self._open_since)]
        return []

    def close(self, t_ms: float) -> list[MouthEvent]:
        """The mouth closed (or the face is gone): an open yawn ends at ``t_ms``."""
        onset, self._open_since = self._open_since, None
        if not self.yawning or onset is None:
            return []
        self.yawning = False
        return [MouthEvent("end", onset, t_ms)]
