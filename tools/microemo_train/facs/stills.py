"""Faces at rest (and a few unmistakable expressions) from an emotion-labelled set of stills,
as weakly coded items for ``facs-calibrate --stills``.

A FACS-coded set is small and from one population and camera (CK+: 78 posed subjects in
small grey crops); fitted on it alone, the absolute AU reading learns its faces' shapes and
reads other people's resting faces as expressions (a FER2013 neutral face showed 4.7 AUs,
its brows "raised" in half of them). Stills labelled ``neutral`` from many people and cameras
say which of those shapes are rest: every expression AU is coded absent on them (not AU25,
AU26 or AU45: lips apart, a dropped jaw and a blink are rest too). Two classes carry AUs that
nearly every face of the class shows and are coded present: happiness AU12, surprise AU1 and
AU2. Nothing else is assumed of a label. Each still is its own subject (such sets have no
subject ids), at most ``per_neutral`` neutral stills and ``per_weak`` of each other class,
drawn at random.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from microemo.types import AU_IDS
from microemo.vision.face_crop import CropSpec
from microemo_train.appearance.data import folders, from_csv
from microemo_train.appearance.extract import extract
from microemo_train.facs.items import FacsItem
from microemo_train.facs.record import Recording

REST_AUS = frozenset(a for a in AU_IDS if a not in (25, 26, 45))
WEAK_CODES: dict[str, dict[int, float]] = {"happiness": {12: 0.0}, "surprise": {1: 0.0, 2: 0.0}}


def still_recordings(
    root: Path, per_neutral: int, per_weak: int, cache: Path, jobs: int, seed: int = 0
) -> list[Recording]:
    """Weakly coded one-frame recordings from the class folders under ``root``, or the
    ``path,label`` rows of the CSV ``root`` (a part of a set: ``microemo-train appearance``
    writes its training part as one, so the faces it is scored on stay out)."""
    s = from_csv(root, "stills") if root.is_file() else folders(root, "stills")
    rng = np.random.default_rng(seed)
    keep = []
    for label, n in (("neutral", per_neutral), *((k, per_weak) for k in WEAK_CODES)):
        idx = [i for i, st in enumerate(s.stills) if st.label == label]
        keep += sorted(rng.choice(idx, min(n, len(idx)), replace=False).tolist()) if idx else []
    s.stills = [s.stills[i] for i in keep]
    got = extract(s, CropSpec(), cache, jobs)
    out = []
    for i, st in enumerate(s.stills):
        obs = got.observation(i)
        if obs is None:
            continue
        codes = WEAK_CODES.get(st.label, {})
        name = f"{st.path.parent.name}/{st.path.name}"  # a file name can repeat per class
        item = FacsItem(
            key=f"stills/{name}",
            subject=f"still:{name}",
            frames=(st.path,),
            codes={0: dict(codes)},
            coded=REST_AUS if st.label == "neutral" else frozenset(codes),
            meta={"source": str(root)},
        )
        out.append(Recording(item, [obs]))
    return out
