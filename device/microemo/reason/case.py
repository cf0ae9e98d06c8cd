"""A hard episode written out as text: the only thing that leaves for the model.

The text is made from the ``Episode`` allow-list alone: AUs with intensities, the timing
relative to the onset, the kind, the device's scores, sources and rule, and (``[context]
previous``) what the same face showed just before, as labels and AUs. No identifier (device,
face, episode), no wall time, no image, crop, landmark or embedding: the event carries none
and the text could not hold one. Numbers are rounded (10 ms, 0.1 intensity, 0.01 score), so
the same expression read twice is the same case and is answered from the cache.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass

from microemo.reason.config import ContextConfig
from microemo.reason.episode import Episode

SOURCES = {
    "cnn": "the CNN",
    "rules": "the FACS rules",
    "cnn+rules": "the CNN and FACS rules mixed",
    "appearance+rules": "the face's appearance fused with the FACS rules",
    "cnn+appearance+rules": "the CNN mixed with the face's appearance and the FACS rules",
}
MAX_FACES = 4096  # faces remembered for [context]; the longest unseen is forgotten first


def _ms(value: float) -> str:
    return f"{int(round(value / 10.0) * 10)} ms"


def _aus(episode: Episode) -> str:
    ranked = sorted(episode.aus, key=lambda a: (-a.apex_intensity, a.au))
    return ", ".join(f"{a.au} {a.apex_intensity:.1f}" for a in ranked) or "none named"


def _timing(e: Episode) -> str:
    parts = []
    if e.apex_ms is not None:
        parts.append(f"onset to apex {_ms(e.apex_ms - e.onset_ms)}")
        if e.offset_ms is not None:
            parts.append(f"apex to offset {_ms(e.offset_ms - e.apex_ms)}")
    if e.duration_ms is not None:
        total = f"{_ms(e.duration_ms)} in all"
        parts.append(total + (" at least (the device restarted)" if e.ended_by else ""))
    return ", ".join(parts) or "not known"


def _scores(e: Episode) -> str:
    ranked = sorted(e.scores.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{k} {v:.2f}" for k, v in ranked if round(v, 2) > 0) or "none"


@dataclass(frozen=True)
class Earlier:
    """An episode the same face showed before: what [context] may tell about it."""

    before_onset_ms: float
    label: str
    kind: str | None
    aus: str


def case_text(e: Episode, earlier: Sequence[Earlier] = ()) -> str:
    """The case, one fact a line."""
    kind = {"micro": "micro-expression (under 500 ms)", "macro": "macro-expression"}
    lines = [
        f"Kind: {kind.get(e.kind or '', 'not known')}",
        f"Timing: {_timing(e)}",
        f"Action Units at the apex (intensity 0-5): {_aus(e)}",
        f"Device reading: {e.core_emotion} (decided by {SOURCES[e.core_source]})",
        f"Device scores: {_scores(e)}",
    ]
    if e.regions and e.regions != ("face",):
        lines.append(f"Face region: {', '.join(e.regions)}")
    if e.within is not None:
        lines.append(
            "It rose briefly on top of an expression the same face was holding in that region"
        )
    if e.cnn_emotion is not None and e.rules_emotion is not None:
        lines.append(
            f"The CNN alone said {e.cnn_emotion}; the FACS rules alone said {e.rules_emotion}"
        )
    if e.micro_emotion:
        state = f" (under {e.micro_state})" if e.micro_state else ""
        lines.append(f"Micro-emotion rule: {e.micro_emotion}{state}, {e.micro_rule or 'no rule'}")
    for p in earlier:
        lines.append(
            f"Earlier, {_ms(p.before_onset_ms)} before this onset, the same face showed: "
            f"{p.label} ({p.kind or 'kind not known'}), AUs {p.aus}"
        )
    return "\n".join(lines)


class FaceHistory:
    """The last episodes of each face (device id, face id), for ``[context] previous``.
    Bounded: ``previous_max`` episodes a face, ``MAX_FACES`` faces."""

    def __init__(self, context: ContextConfig) -> None:
        self.context = context
        self._faces: OrderedDict[tuple[str, int], deque[Episode]] = OrderedDict()

    def before(self, e: Episode) -> list[Earlier]:
        """What the same face showed in the ``previous_s`` before ``e``'s onset, oldest first
        (nothing when ``[context] previous`` is off)."""
        if not self.context.previous:
            return []
        out = []
        for p in self._faces.get((e.device_id, e.face_id), ()):
            end = p.offset_ms if p.offset_ms is not None else p.onset_ms
            gap = e.onset_ms - end
            if p.id != e.id and 0 <= gap <= self.context.previous_s * 1000.0:
                out.append(Earlier(gap, p.core_emotion, p.kind, _aus(p)))
        return out[-self.context.previous_max :]

    def remember(self, e: Episode) -> None:
        key = (e.device_id, e.face_id)
        seen = self._faces.pop(key, None) or deque(maxlen=self.context.previous_max)
        seen.append(e)
        self._faces[key] = seen
        while len(self._faces) > MAX_FACES:
            self._faces.popitem(last=False)
