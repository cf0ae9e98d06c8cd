"""The benchmark's figures per group of inputs (``emotion-bench --by COLUMN``): a CSV column
says what each input's face is (``origin``, ``age``, ``glasses``, ``camera``...), and the
figures are read again for each of its values, with whether the gap between the groups is
more than chance.

Who is read as an emotion at rest should not depend on what their face looks like at rest
(issue 19: a Japanese woman's resting face read as fear, a driver's sideways glance as
disgust). Per group: the inputs, those with no face found, accuracy (a missed face counts
wrong, as in the headline figure), the resting faces read as an emotion (at any score and at
``confident`` or more) and the most frequent answer. The gap between the best and the worst
group, for accuracy and for resting faces read as an emotion, comes with a permutation test:
the groups' labels shuffled over the same inputs ``draws`` times, how often a spread between
the highest and the lowest group at least as wide turns up by chance (one test over all the
groups, so it is not flattered by picking the extreme pair among many). The inputs are
shuffled one by one: where one person gives several faces the test is a little optimistic.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from microemo_train.emotion_bench.score import NO_FACE, Reading, at_rest, columns

BLANK = "(blank)"  # the group of inputs whose column is empty


def group_of(r: Reading, column: str) -> str:
    return dict(r.groups).get(column) or BLANK


def _figures(rs: list[Reading], confident: float) -> dict[str, Any]:
    labels, answers, scores = columns(rs)
    found = answers != NO_FACE
    resting, as_emotion, confidently = at_rest(labels, answers, scores, confident)
    n_rest = int(resting.sum())
    top = Counter(answers[found].tolist()).most_common(1)
    return {
        "n": len(rs),
        "no_face": int((~found).sum()),
        "accuracy": round(float((answers == labels).mean()), 4),
        "neutral": n_rest,
        "neutral_as_emotion": round(float(as_emotion.sum() / n_rest), 4) if n_rest else None,
        "neutral_as_emotion_confident": round(float(confidently.sum() / n_rest), 4)
        if n_rest
        else None,
        "top_answer": top[0][0] if top else None,
        "top_share": round(top[0][1] / int(found.sum()), 4) if top else None,
    }


def spread_p(outcome: np.ndarray, group: np.ndarray, draws: int, seed: int) -> float:
    """How often shuffling ``group`` over the inputs gives a spread of the groups' mean
    ``outcome`` (highest less lowest) at least as wide as the one observed."""
    k = int(group.max()) + 1
    counts = np.bincount(group, minlength=k)

    def spread(y: np.ndarray) -> float:
        means = np.bincount(group, weights=y, minlength=k)[counts > 0] / counts[counts > 0]
        return float(means.max() - means.min())

    seen = spread(outcome)
    rng = np.random.default_rng(seed)
    wider = sum(spread(rng.permutation(outcome)) >= seen - 1e-12 for _ in range(draws))
    return round((1 + wider) / (1 + draws), 4)


def _gap(
    rs: list[Reading], column: str, outcome: np.ndarray, draws: int, seed: int
) -> dict[str, Any] | None:
    """The highest and lowest group's share of ``outcome`` over ``rs``, and its p."""
    names = sorted({group_of(r, column) for r in rs})
    if len(names) < 2:
        return None
    group = np.array([names.index(group_of(r, column)) for r in rs])
    share = {
        n: float(outcome[group == i].mean()) for i, n in enumerate(names) if (group == i).any()
    }
    high, low = max(share, key=share.__getitem__), min(share, key=share.__getitem__)
    return {
        "highest": high,
        "lowest": low,
        "difference": round(share[high] - share[low], 4),
        "p": spread_p(outcome.astype(float), group, draws, seed),
    }


def by_group(
    readings: list[Reading], column: str, confident: float = 0.8, draws: int = 2000, seed: int = 0
) -> dict[str, Any]:
    """Per value of ``column``: ``_figures``; and the gaps between the groups (``_gap``) for
    accuracy and for resting faces read as an emotion."""
    groups: dict[str, list[Reading]] = {}
    for r in readings:
        groups.setdefault(group_of(r, column), []).append(r)
    labels, answers, scores = columns(readings)
    resting, as_emotion, _ = at_rest(labels, answers, scores, confident)
    rest = [r for r, keep in zip(readings, resting) if keep]
    return {
        "groups": {name: _figures(groups[name], confident) for name in sorted(groups)},
        "gap_accuracy": _gap(readings, column, answers == labels, draws, seed),
        "gap_neutral_as_emotion": _gap(rest, column, as_emotion[resting], draws, seed),
    }
