"""Faces between a neutral and an apex (``appearance --between``), as the training tool makes
them from a data set that holds only the two ends: the real actor at rest (CREMA-D NEU, first
frame) and smiling (HAP, first frame). A face t of the way is one face smiling t as much,
drawn where its landmarks say (the device's own landmarker finds it so), not two faces laid
over each other; and the tool refuses ``--between`` where it cannot make them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from tests.conftest import clip_frame

from microemo.config import LandmarkerConfig
from microemo.types import BLENDSHAPE_INDEX
from microemo.vision.face_crop import CropSpec
from microemo_train.appearance.data import load_set
from microemo_train.appearance.extract import extract
from microemo_train.appearance.morph import between_faces, morph, onto

pytestmark = pytest.mark.usefixtures("needs_asset")

SMILE = [BLENDSHAPE_INDEX["mouthSmileLeft"], BLENDSHAPE_INDEX["mouthSmileRight"]]
CORNERS = [61, 291]  # the lip corners


@pytest.fixture(scope="module")
def landmarker():
    from microemo.vision.landmarker import StillLandmarker

    lm = StillLandmarker(LandmarkerConfig(small_faces=False))
    yield lm
    lm.close()


def _face(landmarker, image: np.ndarray):
    faces = landmarker.detect(image)
    assert faces, "the landmarker finds the face"
    return faces[0]


def test_a_face_part_of_the_way_smiles_that_part_of_the_way(landmarker):
    rest, smile = clip_frame("NEU"), clip_frame("HAP")
    f_rest, f_smile = _face(landmarker, rest), _face(landmarker, smile)
    spec = CropSpec()
    moved, lm_smile, inside = onto(smile, f_smile.landmarks, f_rest.landmarks, spec)

    at0, _ = morph(rest, f_rest.landmarks, moved, lm_smile, 0.0, inside)
    at1, _ = morph(rest, f_rest.landmarks, moved, lm_smile, 1.0, inside)
    assert np.abs(at0.astype(int) - rest).mean() < 1.0, "0 of the way is the neutral picture"
    face1 = (inside > 0)[..., None] & np.ones_like(at1, bool)
    assert np.abs(at1.astype(int) - moved)[face1].mean() < 1.0, "1 of the way is the apex"

    ends = [float(f.blendshapes[SMILE].mean()) for f in (f_rest, f_smile)]
    assert ends[1] - ends[0] > 0.3, f"the two ends differ in their smile: {ends}"
    h, w = rest.shape[:2]
    width = np.ptp(f_rest.landmarks[:, 0]) * w
    for t in (0.3, 0.5, 0.7):
        between, lm_t = morph(rest, f_rest.landmarks, moved, lm_smile, t, inside)
        found = _face(landmarker, between)
        # a cross-dissolve of the same two pictures smiles 0.09 of the way at 0.3 and 0.91
        # at 0.7 (two mouths, the stronger one wins); the morph draws one mouth, t of the way
        share = (float(found.blendshapes[SMILE].mean()) - ends[0]) / (ends[1] - ends[0])
        assert abs(share - t) < 0.12, f"{t} of the way smiles {share:.2f} of the way"
        miss = np.linalg.norm((found.landmarks[CORNERS, :2] - lm_t[CORNERS, :2]) * (w, h), axis=1)
        assert miss.max() < 0.01 * width, f"lip corners drawn where the morph says: {miss} px"


def test_faces_between_a_pair_grow_from_the_neutral_to_the_apex(tmp_path):
    """A user's own sequences, as a CSV with a ``sequence`` column: the neutral still of a
    sequence is paired with its expression, and the faces between grow from one to the other."""
    for name, emotion in (("neutral", "NEU"), ("apex", "HAP"), ("other", "SAD")):
        cv2.imwrite(str(tmp_path / f"{name}.png"), clip_frame(emotion))
    (tmp_path / "mine.csv").write_text(
        "path,label,subject,sequence\nneutral.png,neutral,S1,1\napex.png,happy,S1,1\n"
        "other.png,sad,S1,2\n"  # a sequence with no neutral still: no pair
    )
    s = load_set(f"pair=csv:{tmp_path / 'mine.csv'}")
    assert s.pairs == [(0, 1)]
    spec = CropSpec()
    ex = extract(s, spec, tmp_path / "cache", jobs=1)
    assert ex.ok.all()
    crops, labels = between_faces(s, ex, np.ones(3, bool), (0.25, 0.5, 0.75), spec)
    assert crops.shape == (3, spec.size, spec.size) and labels == ["happiness"] * 3
    ends = ex.crops[:, 0].astype(np.float32)
    to_rest = [float(np.abs(c - ends[0]).mean()) for c in crops.astype(np.float32)]
    to_apex = [float(np.abs(c - ends[1]).mean()) for c in crops.astype(np.float32)]
    assert to_rest == sorted(to_rest) and to_apex == sorted(to_apex, reverse=True)
    left_out = np.array([True, False, True])  # the apex in another part: no faces from it
    assert len(between_faces(s, ex, left_out, (0.5,), spec)[0]) == 0


def _train(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "microemo_train.cli", "appearance", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("value", ["1.5", "0", "half", "0.5,"])
def test_a_bad_between_is_refused_before_any_work(tmp_path, value):
    done = _train("--data", f"x={tmp_path}", "--out", str(tmp_path / "o"), "--between", value)
    assert done.returncode != 0
    assert "between 0 (the neutral) and 1 (the apex)" in done.stderr
    assert value in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "o").exists()


def test_between_without_pairs_is_refused_by_name(tmp_path: Path):
    folder = tmp_path / "stills"
    for label, emotion in (("happy", "HAP"), ("neutral", "NEU")):
        (folder / label).mkdir(parents=True)
        for k in range(3):
            cv2.imwrite(str(folder / label / f"{k}.png"), clip_frame(emotion))
    out = tmp_path / "o"
    done = _train(
        "--data", f"mine={folder}", "--out", str(out), "--work", str(tmp_path / "w"),
        "--between", "0.5", "--jobs", "1", "--epochs", "1",
    )  # fmt: skip
    assert done.returncode != 0
    assert "--between: no --cnn set has neutral -> apex pairs" in done.stderr
    assert "Traceback" not in done.stderr and not out.exists()
