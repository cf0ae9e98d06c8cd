"""``microemo-train first-glance``: each AU's presence bar for a face read from one glance,
from faces at rest read by ``microemo analyze`` itself; the device reads the file it writes."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import tomllib
from tests.train.bench_kit import frames

from microemo.config import AUConfig
from microemo.types import AU_NAMES
from microemo.vision.au import AUEstimator

pytestmark = pytest.mark.usefixtures("needs_asset")


def _tool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "microemo_train.cli", "first-glance", *map(str, args)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> Path:
    """The actor at rest in 21 frames of the neutral sentence (neutral/), and smiling (happy/:
    not read, only faces at rest set the bars)."""
    root = tmp_path_factory.mktemp("rest")
    for folder, emotion, idx in (("neutral", "NEU", list(range(0, 63, 3))), ("happy", "HAP", [40])):
        (root / folder).mkdir()
        for i, image in zip(idx, frames(emotion, idx)):
            cv2.imwrite(str(root / folder / f"{emotion}_{i}.png"), image)
    return root


def test_the_bars_come_from_the_faces_at_rest_and_the_device_reads_them(faces, tmp_path):
    out = tmp_path / "first_glance.toml"
    done = _tool(faces, "--out", out, "--jobs", "1", "--share", "0.2", "--licence", "ODbL")
    assert done.returncode == 0, done.stderr
    d = tomllib.loads(out.read_text())
    assert d["provenance"]["faces"] == 21 and d["provenance"]["share"] == 0.2
    assert d["provenance"]["licence"] == "ODbL"
    bars = np.array([d["bars"][au] for au in AU_NAMES])
    assert (bars >= 1.0).all() and (bars <= 5.0).all()
    # each bar is where all but a fifth of these resting faces stay: so reading them from one
    # glance with it, no AU is present on more than a fifth of them (plus the rounding)
    analysed = sorted((tmp_path / "first_glance.toml.d" / "analyze").glob("NEU_*.csv"))
    assert len(analysed) == 21
    rows = [next(r for r in _rows(p) if r["success"] == "1") for p in analysed]
    above = np.array([[float(r[f"{au}_r"]) > b + 0.005 for au, b in zip(AU_NAMES, bars)]
                      for r in rows])  # fmt: skip
    assert above.mean(axis=0).max() <= 0.2 + 1e-9
    raised = [au for au, b in zip(AU_NAMES, bars) if b > 1.0]
    assert raised and f"21 faces at rest; bars above 1.0: {raised[0]}" in done.stdout
    est = AUEstimator(AUConfig(first_glance=str(out)))
    np.testing.assert_allclose(est.presence_bars(0), bars, atol=1e-6)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_too_few_faces_at_rest_or_a_share_out_of_range_are_refused(faces, tmp_path):
    few = tmp_path / "few.csv"
    few.write_text("path,label\n" + "".join(f"{p},neutral\n" for p in
                                            sorted((faces / "neutral").iterdir())[:5]))  # fmt: skip
    done = _tool(few, "--out", tmp_path / "x.toml")
    assert done.returncode == 2
    assert "5 inputs labelled neutral; the bars need at least 20 faces at rest" in done.stderr
    done = _tool(faces, "--out", tmp_path / "y.toml", "--share", "1.5")
    assert done.returncode == 2 and "--share 1.5: give a share between 0 and 1" in done.stderr
    assert not (tmp_path / "x.toml").exists() and not (tmp_path / "y.toml").exists()
