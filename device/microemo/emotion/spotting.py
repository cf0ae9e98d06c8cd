"""Placeholder spotter (hysteresis on the strongest expressive AU); replaced by the spotting
work of issue 7. Interface: ``Spotter.update(AUFrame) -> list[Spot]``."""

from __future__ import annotations

from dataclasses import dataclass, field

from microemo.config import SpottingConfig
from microemo.types import AU_NAMES, AUFrame

_IGNORED = {"AU45", "AU25", "AU26"}
_IDX = [i for i, n in enumerate(AU_NAMES) if n not in _IGNORED]


@dataclass
class Spot:
    phase: str  # start | apex | end
    face_id: int
    onset_ms: float
    apex_ms: float | None = None
    offset_ms: float | None = None
    apex_aus: dict[str, float] = field(default_factory=dict)


@dataclass
class _Open:
    onset_ms: float
    apex_ms: float
    apex_value: float
    apex_aus: dict[str, float]
    apex_sent: bool = False


class Spotter:
    def __init__(self, config: SpottingConfig) -> None:
        self.config = config
        self._open: dict[int, _Open] = {}

    def update(self, au: AUFrame) -> list[Spot]:
        c = self.config
        level = float(au.intensity[_IDX].max()) if au.baseline_ready else 0.0
        ep = self._open.get(au.face_id)
        if ep is None:
            if level >= c.on_threshold:
                aus = {AU_NAMES[i]: float(au.intensity[i]) for i in _IDX
                       if au.intensity[i] >= c.off_threshold}
                self._open[au.face_id] = _Open(au.t_ms, au.t_ms, level, aus)
                return [Spot("start", au.face_id, au.t_ms, apex_aus=aus)]
            return []
        out: list[Spot] = []
        if level > ep.apex_value:
            ep.apex_ms, ep.apex_value = au.t_ms, level
            ep.apex_aus = {AU_NAMES[i]: float(au.intensity[i]) for i in _IDX
                           if au.intensity[i] >= c.off_threshold}
        elif not ep.apex_sent and level < 0.8 * ep.apex_value:
            ep.apex_sent = True
            out.append(Spot("apex", au.face_id, ep.onset_ms, ep.apex_ms, None, ep.apex_aus))
        if level < c.off_threshold or au.t_ms - ep.onset_ms > c.max_duration_ms:
            out.extend(self.close_face(au.face_id, au.t_ms))
        return out

    def close_face(self, face_id: int, t_ms: float) -> list[Spot]:
        ep = self._open.pop(face_id, None)
        if ep is None:
            return []
        out = []
        if not ep.apex_sent:
            out.append(Spot("apex", face_id, ep.onset_ms, ep.apex_ms, None, ep.apex_aus))
        out.append(Spot("end", face_id, ep.onset_ms, ep.apex_ms, t_ms, ep.apex_aus))
        return out
