"""Whether groups of items (faces by origin, age, glasses, camera) are read alike: the gap in
a per-item outcome (read right, a resting face read as an emotion, an AU read at rest) between
the group where it is highest and the one where it is lowest, and how often groups read alike
would show a gap as wide: the group labels shuffled over the same items ``draws`` times. One
test over all the groups, so picking the extreme pair among many does not flatter it; items
are shuffled one by one, so where one person gives several items it is a little optimistic.
Used by ``emotion-bench --by`` and ``facs-bench --by``."""

from __future__ import annotations

from typing import Any

import numpy as np

BLANK = "(blank)"  # the group of items whose column is empty


def spread_p(outcome: np.ndarray, group: np.ndarray, draws: int = 2000, seed: int = 0) -> float:
    """How often shuffling ``group`` (an index per item) over the items gives a spread of the
    groups' mean ``outcome`` (highest less lowest) at least as wide as the one observed."""
    k = int(group.max()) + 1
    counts = np.bincount(group, minlength=k)

    def spread(y: np.ndarray) -> float:
        means = np.bincount(group, weights=y, minlength=k)[counts > 0] / counts[counts > 0]
        return float(means.max() - means.min())

    seen = spread(outcome)
    rng = np.random.default_rng(seed)
    wider = sum(spread(rng.permutation(outcome)) >= seen - 1e-12 for _ in range(draws))
    return round((1 + wider) / (1 + draws), 4)


def gap(
    groups: list[str], outcome: np.ndarray, draws: int = 2000, seed: int = 0
) -> dict[str, Any] | None:
    """The highest and lowest group's share of ``outcome`` (one value per item, ``groups``
    naming each item's group), the difference and its ``spread_p``; None under two groups."""
    names = sorted(set(groups))
    if len(names) < 2:
        return None
    index = np.array([names.index(g) for g in groups])
    y = np.asarray(outcome, float)
    share = {n: float(y[index == i].mean()) for i, n in enumerate(names)}
    high, low = max(share, key=share.__getitem__), min(share, key=share.__getitem__)
    return {
        "highest": high,
        "lowest": low,
        "difference": round(share[high] - share[low], 4),
        "p": spread_p(y, index, draws, seed),
    }
