"""A bundle made before features were appended to the per-frame vector still passes its
self-test on this device: its reference windows are laid out by the feature names it
recorded, so installing it (or rolling back to it) is not refused for a layout change."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np

from microemo.model.bundle import load_bundle
from microemo.model.selftest import default_predictor, run_selftest
from microemo.vision.features import FRAME_FEATURES

DEFAULT = Path(__file__).resolve().parents[2] / "models" / "default"


def test_shipped_default_bundle_passes_its_selftest():
    with np.load(DEFAULT / "selftest.npz") as data:
        recorded = [str(n) for n in data["feature_names"]]
    assert len(recorded) < len(FRAME_FEATURES)  # recorded before the dbs_* features
    bundle = load_bundle(DEFAULT, require_signature=False)
    report = run_selftest(bundle, default_predictor(bundle), 1e-3)
    assert report["windows"] == len(np.load(DEFAULT / "selftest.npz")["windows"])


def test_recorded_columns_are_moved_by_name(tmp_path: Path):
    """The same windows recorded in another column order give the same outputs."""
    shutil.copytree(DEFAULT, tmp_path / "b")
    path = tmp_path / "b" / "selftest.npz"
    with np.load(path) as d:
        data = dict(d)
    order = np.random.default_rng(0).permutation(len(data["feature_names"]))
    data["windows"] = data["windows"][..., order]
    data["feature_names"] = data["feature_names"][order]
    np.savez(path, **data)
    # the verified default, reading the reordered self-test (its hash is not the point here)
    bundle = dataclasses.replace(load_bundle(DEFAULT, require_signature=False), path=tmp_path / "b")
    run_selftest(bundle, default_predictor(bundle), 1e-3)
