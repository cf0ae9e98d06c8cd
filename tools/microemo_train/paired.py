"""Two runs over the same inputs, compared item by item: of the items only one run gets
right, how uneven the split is, and how likely so uneven a split is by chance (the exact
two-sided sign test). On a hundred items a point of accuracy is one item; what decides is
the split of the items that changed. Used by ``emotion-bench --against`` (faces) and
``spot-eval --against`` (episodes)."""

from __future__ import annotations

import math


def sign_test(k: int, n: int) -> float:
    """Two-sided exact sign test: how likely a split of ``n`` changed items at least as
    uneven as ``k`` against ``n - k`` is when neither run is better."""
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(k, n - k) + 1)) / 2.0**n
    return min(1.0, 2.0 * tail)
