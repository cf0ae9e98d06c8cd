"""A bundle asks for the runtime its manifest needs: 0.1.0 devices (which refuse an unknown
manifest field and read one-frame windows wrong) are told "needs runtime 0.2.0" rather than
failing obscurely; bundles without the new fields stay installable on them."""

from __future__ import annotations

from microemo_train.bundle import min_runtime

PLAIN = {"fusion_weight": None, "window_frames": 16, "features": ["AU01", "g_brow_gap"]}


def test_plain_bundle_keeps_the_old_runtime():
    assert min_runtime(PLAIN) == "0.1.0"


def test_each_new_field_needs_0_2_0():
    for change in (
        {"fusion_weight": 0.4},
        {"window_frames": 1},
        {"features": ["AU01", "dbs_mouthSmileLeft"]},
    ):
        assert min_runtime({**PLAIN, **change}) == "0.2.0", change
