"""How far the device should trust the CNN against the FACS prototypes: the bundle's
``fusion_weight``, chosen on subjects the CNN never saw.

On the device the core emotion of a frame is ``w * CNN + (1 - w) * prototypes`` over the
bundle's labels (``microemo.emotion.rules.classify_aus``), the prototypes reading that frame's
AU intensities. Here the same mix is made with the device's own functions for every
cross-validation window: the CNN's out-of-fold probabilities and the prototypes' evidence at
the frame the window ends on (its AU columns). The weight with the best macro F1 over those
windows is the bundle's (ties go to the CNN).

Caveat, said in the report: the prototypes in ``core_weights.toml`` were fitted on a data set
of their own (see its provenance); when that is the data trained on here, the prototypes are
scored in-sample and their share comes out a little too high.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from microemo.emotion.rules import combine, core_scores, load_tables
from microemo.types import AU_NAMES
from microemo.vision.features import columns

WEIGHTS = tuple(round(w, 2) for w in np.linspace(1.0, 0.0, 21))  # the CNN first: ties to it
AU_COLUMNS = columns(AU_NAMES)


def rule_evidence(windows: np.ndarray) -> list[dict[str, float]]:
    """The prototypes' scores at the last frame of each (n, frames, len(FRAME_FEATURES))
    window, as the device computes them for that frame."""
    tables = load_tables()
    return [core_scores(w[-1, AU_COLUMNS], tables) for w in windows]


def mixed(
    probs: np.ndarray, labels: list[str], rules: list[dict[str, float]], w: float
) -> np.ndarray:
    """(n, labels) probabilities as the device shows them for CNN weight ``w``."""
    tables = load_tables()
    out = np.zeros_like(probs)
    for i, (p, r) in enumerate(zip(probs, rules, strict=True)):
        shown = combine(dict(zip(labels, p.tolist())), r, w, tables)
        out[i] = [shown[k] for k in labels]
    return out


def choose_weight(
    probs: np.ndarray, y: np.ndarray, labels: list[str], rules: list[dict[str, float]]
) -> tuple[float, dict[str, Any]]:
    """The CNN weight with the best macro F1 on held-out windows, and the figure per weight."""
    from sklearn.metrics import f1_score

    present = sorted(set(y.tolist()))
    by_weight = {}
    for w in WEIGHTS:
        pred = mixed(probs, labels, rules, w).argmax(1)
        by_weight[w] = float(f1_score(y, pred, labels=present, average="macro", zero_division=0))
    best = max(WEIGHTS, key=lambda w: by_weight[w])  # first maximum: the larger weight
    return best, {"uf1_by_weight": {str(w): round(v, 4) for w, v in by_weight.items()}}
