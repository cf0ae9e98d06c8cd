"""A bundle's self-test: its own reference windows through the device's runner.

A bundle carries ``selftest.npz`` (pinned by the manifest); before the store makes a bundle
current it must reproduce those outputs here, so a model that loads but does not run as it
was trained (another interpreter, a broken conversion) is refused and the old one stays.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from microemo.model.bundle import Bundle, BundleError

logger = logging.getLogger(__name__)

Predict = Callable[[np.ndarray], Any]
PredictorFactory = Callable[[Bundle], Predict]


class SelfTestError(BundleError):
    """The bundle loads but does not reproduce its own reference outputs."""


def default_predictor(bundle: Bundle) -> Predict:
    """The device's CNN runner, loaded in a real interpreter."""
    from microemo.model.runner import CnnClassifier

    return CnnClassifier(bundle).predict


def relay(windows: np.ndarray, names: list[str]) -> np.ndarray:
    """Reference windows recorded with another per-frame feature vector (a bundle made
    before features were appended) laid out in this device's ``FRAME_FEATURES`` order by
    name; features this device has and the recording lacks are 0 (the model never reads
    them: its own features are checked by name when it loads)."""
    from microemo.vision.features import FRAME_FEATURES

    if names == list(FRAME_FEATURES):
        return windows
    if windows.shape[-1] != len(names):
        raise ValueError(f"{windows.shape[-1]} columns but {len(names)} feature_names")
    out = np.zeros((*windows.shape[:-1], len(FRAME_FEATURES)), np.float32)
    index = {n: i for i, n in enumerate(FRAME_FEATURES)}
    for j, n in enumerate(names):
        if n in index:
            out[..., index[n]] = windows[..., j]
    return out


def run_selftest(bundle: Bundle, predict: Predict, tolerance: float) -> dict[str, Any]:
    """Run the bundle's reference windows; raise ``SelfTestError`` on any mismatch.

    ``selftest.npz`` holds ``windows`` (N, T, F_all float32, the device's per-frame feature
    order) and ``expected`` (N, n_labels float32 probabilities). Each output must be within
    ``tolerance`` (max abs difference) and give the same top label.
    """
    name = bundle.manifest.selftest_file
    if not name or name not in bundle.manifest.files:
        raise SelfTestError(f"{bundle.path}: the manifest pins no self-test file; refusing")
    try:
        with np.load(bundle.path / name, allow_pickle=False) as data:
            windows, expected = data["windows"], data["expected"]
            if "feature_names" in data:
                windows = relay(windows, [str(n) for n in data["feature_names"]])
    except (OSError, KeyError, ValueError) as exc:
        raise SelfTestError(f"{bundle.path / name}: unreadable self-test ({exc})") from exc
    n_labels = len(bundle.manifest.labels)
    if len(windows) == 0 or expected.shape != (len(windows), n_labels):
        raise SelfTestError(
            f"{bundle.path / name}: expected shape {expected.shape} does not match "
            f"{len(windows)} windows x {n_labels} labels"
        )
    worst = 0.0
    t0 = time.monotonic()
    for i, (window, want) in enumerate(zip(windows, expected, strict=True)):
        try:
            got = np.asarray(predict(window), dtype=np.float32).reshape(-1)
        except Exception as exc:  # any failure of the runner on its own reference input
            raise SelfTestError(f"{bundle.path}: self-test window {i} fails to run: {exc}") from exc
        if got.shape != want.shape:
            raise SelfTestError(f"{bundle.path}: window {i} gave {got.shape}, want {want.shape}")
        diff = float(np.max(np.abs(got - want)))
        worst = max(worst, diff)
        if diff > tolerance or int(np.argmax(got)) != int(np.argmax(want)):
            raise SelfTestError(
                f"{bundle.path}: self-test window {i} gives {np.round(got, 3).tolist()}, the "
                f"bundle expects {np.round(want, 3).tolist()} (max diff {diff:.3f} > "
                f"{tolerance} or another top label); the model does not run as trained here"
            )
    ms = (time.monotonic() - t0) * 1000
    return {"windows": len(windows), "max_abs_diff": round(worst, 5), "ms": round(ms, 2)}
