"""The per-face articulation model (vision.mouth): lip corners and chin that move with this
face's lips read nothing once learned, whatever the face's own coupling; a corner lift or
drop on top of the same speech reads as AU12 or AU15, at 30 and 100 fps alike. Synthetic
motion: the model is arithmetic on flow steps; tests/train/test_spot_e2e.py has real faces."""

from __future__ import annotations

import numpy as np
import pytest

from microemo.types import AU_INDEX
from microemo.vision.mouth import CHIN, CORNERS, Articulation

N_CORNER, N_CHIN = len(CORNERS), len(CHIN)
LOW, UP = N_CORNER + N_CHIN, N_CORNER + N_CHIN + 1  # rows of the lower and upper lip


def talk(
    fps: float, seconds: float, coupling: float, lift: tuple[float, float, float] | None = None
):
    """Per-frame (t_ms, flow step, mesh) of a face talking at 4.5 syllables a second: the
    lower lip goes up and down by 6 % of the face width, the corners follow it by
    ``coupling`` (this face's own articulation), the chin by 0.8. ``lift``: (onset ms, ms,
    face widths) of a corner movement added on top (a raised cosine)."""
    rng = np.random.default_rng(1)
    t = np.arange(0.0, seconds * 1000.0, 1000.0 / fps)
    low = 0.03 * np.sin(2 * np.pi * 4.5 * t / 1000.0) + 0.01 * np.sin(2 * np.pi * 1.3 * t / 1000.0)
    corner = coupling * low
    if lift is not None:
        onset, dur, size = lift
        x = np.clip((t - onset) / dur, 0.0, 1.0)
        corner = corner + size * 0.5 * (1 - np.cos(2 * np.pi * x))
    steps = []
    for k in range(len(t)):
        d = np.zeros((N_CORNER + N_CHIN + 2, 2), np.float32)
        if k:
            d[:N_CORNER, 1] = corner[k] - corner[k - 1]
            d[N_CORNER:LOW, 1] = 0.8 * (low[k] - low[k - 1])
            d[LOW, 1] = low[k] - low[k - 1]
            d += rng.normal(0.0, 0.0004, d.shape).astype(np.float32)  # tracking noise
        mesh = np.array([0.02 - low[k], low[k]], np.float32)  # lip gap, lower-lip height
        steps.append((float(t[k]), d, mesh))
    return steps


def run(steps, fps_model: Articulation) -> np.ndarray:
    return np.array([fps_model(d, m, t) for t, d, m in steps])


@pytest.mark.parametrize("fps", [30.0, 100.0])
@pytest.mark.parametrize("coupling", [-0.4, 0.3])
def test_speech_alone_reads_nothing_once_learned(fps: float, coupling: float) -> None:
    out = run(talk(fps, 12.0, coupling), Articulation(1000.0, 20_000.0, 0.02))
    late = out[int(4.0 * fps) :]  # after four seconds of this face
    for au in (12, 15, 17):
        assert np.percentile(late[:, AU_INDEX[au]], 99) < 1.0, au


@pytest.mark.parametrize("fps", [30.0, 100.0])
@pytest.mark.parametrize(("au", "size"), [(12, 0.03), (15, -0.03)])
def test_a_brief_corner_movement_during_speech_reads_as_its_au(
    fps: float, au: int, size: float
) -> None:
    out = run(
        talk(fps, 10.0, 0.3, lift=(7000.0, 400.0, size)), Articulation(1000.0, 20_000.0, 0.02)
    )
    t = np.arange(len(out)) * 1000.0 / fps
    during = (t > 7000.0) & (t < 7400.0)
    other = 15 if au == 12 else 12
    peak = out[during, AU_INDEX[au]].max()
    assert peak >= 4.0
    assert out[~during & (t > 4000.0), AU_INDEX[au]].max() < 1.5
    # the opposite AU only reads the leak's small overshoot as the corner returns
    assert out[during, AU_INDEX[other]].max() < 0.4 * peak
