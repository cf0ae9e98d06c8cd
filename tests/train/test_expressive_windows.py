"""Labels of neutral->apex sequences: only the windows that show the expression carry the
sequence's label; the neutral frames before it are `neutral` (or left out), so a model is
not taught that a resting face is angry. Per-frame features are made here (no landmarker)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from microemo.vision.features import FRAME_FEATURES
from microemo_train.datasets import Item
from microemo_train.extract import Extracted
from microemo_train.settings import WindowConfig
from microemo_train.windows import build, model_labels

ONE_FRAME = dict(window_ms=1000 / 30, hop_ms=1000 / 30, fps=30)


def sequence(tmp: Path, name: str, label: str, rest: int = 15, apex: int = 15) -> Extracted:
    """A CK+-shaped frame folder's features: ``rest`` neutral frames, then the apex."""
    x = np.zeros((rest + apex, len(FRAME_FEATURES)), np.float32)
    smile = [FRAME_FEATURES.index(n) for n in ("bs_mouthSmileLeft", "bs_mouthSmileRight")]
    x[rest:, smile] = 0.8
    x[:, FRAME_FEATURES.index("bs_eyeBlinkLeft")] = 0.01 * np.sin(np.arange(rest + apex))
    path = tmp / f"{name}.npz"
    np.savez(path, t_ms=np.arange(rest + apex) * 1000 / 30, features=x, names=FRAME_FEATURES)
    return Extracted(Item(tmp / name, label, name.split("_")[0]), path)


def test_only_the_expression_carries_the_label(tmp_path: Path):
    seqs = [sequence(tmp_path, "S1_001", "happiness"), sequence(tmp_path, "S2_001", "anger")]
    cfg = WindowConfig(**ONE_FRAME, label="expressive")
    labels = model_labels(["anger", "happiness"], [], cfg)
    assert labels == ["anger", "happiness", "neutral"]
    ws = build(seqs, labels, cfg)
    assert len(ws.y) == 60  # a one-frame window on every frame, from the first
    happy = ws.y[ws.item == 0]
    assert [labels[i] for i in happy] == ["neutral"] * 15 + ["happiness"] * 15
    assert set(ws.input_y[ws.item == 0]) == {labels.index("happiness")}

    dropped = build(
        seqs, ["anger", "happiness"], WindowConfig(**ONE_FRAME, label="expressive", rest_label="")
    )
    assert len(dropped.y) == 30 and set(dropped.y[dropped.item == 1]) == {0}


def test_clip_labels_stay_the_default(tmp_path: Path):
    """CREMA-D style: a clip's label is every window's."""
    ws = build(
        [sequence(tmp_path, "S1_001", "happiness")],
        ["happiness", "neutral"],
        WindowConfig(**ONE_FRAME),
    )
    assert set(ws.y) == {0} and len(ws.y) == 30


def test_a_sequence_that_never_moves_keeps_its_label(tmp_path: Path):
    """An apex-only folder or a still: no neutral part to tell apart."""
    seq = sequence(tmp_path, "S1_002", "anger", rest=0, apex=4)
    ws = build([seq], ["anger", "neutral"], WindowConfig(**ONE_FRAME, label="expressive"))
    assert list(ws.y) == [0, 0, 0, 0]


def test_a_rest_label_the_model_lacks_is_named(tmp_path: Path):
    seq = sequence(tmp_path, "S1_001", "happiness")
    with pytest.raises(ValueError, match="rest_label 'neutral' is not among the labels"):
        build([seq], ["anger", "happiness"], WindowConfig(**ONE_FRAME, label="expressive"))
