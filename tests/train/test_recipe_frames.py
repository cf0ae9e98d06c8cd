"""The CK+ recipe (models/train-ckplus.toml) as a user runs it, on a tiny data set of the same
shape made from the real CREMA-D clips: frame folders of a neutral frame held, then an
expression held (CK+ itself is research-only and never a test dependency). The bundle it
makes says how far to trust its CNN, which runtime it needs and what data it came from, and
`microemo analyze --bundle` on a 12-frame folder gives the CNN's answer on the last row."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from tests.conftest import clip_path

pytestmark = pytest.mark.train

pytest.importorskip("tensorflow")
pytest.importorskip("skrebate")

RECIPE = Path(__file__).resolve().parents[2] / "models" / "train-ckplus.toml"
EXPRESSIONS = {"happiness": ("HAP", 45), "anger": ("ANG", 50)}


def frame(emotion: str, index: int, mirror: bool) -> np.ndarray:
    cap = cv2.VideoCapture(str(clip_path(emotion)))
    cap.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, image = cap.read()
    cap.release()
    assert ok
    return cv2.flip(image, 1) if mirror else image


def neutral_then(
    folder: Path, expression: np.ndarray, neutral: np.ndarray, rest: int, apex: int
) -> Path:
    """``rest`` neutral frames then ``apex`` expression frames, as the CK+ preparation
    holds them."""
    folder.mkdir(parents=True)
    for i, image in enumerate([neutral] * rest + [expression] * apex):
        assert cv2.imwrite(str(folder / f"frame_{i:03d}.png"), image)
    return folder


@pytest.fixture(scope="module")
def frame_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """root/<emotion>/<subject>_<seq>/: two 'subjects' (the actor, and the actor mirrored)."""
    root = tmp_path_factory.mktemp("frames")
    for s, mirror in (("S1", False), ("S2", True)):
        neutral = frame("NEU", 10, mirror)
        for label, (code, index) in EXPRESSIONS.items():
            neutral_then(root / label / f"{s}_001", frame(code, index, mirror), neutral, 6, 6)
    return root


def test_recipe_trains_a_bundle_the_device_runs_on_a_short_clip(frame_dataset, tmp_path):
    from microemo.model.bundle import load_bundle
    from microemo_train import run_all, settings

    work = tmp_path / "work"
    cfg = settings.load(
        RECIPE,
        [
            f"data.root={frame_dataset}",
            f"workdir={work}",
            f"extract.cache={tmp_path / 'cache'}",
            f"bundle.out={tmp_path / 'bundle'}",
            f"bundle.key={tmp_path / 'research.key'}",
            f"bundle.public_key={tmp_path / 'research.pub'}",
            # tiny: two subjects (leave one out), a few epochs
            "fit.folds=0",
            "fit.epochs=3",
            "fit.holdout=0",
            "select.n_features=6",
            "select.n_neighbors=3",
            "quantize.representative=20",
            "bundle.selftest_windows=2",
        ],
    )
    run_all.run_all(cfg)

    out = cfg.bundle.out
    pub = (tmp_path / "research.pub").read_text().strip()
    bundle = load_bundle(out, [pub])
    m = bundle.manifest
    assert m.labels == ["anger", "happiness", "neutral"]
    assert m.window_frames == 1
    assert m.fusion_weight is not None and 0.0 <= m.fusion_weight <= 1.0
    assert m.min_runtime == "0.2.0"  # its fields need 0.2.0; later runtimes read it too
    assert "CK+" in m.source["dataset"] and "non-commercial" in m.source["licence"]
    assert "leave-one-subject-out" in m.source["evaluated_on"]
    calibration = m.source["au_calibration"]  # the AU calibration its features were read with
    assert calibration["file"].endswith("au_calibration.toml") and len(calibration["sha256"]) == 64
    metrics = json.loads((work / "metrics.json").read_text())
    for name in ("cnn", "logreg", "blendshapes", "rules", "cnn+rules"):
        assert 0.0 <= metrics[name]["last_window_accuracy"] <= 1.0
    assert metrics["fusion_weight"] == m.fusion_weight

    # the hidden protocol's clip: neutral x8 then the apex x4, last row scored
    clip = neutral_then(
        tmp_path / "clip" / "S3_001", frame("HAP", 45, False), frame("NEU", 20, False), 8, 4
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "microemo.cli",
            "analyze",
            "--no-plot",
            "--bundle",
            str(out),
            "--out",
            str(tmp_path / "analyzed"),
            str(clip),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "signature not checked" in proc.stderr
    with (tmp_path / "analyzed" / "S3_001.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 12
    last = rows[-1]
    assert last["success"] == "1"
    assert last["emotion_source"].startswith("cnn"), last  # the trained model spoke
    assert last["emotion"] in m.labels
