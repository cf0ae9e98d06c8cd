"""The bundle's fusion_weight comes from subjects the CNN never saw: where the CNN errs and
the FACS prototypes read the face right, the device is told to lean on the prototypes; where
the CNN is right, to trust it."""

from __future__ import annotations

import numpy as np

from microemo.vision.features import FRAME_FEATURES
from microemo_train import fusion

LABELS = ["happiness", "neutral", "surprise"]


def faces() -> tuple[np.ndarray, np.ndarray]:
    """Three smiles (AU6+12) and three surprised faces (AU1+2+5+26), one frame each."""
    w = np.zeros((6, 1, len(FRAME_FEATURES)), np.float32)
    for i in range(3):
        for au in ("AU06", "AU12"):
            w[i, 0, FRAME_FEATURES.index(au)] = 4.0
    for i in range(3, 6):
        for au in ("AU01", "AU02", "AU05", "AU26"):
            w[i, 0, FRAME_FEATURES.index(au)] = 4.0
    return w, np.array([0, 0, 0, 2, 2, 2])


def test_a_cnn_that_confuses_the_faces_gets_less_weight():
    windows, y = faces()
    rules = fusion.rule_evidence(windows)
    probs = np.full((6, 3), 0.2, np.float32)
    probs[np.arange(6), [0, 0, 2, 0, 2, 2]] = 0.6  # one smile read as surprise and back
    weight, curve = fusion.choose_weight(probs, y, LABELS, rules)
    assert weight < 1.0  # the largest weight at which the prototypes fix the errors
    assert fusion.mixed(probs, LABELS, rules, weight).argmax(1).tolist() == y.tolist()
    assert curve["uf1_by_weight"]["1.0"] < 1.0


def test_a_cnn_that_is_right_is_trusted():
    windows, y = faces()
    probs = np.eye(3, dtype=np.float32)[y] * 0.9 + 0.05
    weight, _ = fusion.choose_weight(probs, y, LABELS, fusion.rule_evidence(windows))
    assert weight == 1.0
