"""``au.calibration`` names a calibration file (``microemo-train facs-calibrate``) in a config
file: a good one is taken; a corrupt or mismatched one is refused by ``config check``,
``analyze`` and ``run`` in one line naming it, before MediaPipe starts. The CLI for real, in
a subprocess."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from config_kit import CLIP, clip_config, microemo, refused

from microemo.vision import calibration

BUILTIN = Path(calibration.__file__).with_name(calibration.BUILTIN)


def _broken(tmp_path: Path, how: str) -> Path:
    path = tmp_path / f"{how}.toml"
    text = BUILTIN.read_text()
    if how == "truncated":
        path.write_text(text[: len(text) // 2])
    elif how == "mismatched":  # a calibration of another runtime: one signal less
        path.write_text(text.replace('"bs_cheekPuff",', "", 1))
    return path  # "missing": never written


def test_a_calibration_file_in_the_config_is_taken(tmp_path: Path) -> None:
    mine = shutil.copy(BUILTIN, tmp_path / "my_calibration.toml")
    cfg = clip_config(tmp_path, f'[au]\ncalibration = "{mine}"\n')
    result = microemo("config", "check", str(cfg))
    assert result.returncode == 0, result.stderr
    assert microemo("config", "show", str(cfg)).stdout.count(f'calibration = "{mine}"') == 1


@pytest.mark.parametrize(
    ("how", "says"),
    [
        ("truncated", "not valid TOML"),
        ("mismatched", "signals do not match this runtime's"),
        ("missing", "cannot read it"),
    ],
)
def test_a_bad_calibration_is_refused_in_one_line_naming_it(tmp_path: Path, how, says) -> None:
    bad = _broken(tmp_path, how)
    cfg = clip_config(tmp_path, f'[au]\ncalibration = "{bad}"\n')
    line = refused(microemo("config", "check", str(cfg)), cfg)
    assert line.startswith(f"{cfg}: au.calibration") and str(bad) in line and says in line
    analyze = microemo("analyze", str(CLIP), "--config", str(cfg), "--out", str(tmp_path / "o"))
    assert analyze.returncode == 2
    (only,) = analyze.stderr.strip().splitlines()  # MediaPipe never started: no chatter
    assert only.startswith("error: au.calibration") and str(bad) in only and says in only
    run = microemo("run", "--config", str(cfg))
    assert run.returncode == 2 and str(bad) in run.stderr and says in run.stderr
