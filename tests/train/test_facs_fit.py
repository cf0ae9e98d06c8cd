"""The calibration fit on data sets unlike CK+: single coded frames with no neutral reference
(a photo collection, DISFA's first frame). Real faces without the landmarker: the recorded
observations of the CREMA-D happy and neutral clips (tests/data/recorded)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")

from microemo.types import AU_INDEX
from microemo.vision.calibration import load_calibration
from microemo_train.facs.fit import FitSettings, _neutral_rows, collect_rows, fit_calibration
from microemo_train.facs.items import FacsItem
from microemo_train.facs.record import Recording
from microemo_train.facs.replay import signals


def _apex_only(recorded_faces) -> list[Recording]:
    """Every recorded face an item of its own, coded at its only frame (index 0): the happy
    clip's faces AU12, the neutral clip's none; five pseudo-subjects."""
    recs = []
    for clip, au12 in (("HAP", True), ("NEU", False)):
        for i, obs in enumerate(recorded_faces[clip]):
            item = FacsItem(
                f"{clip}{i}", f"S{i % 5}", (Path(f"{clip}{i}.png"),), {0: {12: 3.0} if au12 else {}}
            )
            recs.append(Recording(item, [obs]))
    return recs


def test_single_frames_without_a_neutral_reference_calibrate(recorded_faces) -> None:
    recs = _apex_only(recorded_faces)
    base = load_calibration()
    cal = fit_calibration(recs, base, FitSettings(min_positives=8, inner_folds=3))
    a = AU_INDEX[12]
    # the absolute head learnt AU12 from these faces; no face was read against its own
    # neutral, so the relative head has nothing to learn from and keeps the base's row
    assert not np.allclose(cal.w_abs[a], base.w_abs[a])
    np.testing.assert_array_equal(cal.w_rel[a], base.w_rel[a])
    z = [cal.absolute(signals(r)[0])[a] for r in recs]
    happy, neutral = np.array(z[:14]), np.array(z[14:])
    assert happy.mean() > neutral.mean()


def test_a_coded_first_frame_is_not_a_neutral_reference(recorded_faces) -> None:
    recs = _apex_only(recorded_faces)
    with_reference = FacsItem(
        "ref", "S9", (Path("n.png"), Path("h.png")), {1: {12: 3.0}}, neutral=(0,)
    )
    recs.append(Recording(with_reference, [recorded_faces["NEU"][0], recorded_faces["HAP"][0]]))
    rows = collect_rows(recs, [signals(r) for r in recs])
    # the neutral clip's faces are coded faces with no AU, at frame 0: only the item that
    # shows a neutral reference gives one
    assert rows.reference.tolist() == [False] * 30 + [False, True]
    assert _neutral_rows(rows).tolist() == [False] * 31 + [True]
