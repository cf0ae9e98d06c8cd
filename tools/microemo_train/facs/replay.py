"""Recorded observations through the device's own stages after the landmarker.

``signals`` gives each frame's signal vector (the device's normalizer and
``vision.au.face_signals``); ``replay`` runs the device's ``AUEstimator`` with a given
calibration over each item's frames in order, exactly as ``microemo analyze`` would, and
keeps what the calibration fit and the benchmark need at every frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from microemo.config import AUConfig
from microemo.types import AU_NAMES, TrackedFace
from microemo.vision.au import AUEstimator, face_signals
from microemo.vision.calibration import REGIONS, SIGNAL_NAMES, AUCalibration
from microemo.vision.geometry import Normalizer
from microemo_train.facs.items import FacsItem
from microemo_train.facs.record import Recording

_NORMALIZER = Normalizer()


@dataclass
class Replay:
    """One item through the AU estimator; rows are frames, NaN where no face was found."""

    recording: Recording
    signals: np.ndarray  # (T, n_signals)
    baseline: np.ndarray  # (T, n_signals) the neutral estimate the frame was read against
    samples: np.ndarray  # (T, regions) neutral samples behind that estimate, per face region
    intensity: np.ndarray  # (T, n_au)
    present: np.ndarray  # (T, n_au) bool

    @property
    def item(self) -> FacsItem:
        return self.recording.item


def signals(rec: Recording) -> np.ndarray:
    out = np.full((len(rec.faces), len(SIGNAL_NAMES)), np.nan, np.float32)
    for i, obs in enumerate(rec.faces):
        if obs is not None:
            out[i] = face_signals(_NORMALIZER(TrackedFace(0, obs, 1.0)))
    return out


def replay(rec: Recording, cal: AUCalibration, config: AUConfig | None = None) -> Replay:
    config = config or AUConfig()
    est = AUEstimator(config, cal)
    n, k = len(rec.faces), len(AU_NAMES)
    sig = np.full((n, cal.n_signals), np.nan, np.float32)
    base = np.full_like(sig, np.nan)
    count = np.zeros((n, len(REGIONS)), np.int64)
    inten = np.full((n, k), np.nan, np.float32)
    pres = np.zeros((n, k), bool)
    for i, obs in enumerate(rec.faces):
        if obs is None:
            continue
        norm = _NORMALIZER(TrackedFace(0, obs, 1.0))
        au = est(norm, i * 1000.0 / rec.item.fps)
        sig[i] = face_signals(norm)
        base[i], count[i] = est.baseline(0)
        inten[i], pres[i] = au.intensity, au.present
    return Replay(rec, sig, base, count, inten, pres)
