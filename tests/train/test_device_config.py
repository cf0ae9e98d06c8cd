"""Training reads faces the way the devices will: ``[extract] device_config`` names the
devices' config, whose AU calibration (e.g. one fitted with ``facs-calibrate``) the features
are computed with; a re-fitted calibration is new features, never a stale cache hit; a config
that cannot load stops the run before any work; the bundle names the calibration."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import clip_path

from microemo.vision.features import FEATURE_INDEX
from microemo_train.checks import CheckError, preflight
from microemo_train.datasets import Item
from microemo_train.extract import extract_items, pipeline_signature
from microemo_train.settings import TrainConfig

BUILTIN = resources.files("microemo.vision").joinpath("au_calibration.toml").read_text()


def calibration_without_smiles(tmp: Path) -> Path:
    """The built-in calibration with AU12's presence threshold out of reach."""
    head, au12 = BUILTIN.split("[AU.AU12]\n", 1)
    au12 = re.sub(r"^threshold = .*$", "threshold = 60.0", au12, count=1, flags=re.M)
    path = tmp / "no_smiles.toml"
    path.write_text(head + "[AU.AU12]\n" + au12)
    return path


def device_config(tmp: Path, calibration: Path) -> Path:
    path = tmp / "microemo.toml"
    path.write_text(f'[au]\ncalibration = "{calibration}"\n')
    return path


def test_a_refitted_calibration_is_not_a_cache_hit(tmp_path: Path) -> None:
    cal = tmp_path / "mine.toml"
    cal.write_text(BUILTIN)
    config = device_config(tmp_path, cal)
    before = pipeline_signature(config)
    assert before != pipeline_signature(None)
    cal.write_text(re.sub(r"(?m)^scale = ([0-9.]+)$", "scale = 0.123", BUILTIN, count=1))
    assert cal.read_text() != BUILTIN
    assert pipeline_signature(config) != before


def test_features_are_read_with_the_devices_calibration(tmp_path: Path) -> None:
    smile = [Item(clip_path("HAP"), "happiness", "1001")]
    default, failed = extract_items(smile, tmp_path / "cache", jobs=1)
    assert not failed
    config = device_config(tmp_path, calibration_without_smiles(tmp_path))
    mine, failed = extract_items(smile, tmp_path / "cache", jobs=1, config_path=config)
    assert not failed and mine[0].features != default[0].features
    au12 = FEATURE_INDEX["AU12"]
    smiling = np.load(default[0].features)["features"][:, au12]
    unsmiling = np.load(mine[0].features)["features"][:, au12]
    assert smiling.max() >= 2.0  # the actor smiles, as the device reads him by default
    assert unsmiling.max() < 0.5 * smiling.max()


def test_a_device_config_that_cannot_load_stops_the_run_first(tmp_path: Path) -> None:
    config = device_config(tmp_path, tmp_path / "nowhere.toml")
    cfg = TrainConfig.model_validate(
        {
            "workdir": str(tmp_path / "work"),
            "data": {"adapter": "generic", "root": str(tmp_path / "data")},
            "extract": {"device_config": str(config)},
        }
    )
    with pytest.raises(CheckError) as err:
        preflight(cfg)
    assert "[extract] device_config" in str(err.value) and "nowhere.toml" in str(err.value)
    assert not (tmp_path / "work").exists()
