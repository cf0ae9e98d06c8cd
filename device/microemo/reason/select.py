"""Which episodes are hard enough to ask about; everything else is left alone.

An ``end`` event is hard when (each can be turned off in ``[select]``): its two best scores
are within ``margin``; the CNN and the FACS rules picked different core emotions (the event's
``cnn_emotion`` and ``rules_emotion``, present where the CNN took part); it is a
micro-expression; or its core or micro emotion is one the user lists (``labels``).
"""

from __future__ import annotations

from microemo.reason.config import SelectConfig
from microemo.reason.episode import Episode

# the reasons, in the order they are reported
MARGIN, DISAGREEMENT, MICRO, LABEL = "margin", "disagreement", "micro", "label"


def hard_because(episode: Episode, select: SelectConfig) -> list[str]:
    """Why ``episode`` is a hard case; empty when it is not one."""
    why = []
    first, second = episode.top_two()
    if select.margin > 0 and len(episode.scores) > 0 and first - second <= select.margin:
        why.append(MARGIN)
    if (
        select.disagreement
        and episode.cnn_emotion is not None
        and episode.rules_emotion is not None
        and episode.cnn_emotion != episode.rules_emotion
    ):
        why.append(DISAGREEMENT)
    if select.micro and episode.kind == "micro":
        why.append(MICRO)
    listed = set(select.labels)
    if episode.core_emotion in listed or episode.micro_emotion in listed:
        why.append(LABEL)
    return why
