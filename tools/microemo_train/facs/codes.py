"""FACS codes and emotion labels as people write them.

AU codes: ``1+2+4``, with intensities ``1:3+12:5`` or ``1C+12E`` (A-E or 1-5), an optional
``AU`` prefix and side (``L12``, ``R14``, ``U14``, ``B12``: the side is not kept), and ``0``,
``none`` or ``neutral`` for a face with no AU. AU column names: ``AU01``, ``AU1``, ``au 1``,
``1``, with or without OpenFace's ``_r``/``_c``.
"""

from __future__ import annotations

import re

from microemo.emotion.rules import CORE_EMOTIONS

LETTERS = {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}
_TOKEN = re.compile(
    r"^(?:au)?\s*[lrub]?\s*(?P<au>\d{1,2})\s*(?::\s*(?P<level>[1-5a-e])|(?P<letter>[a-e]))?$"
)
NO_AU = {"0", "none", "neutral", "-"}
_COLUMN = re.compile(r"^(?:au)?(\d{1,2})(?:r|c)?$")

SYNONYMS = {
    "happy": "happiness",
    "joy": "happiness",
    "sad": "sadness",
    "angry": "anger",
    "surprised": "surprise",
    "disgusted": "disgust",
    "fearful": "fear",
    "afraid": "fear",
    "contemptuous": "contempt",
    "repressed": "repression",
    "neu": "neutral",
}


def parse_aus(text: str) -> dict[int, float]:
    """``1:3+12E+L14`` -> {1: 3, 12: 5, 14: 0}; a ``ValueError`` names the part it cannot read."""
    text = text.strip().lower()
    if text in NO_AU:
        return {}
    if not text:
        raise ValueError("empty: write 0 for a face with no AU")
    out: dict[int, float] = {}
    for part in re.split(r"\s*[+,;]\s*|\s+(?=au)", text):
        m = _TOKEN.match(part.strip())
        if m is None or int(m.group("au")) == 0:
            raise ValueError(
                f"cannot read {part!r}: write AUs as 1+2+4, with intensities as 1:3+12:E or 12E"
            )
        level = m.group("level") or m.group("letter")
        value = 0.0 if level is None else float(LETTERS.get(level, level))
        out[int(m.group("au"))] = value
    return out


def column_au(name: str) -> int | None:
    """The AU number a (normalised) column name stands for, if any."""
    m = _COLUMN.match(name)
    return int(m.group(1)) if m and int(m.group(1)) > 0 else None


def emotion_label(text: str) -> str:
    """A label as the device names it; ``ValueError`` for one it has no class for."""
    word = text.strip().lower()
    word = SYNONYMS.get(word, word)
    if word not in CORE_EMOTIONS:
        raise ValueError(f"unknown emotion {text!r}: use one of {', '.join(CORE_EMOTIONS)}")
    return word
