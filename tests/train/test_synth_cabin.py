"""``microemo-train synth --cabin`` as a user runs it: a real clip with the eyes shut for a
set time becomes a lossless clip and labels saying when they were shut; a malformed act is
refused in one line naming it; the pictures close eyes, open the mouth and turn the head on
a real face (the landmarker reads them so)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import clip_path

from microemo.config import LandmarkerConfig
from microemo.types import Frame, TrackedFace
from microemo.vision.geometry import Normalizer
from microemo.vision.landmarker import Landmarker
from microemo_train.spotting.cabin_render import close_eyes, open_mouth, turn_head
from microemo_train.spotting.cabin_synth import CabinAct, source_time


def synth(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "microemo_train.cli", "synth", str(clip_path("NEU")),
         *map(str, args)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_synth_closes_the_eyes_for_the_time_asked(tmp_path: Path) -> None:
    out = tmp_path / "shut.avi"
    proc = synth("-o", out, "--cabin", "eyes:500:1700", "--duration-ms", "2500")
    assert proc.returncode == 0, proc.stderr[-2000:]
    labels = json.loads(out.with_suffix(".json").read_text())
    assert out.stat().st_size > 1_000_000 and labels["n_frames"] == 74
    (shut,) = [r for r in labels["closed"] if r[1] - r[0] > 500]
    assert 500 < shut[0] < 600 and 1600 < shut[1] <= 1700  # 80 % closed after the ease-in
    assert labels["acts"] == [{"kind": "eyes", "start_ms": 500.0, "end_ms": 1700.0,
                               "yaw_deg": 0.0, "pitch_deg": 0.0}]  # fmt: skip


@pytest.mark.parametrize("spec", ["eyes:900:100", "turn:0:100:x"])
def test_a_malformed_act_is_refused_by_name(tmp_path: Path, spec: str) -> None:
    proc = synth("-o", tmp_path / "x.avi", "--cabin", spec)
    assert proc.returncode == 2 and f"--cabin {spec!r}" in proc.stderr
    assert not (tmp_path / "x.avi").exists()


def test_a_long_closure_holds_the_source_still() -> None:
    acts = [CabinAct("eyes", 1000, 2500), CabinAct("eyes", 3000, 3200)]  # a blink does not
    assert [source_time(t, acts) for t in (900, 2000, 2600, 3100)] == [900, 1000, 1100, 1600]


def test_the_landmarker_reads_the_drawn_eyes_mouth_and_turn() -> None:
    from microemo.cabin.measure import read_face
    from microemo.sources.files import open_file_source

    with open_file_source(clip_path("NEU")) as src:
        image = [f.image for f in src][45]
    with Landmarker(LandmarkerConfig()) as lm:
        pts3 = lm.detect(Frame(image, 0, 0))[0].landmarks * np.array([480, 360, 480])

    def read(img: np.ndarray):  # a still picture: a few frames let the tracking settle
        with Landmarker(LandmarkerConfig()) as lm:
            for i in range(8):
                faces = lm.detect(Frame(img, i * 33.0, i))
        return read_face(Normalizer()(TrackedFace(0, faces[0], 1.0)))

    rest = read(image)
    shut = read(close_eyes(image, pts3[:, :2], 1.0))
    assert shut.blink_l > rest.blink_l + 0.25 and shut.aperture_l < 0.5 * rest.aperture_l
    assert read(open_mouth(image, pts3, 1.0)).mouth_gap > 0.2 > rest.mouth_gap
    turned = read(turn_head(image, pts3, 20.0, 0.0))
    assert 15 < turned.head_yaw - rest.head_yaw < 25  # to the subject's left, as asked
    dropped = read(turn_head(image, pts3, 0.0, -20.0))
    assert -25 < dropped.head_pitch - rest.head_pitch < -15
