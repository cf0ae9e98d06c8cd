"""A face read from one glance must show more of an AU before it counts as present (a resting
face from anywhere reads two or three AUs a little), and less as its own neutral forms; the
intensities themselves are untouched. Real MediaPipe readings of the CREMA-D actor."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from microemo.config import AUConfig, Config
from microemo.types import AU_NAMES, TrackedFace
from microemo.vision.au import AUEstimator
from microemo.vision.first_glance import FirstGlanceError, load_first_glance, parse_first_glance
from microemo.vision.geometry import Normalizer

AU05, AU10, AU12 = (AU_NAMES.index(a) for a in ("AU05", "AU10", "AU12"))


def _read(est: AUEstimator, obs, face_id: int = 0, t_ms: float = 0.0):
    return est(Normalizer()(TrackedFace(face_id, obs, 1.0)), t_ms)


def test_a_smile_from_one_glance_keeps_its_smile_and_loses_what_resting_faces_show(
    recorded_faces,
):
    first = recorded_faces["HAP"][0]
    usual = _read(AUEstimator(AUConfig(first_glance="off")), first)
    glance = _read(AUEstimator(AUConfig()), first)
    np.testing.assert_array_equal(usual.intensity, glance.intensity)  # only presence moves
    assert usual.present[AU12] and glance.present[AU12]
    # the upper lip raise the FER2013 resting faces read up to 3.76: present at 1.13 only
    # against the usual bar
    assert 1.0 <= usual.intensity[AU10] < 3.0
    assert usual.present[AU10] and not glance.present[AU10]
    assert not (glance.present & ~usual.present).any()


def test_the_bar_eases_as_the_face_is_seen_at_rest(recorded_faces):
    est = AUEstimator(AUConfig())
    bars = load_first_glance("builtin")
    assert bars is not None and bars[AU05] > 3.0 and bars[AU12] == 1.0
    np.testing.assert_allclose(est.presence_bars(7), bars)  # a face not seen yet
    for i, obs in enumerate(recorded_faces["NEU"]):
        _read(est, obs, face_id=7, t_ms=i * 1000.0 / 30)
    eased = est.presence_bars(7)
    assert (eased >= 1.0).all() and (eased <= bars + 1e-6).all()
    assert eased[AU05] < 1.0 + 0.25 * (bars[AU05] - 1.0)  # its eyes have shown their neutral
    off = AUEstimator(AUConfig(first_glance="off"))
    np.testing.assert_allclose(off.presence_bars(7), 1.0)


def test_a_first_glance_file_that_cannot_be_used_is_refused_by_name(tmp_path: Path):
    with pytest.raises(FirstGlanceError, match=r"\[bars\] names 'AU99'"):
        parse_first_glance("format = 1\n[bars]\nAU99 = 2.0\n", "x.toml")
    with pytest.raises(FirstGlanceError, match=r"x.toml: \[bars\] AU05 = 7.0: give 0-5"):
        parse_first_glance("format = 1\n[bars]\nAU05 = 7.0\n", "x.toml")
    with pytest.raises(FirstGlanceError, match="format = 2, this runtime reads format 1"):
        parse_first_glance("format = 2\n", "x.toml")
    gone = tmp_path / "nope.toml"
    with pytest.raises(FirstGlanceError, match=r"au.first_glance = '.*nope.toml': cannot read"):
        load_first_glance(str(gone))
    from microemo.daemon.preflight import PreflightError, check_first_glance

    bad = tmp_path / "bad.toml"
    bad.write_text("format = 1\n[bars]\nAU05 = 'high'\n")
    config = Config.model_validate({"au": {"first_glance": str(bad)}})
    with pytest.raises(PreflightError, match=r"au.first_glance: .*bad.toml: \[bars\] AU05"):
        check_first_glance(config)
