"""The per-frame feature vector: unique names, picked by name (the bundle contract)."""

from __future__ import annotations

from microemo.vision.features import FRAME_FEATURES, columns


def test_feature_names_are_unique_and_addressable():
    assert len(set(FRAME_FEATURES)) == len(FRAME_FEATURES)
    assert FRAME_FEATURES[:2] == ("AU01", "AU02")
    assert list(columns(["AU12", "bs_jawOpen"])) == [
        FRAME_FEATURES.index("AU12"),
        FRAME_FEATURES.index("bs_jawOpen"),
    ]
