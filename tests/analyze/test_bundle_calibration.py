"""A model trained on AUs read with one calibration, run where the device reads AUs with
another: ``microemo analyze --bundle`` (and the daemon, on start and on every model swap) says
so in one warning naming both and what to do, and still runs. A bundle trained with the same
calibration, or one that does not record it, runs without a word."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from analyze_kit import run_analyze, write_still

from microemo.vision.calibration import calibration_digest

DEFAULT = Path(__file__).resolve().parents[2] / "models" / "default"
WARNING = "was trained on AUs read with the calibration"


def bundle_with(tmp: Path, sha256: str | None) -> Path:
    """The default bundle, its manifest recording an AU calibration (unsigned: analyze runs a
    bundle named on its command line without trusted keys, checking its files)."""
    out = tmp / "bundle"
    shutil.copytree(DEFAULT, out)
    (out / "manifest.json.sig").unlink()
    manifest = json.loads((out / "manifest.json").read_text())
    if sha256 is not None:
        manifest["source"]["au_calibration"] = {"file": "their_faces.toml", "sha256": sha256}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return out


def test_another_calibration_is_named(tmp_path: Path) -> None:
    still = write_still(tmp_path / "in" / "smile.png")
    proc = run_analyze(still, "--bundle", bundle_with(tmp_path, "ab" * 32), "--out", tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    said = [line for line in proc.stderr.splitlines() if WARNING in line]
    assert len(said) == 1, proc.stderr[-2000:]
    assert "their_faces.toml" in said[0] and "au_calibration.toml" in said[0]
    assert "set au.calibration" in said[0] and "device_config" in said[0]
    assert (tmp_path / "smile.csv").is_file()


def test_the_same_calibration_or_none_recorded_is_quiet(tmp_path: Path) -> None:
    still = write_still(tmp_path / "in" / "smile.png")
    for n, sha in enumerate((calibration_digest(None), None)):
        tmp = tmp_path / str(n)
        proc = run_analyze(still, "--bundle", bundle_with(tmp, sha), "--out", tmp / "out")
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert WARNING not in proc.stderr
