"""A tiny end-to-end run of the desktop tool on real faces, then the device loads the
bundle it made and classifies a window, as it would in the field."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.train

pytest.importorskip("tensorflow")
pytest.importorskip("skrebate")


def test_extract_select_fit_quantize_bundle_then_device_predicts(extracted_generic, tmp_path):
    from microemo.model.bundle import load_bundle
    from microemo.model.runner import CnnClassifier
    from microemo.model.selftest import default_predictor, run_selftest
    from microemo.vision.features import FRAME_FEATURES
    from microemo_train import bundle, fit, quantize, select, signing

    cfg, extracted = extracted_generic
    assert len(extracted) == 6  # 2 clips + 4 stills, all with a face
    chosen = select.run_step(cfg)
    assert len(chosen) == 4 and set(chosen) <= set(FRAME_FEATURES)
    metrics = fit.run_step(cfg)
    assert metrics["scheme"] == "leave-one-subject-out" and metrics["subjects"] == 2
    for key in ("accuracy", "uf1", "uar", "per_class", "confusion"):
        assert key in metrics["cnn"] and key in metrics["logreg"]
    assert (cfg.workdir / "confusion.png").stat().st_size > 1000
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        parity = quantize.run_step(cfg)
    assert any("representative" in str(w.message) for w in caught)  # 20 < 100 windows
    assert 0 <= parity["agreement"] <= 1

    key, pub = tmp_path / "k.key", tmp_path / "k.pub"
    signing.generate_keypair(key, pub)
    cfg.bundle.key = key
    out = bundle.write_bundle(cfg)
    size = sum(f.stat().st_size for f in out.iterdir())
    assert size < 100_000

    device_bundle = load_bundle(out, [pub.read_text().strip()])
    m = device_bundle.manifest
    assert m.labels == ["anger", "happiness"] and m.features == chosen
    runner = CnnClassifier(device_bundle)
    window = np.load(out / "selftest.npz")["windows"][0]
    probs = runner.predict(window)
    assert probs.shape == (2,) and abs(float(probs.sum()) - 1) < 1e-5
    assert run_selftest(device_bundle, default_predictor(device_bundle), 1e-4)["windows"] == 2
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["metrics"]["int8_parity"]["windows"] > 0
    assert manifest["source"]["adapter"] == "generic"


def test_device_refuses_bundle_with_unknown_feature(extracted_generic):
    from microemo.model.bundle import BundleError, load_bundle
    from microemo.model.runner import CnnClassifier

    cfg, _ = extracted_generic
    out = cfg.bundle.out
    if not (out / "manifest.json").is_file():
        pytest.skip("needs the end-to-end bundle")
    b = load_bundle(out, require_signature=False)
    b.manifest.features[0] = "AU99"
    with pytest.raises(BundleError, match="AU99"):
        CnnClassifier(b)


def test_dask_cluster_extracts_the_same_features(extracted_generic, tmp_path):
    distributed = pytest.importorskip("distributed")
    from microemo_train.extract import extract_items

    _, extracted = extracted_generic
    item = next(e for e in extracted if e.item.path.suffix == ".flv")
    with distributed.LocalCluster(n_workers=1, processes=False, dashboard_address=None) as lc:
        got, failed = extract_items([item.item], tmp_path / "cache", scheduler=lc.scheduler_address)
    assert not failed
    a, b = np.load(got[0].features), np.load(item.features)
    assert a["features"].shape == b["features"].shape
    np.testing.assert_allclose(a["features"], b["features"], atol=1e-4)
    np.testing.assert_array_equal(a["t_ms"], b["t_ms"])


def test_unreadable_input_is_named_and_skipped(extracted_generic, tmp_path: Path):
    from microemo_train.datasets import Item
    from microemo_train.extract import extract_items

    cfg, extracted = extracted_generic
    bad = tmp_path / "1002_broken.mp4"
    bad.write_bytes(b"not a video at all" * 100)
    got, failed = extract_items(
        [extracted[0].item, Item(bad, "anger", "1002")], cfg.extract.cache, jobs=1
    )
    assert [str(f[0].path) for f in failed] == [str(bad)]
    assert "1002_broken.mp4" in failed[0][1]
    assert len(got) == 1  # the good input came from the cache
