"""The per-frame feature vector that windows, ReliefF and the CNN see.

Order: the 19 AU intensities (0-5), the geometric signals as deviations from the face's
neutral baseline (face-width units), the 52 raw blendshapes, then the same 52 blendshapes as
deviations from the face's neutral baseline (``dbs_*``: what this face does now against what
it does at rest, the "apex minus neutral" a model needs on faces it never saw).

Names are the contract between the training tool and the device: a bundle lists the names it
uses, and the device picks columns by name, so adding a feature here never silently shifts a
model's inputs.
"""

from __future__ import annotations

import numpy as np

from microemo.types import AU_NAMES, BLENDSHAPE_NAMES, AUFrame
from microemo.vision.geometry import GEOMETRY_NAMES

FRAME_FEATURES: tuple[str, ...] = (
    AU_NAMES
    + GEOMETRY_NAMES
    + tuple(f"bs_{n}" for n in BLENDSHAPE_NAMES)
    + tuple(f"dbs_{n}" for n in BLENDSHAPE_NAMES)
)
FEATURE_INDEX: dict[str, int] = {n: i for i, n in enumerate(FRAME_FEATURES)}


def frame_vector(au: AUFrame, deviation: np.ndarray) -> np.ndarray:
    """``deviation``: the face's signals minus its neutral baseline, blendshapes then
    geometry (``AUEstimator.deviation``)."""
    n_bs = len(BLENDSHAPE_NAMES)
    return np.concatenate(
        [au.intensity, deviation[n_bs:], au.face.obs.blendshapes, deviation[:n_bs]]
    ).astype(np.float32)


def columns(
    names: list[str] | tuple[str, ...], available: tuple[str, ...] | list[str] = FRAME_FEATURES
) -> np.ndarray:
    """Column indices of ``names`` in ``available``; KeyError names the first unknown one."""
    index = (
        FEATURE_INDEX if available is FRAME_FEATURES else {n: i for i, n in enumerate(available)}
    )
    missing = [n for n in names if n not in index]
    if missing:
        raise KeyError(
            f"unknown feature {missing[0]!r} (known: {len(index)} features, see "
            "microemo.vision.features.FRAME_FEATURES)"
        )
    return np.array([index[n] for n in names], dtype=np.int64)
