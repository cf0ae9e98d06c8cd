"""The benchmark's figures per group of inputs (``emotion-bench --by COLUMN``): a CSV column
says what each input's face is (``origin``, ``age``, ``glasses``, ``camera``...), and the
figures are read again for each of its values, with whether the gap between the groups is
more than chance (``microemo_train.group_gap``).

Who is read as an emotion at rest should not depend on what their face looks like at rest
(issue 19: a Japanese woman's resting face read as fear, a driver's sideways glance as
disgust). Per group: the inputs, those with no face found, accuracy (a missed face counts
wrong, as in the headline figure), the resting faces read as an emotion (at any score and at
``confident`` or more) and the most frequent answer; and the gap between the best and the
worst group, for accuracy and for resting faces read as an emotion, with how often groups
read alike would show one as wide.
"""

from __future__ import annotations

from typing import Any

from microemo_train.emotion_bench.score import Reading, at_rest, columns, subset
from microemo_train.group_gap import gap


def by_group(
    readings: list[Reading], column: str, confident: float = 0.8, draws: int = 2000, seed: int = 0
) -> dict[str, Any]:
    """Per value of ``column``: ``score.subset``; and the gaps between the groups (``group_gap``)
    for accuracy and for resting faces read as an emotion."""
    groups: dict[str, list[Reading]] = {}
    for r in readings:
        groups.setdefault(r.group(column), []).append(r)
    labels, answers, scores = columns(readings)
    resting, as_emotion, _ = at_rest(labels, answers, scores, confident)
    rest = [r for r, keep in zip(readings, resting) if keep]
    return {
        "groups": {name: subset(groups[name], confident) for name in sorted(groups)},
        "gap_accuracy": gap([r.group(column) for r in readings], answers == labels, draws, seed),
        "gap_neutral_as_emotion": gap(
            [r.group(column) for r in rest], as_emotion[resting], draws, seed
        ),
    }
