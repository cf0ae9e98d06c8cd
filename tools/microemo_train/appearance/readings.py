"""What the device reads on each still besides its appearance: the FACS prototypes'
probabilities over the AUs its estimator gives, with the baseline trust it has.

A still alone is read as a photo is (a new face, no neutral: trust 0). A set that pairs a
face's neutral still with its expression (CK+'s sequences) is also read as a video would
show it: the neutral ``NEUTRAL_FRAMES`` times, then the expression, through one AU estimator,
so the expression is read against the face's own neutral (and the neutral itself, read
again after it, is that face at rest with a baseline). The device's own stages do all of it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from microemo.config import AUConfig
from microemo.emotion.rules import core_scores
from microemo.types import FaceObservation, TrackedFace
from microemo.vision.au import AUEstimator
from microemo.vision.geometry import Normalizer
from microemo_train.appearance.extract import Extracted
from microemo_train.appearance.fuse import PROTO_CLASSES

NEUTRAL_FRAMES = 8
_NORMALIZER = Normalizer()


def prototype_probs(intensity: np.ndarray) -> np.ndarray:
    """The prototypes' probabilities over ``PROTO_CLASSES`` (repression counted as anger)."""
    s = core_scores(intensity)
    s["anger"] = s.get("anger", 0.0) + s.get("repression", 0.0)
    return np.array([s.get(c, 0.0) for c in PROTO_CLASSES])


def _read(est: AUEstimator, face_id: int, obs: FaceObservation, t_ms: float) -> tuple:
    au = est(_NORMALIZER(TrackedFace(face_id, obs, 1.0)), t_ms)
    return au.intensity, au.trust


def still_readings(ex: Extracted, calibration: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Per still: prototype probabilities and AU intensities, read alone (NaN: no face)."""
    est = AUEstimator(AUConfig(calibration=None if calibration is None else Path(calibration)))
    n = len(ex.ok)
    probs = np.full((n, len(PROTO_CLASSES)), np.nan)
    aus = np.full((n, 19), np.nan)
    for i in map(int, np.flatnonzero(ex.ok)):
        obs = ex.observation(i)
        assert obs is not None
        aus[i], _ = _read(est, i, obs, 0.0)
        est.forget(i)
        probs[i] = prototype_probs(aus[i])
    return probs, aus


def pair_readings(
    ex: Extracted, pairs: list[tuple[int, int]], calibration: str | None
) -> list[tuple[int, int, float, np.ndarray, float, np.ndarray]]:
    """Per (neutral, expression) pair with both faces found: the neutral's trust and
    prototype probabilities after its own frames, then the expression's."""
    est = AUEstimator(AUConfig(calibration=None if calibration is None else Path(calibration)))
    out = []
    for k, (i, j) in enumerate(pairs):
        obs_n, obs_a = ex.observation(i), ex.observation(j)
        if obs_n is None or obs_a is None:
            continue
        for f in range(NEUTRAL_FRAMES):
            au_n, trust_n = _read(est, k, obs_n, f * 33.3)
        au_a, trust_a = _read(est, k, obs_a, NEUTRAL_FRAMES * 33.3)
        est.forget(k)
        out.append((i, j, trust_n, prototype_probs(au_n), trust_a, prototype_probs(au_a)))
    return out
