"""Fixtures of the training tool's tests: dataset folders built at test time from the real
CREMA-D clips in tests/data, and one cached extraction shared by the session. The training
tests skip themselves without TensorFlow; the spotting tool's tests need only scipy."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import pytest

CLIPS = Path(__file__).resolve().parents[1] / "data" / "crema_d" / "clips"


def still_from(clip: Path, out: Path, frame: int = 30) -> Path:
    cap = cv2.VideoCapture(str(clip))
    cap.set(cv2.CAP_PROP_POS_FRAMES, frame)
    ok, image = cap.read()
    cap.release()
    assert ok, clip
    cv2.imwrite(str(out), image)
    return out


@pytest.fixture(scope="session")
def generic_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """root/<label>/: two real clips of actor 1001 and, as a second 'subject', stills."""
    root = tmp_path_factory.mktemp("generic")
    for label, code in (("happiness", "HAP"), ("anger", "ANG")):
        d = root / label
        d.mkdir()
        shutil.copy(CLIPS / f"1001_DFA_{code}_XX.flv", d)
        for k, frame in enumerate((20, 40)):
            still_from(CLIPS / f"1001_DFA_{code}_XX.flv", d / f"s2_{code.lower()}{k}.jpg", frame)
    return root


@pytest.fixture(scope="session")
def extracted_generic(generic_dataset: Path, tmp_path_factory: pytest.TempPathFactory):
    """(config, extracted items) after one real extraction with the device pipeline."""
    from microemo_train import extract, settings

    work = tmp_path_factory.mktemp("work")
    cfg = settings.TrainConfig(
        workdir=work,
        data=settings.DataConfig(adapter="generic", root=generic_dataset),
        extract=settings.ExtractConfig(cache=work / "cache", jobs=2),
        windows=settings.WindowConfig(window_ms=500, hop_ms=250, fps=16),
        select=settings.SelectConfig(n_features=4, n_neighbors=5),
        fit=settings.FitConfig(epochs=3, folds=0, holdout=0.0, batch_size=16),
        quantize=settings.QuantizeConfig(representative=20),
        bundle=settings.BundleConfig(out=work / "bundle", selftest_windows=2),
    )
    return cfg, extract.run_step(cfg)
