"""Two runs over the same inputs, compared item by item: of the items only one run gets
right, how uneven the split is, and how likely so uneven a split is by chance (the exact
two-sided sign test). On a hundred items a point of accuracy is one item; what decides is
the split of the items that changed. Used by ``emotion-bench --against`` (faces) and
``spot-eval --against`` (episodes)."""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


def sign_test(k: int, n: int) -> float:
    """Two-sided exact sign test: how likely a split of ``n`` changed items at least as
    uneven as ``k`` against ``n - k`` is when neither run is better."""
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(k, n - k) + 1)) / 2.0**n
    return min(1.0, 2.0 * tail)


@dataclass(frozen=True)
class Split(Generic[K]):
    """Two runs' verdicts over the items both hold."""

    both: list[K]  # in the first run's order
    only_here: int
    only_there: int
    gained: list[K]  # right here, wrong there
    lost: list[K]  # right there, wrong here
    by_group: dict[str, tuple[int, int]]  # group -> (gained, lost), groups sorted

    @property
    def p_sign(self) -> float:
        return round(sign_test(len(self.gained), len(self.gained) + len(self.lost)), 4)


def split(here: Mapping[K, tuple[str, bool]], there: Mapping[K, tuple[str, bool]]) -> Split[K]:
    """``here`` and ``there``: item -> (its group, whether the run got it right)."""
    both = [k for k in here if k in there]
    gained = [k for k in both if here[k][1] and not there[k][1]]
    lost = [k for k in both if there[k][1] and not here[k][1]]
    groups: dict[str, list[int]] = {}
    for side, items in enumerate((gained, lost)):
        for k in items:
            groups.setdefault(here[k][0], [0, 0])[side] += 1
    return Split(
        both, len(here) - len(both), len(there) - len(both), gained, lost,
        {g: (n[0], n[1]) for g, n in sorted(groups.items())},
    )  # fmt: skip
