"""AU estimation: blendshapes and geometry, relative to each face's own neutral baseline.

Per face, a signal vector (52 blendshapes + the geometric signals) is compared with that
face's neutral estimate; the directed deviations are scaled by each term's full-scale change
and mixed by the weights of ``au_signals.toml`` in one matrix product; weak movements are
amplified with a compressive curve (``5 * x ** gamma``) after a small dead band, which is
what lets a 1/25 s twitch of a single AU reach the spotter.

The neutral baseline is robust and running: a history sampled at a fixed rate (so 200 fps
sources do not cost more than 30 fps ones), re-estimated every few frames. Blendshapes use a
capped low quantile; geometry uses the median clamped to a band around a population neutral.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from importlib import resources

import numpy as np

from microemo.config import AUConfig
from microemo.types import AU_NAMES, BLENDSHAPE_NAMES, AUFrame, NormalizedFace
from microemo.vision.geometry import GEOMETRY_NAMES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

logger = logging.getLogger(__name__)

SIGNAL_NAMES: tuple[str, ...] = tuple(f"bs_{n}" for n in BLENDSHAPE_NAMES) + GEOMETRY_NAMES
N_BS = len(BLENDSHAPE_NAMES)
HISTORY = 300  # samples kept per face for the baseline
DEAD_BAND = 0.08  # share of full scale treated as noise


@dataclass(frozen=True)
class AUTable:
    weights: np.ndarray  # (n_au, 2 * n_signals): positive then negative deviations
    full: np.ndarray  # (2 * n_signals,) full-scale change per directed signal
    geo_prior: np.ndarray  # (n_geometry,)
    geo_tol: np.ndarray  # (n_geometry,)
    bs_cap: np.ndarray  # (n_blendshapes,) most a resting offset may be
    bs_quantile: float
    names: dict[str, str]  # AU -> FACS name
    terms: dict[str, list[list]]  # AU -> terms as written, for docs


def load_table(text: str | None = None) -> AUTable:
    if text is None:
        text = resources.files("microemo.vision").joinpath("au_signals.toml").read_text()
    data = tomllib.loads(text)
    n = len(SIGNAL_NAMES)
    index = {s: i for i, s in enumerate(SIGNAL_NAMES)}
    weights = np.zeros((len(AU_NAMES), 2 * n), np.float32)
    full = np.ones(2 * n, np.float32)
    for row, au in enumerate(AU_NAMES):
        spec = data["AU"].get(au)
        if spec is None:
            raise ValueError(f"au_signals.toml: no entry for {au}")
        total = sum(float(t[3]) for t in spec["terms"])
        for signal, direction, fs, w in spec["terms"]:
            if signal not in index:
                raise ValueError(f"au_signals.toml: {au} names unknown signal {signal!r}")
            col = index[signal] + (0 if direction > 0 else n)
            weights[row, col] += float(w) / total
            full[col] = float(fs)
    prior = np.array([data["neutral"][g][0] for g in GEOMETRY_NAMES], np.float32)
    tol = np.array([data["neutral"][g][1] for g in GEOMETRY_NAMES], np.float32)
    b = data["blendshape_baseline"]
    caps = np.full(N_BS, float(b["cap"]), np.float32)
    for name, cap in b.get("caps", {}).items():
        if name not in BLENDSHAPE_NAMES:
            raise ValueError(f"au_signals.toml: cap for unknown blendshape {name!r}")
        caps[BLENDSHAPE_NAMES.index(name)] = float(cap)
    return AUTable(
        weights,
        full,
        prior,
        tol,
        caps,
        float(b["quantile"]),
        {au: data["AU"][au]["name"] for au in AU_NAMES},
        {au: data["AU"][au]["terms"] for au in AU_NAMES},
    )


@dataclass
class _FaceState:
    history: np.ndarray
    count: int = 0
    next_sample_ms: float = -1e18
    frames_since_update: int = 0
    baseline: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    present: np.ndarray = field(default_factory=lambda: np.zeros(len(AU_NAMES), bool))


class AUEstimator:
    """Stage: NormalizedFace -> AUFrame. Keeps a neutral baseline per face id."""

    def __init__(self, config: AUConfig, table: AUTable | None = None) -> None:
        self.config = config
        self.table = table or load_table()
        self._faces: dict[int, _FaceState] = {}
        self._sample_every_ms = config.baseline_s * 1000.0 / HISTORY
        self._min_history = 10
        self._prior = np.concatenate([np.zeros(N_BS, np.float32), self.table.geo_prior])

    def _state(self, face_id: int) -> _FaceState:
        st = self._faces.get(face_id)
        if st is None:
            st = _FaceState(history=np.zeros((HISTORY, len(SIGNAL_NAMES)), np.float32))
            st.baseline = self._prior.copy()
            self._faces[face_id] = st
        return st

    def forget(self, face_id: int) -> None:
        self._faces.pop(face_id, None)

    def _rebaseline(self, st: _FaceState) -> None:
        hist = st.history[: min(st.count, HISTORY)]
        t = self.table
        bs = np.minimum(np.quantile(hist[:, :N_BS], t.bs_quantile, axis=0), t.bs_cap)
        geo = np.median(hist[:, N_BS:], axis=0)
        geo = t.geo_prior + np.clip(geo - t.geo_prior, -t.geo_tol, t.geo_tol)
        st.baseline = np.concatenate([bs, geo]).astype(np.float32)

    def __call__(self, face: NormalizedFace, t_ms: float) -> AUFrame:
        st = self._state(face.face_id)
        signals = np.concatenate([face.obs.blendshapes, face.geometry])
        if t_ms >= st.next_sample_ms:
            st.history[st.count % HISTORY] = signals
            st.count += 1
            st.next_sample_ms = t_ms + self._sample_every_ms
        st.frames_since_update += 1
        ready = st.count >= self._min_history
        if ready and st.frames_since_update >= self.config.baseline_update_every:
            self._rebaseline(st)
            st.frames_since_update = 0
        intensity = self.intensities(signals - st.baseline)
        cfg = self.config
        st.present = np.where(
            st.present, intensity >= cfg.presence_off, intensity >= cfg.presence_on
        )
        return AUFrame(
            face_id=face.face_id,
            t_ms=t_ms,
            intensity=intensity,
            present=st.present.copy(),
            features=np.zeros(0, np.float32),
            face=face,
            baseline_ready=ready,
        )

    def intensities(self, deviation: np.ndarray) -> np.ndarray:
        """Map deviations from neutral to 0-5 intensities (weak-signal amplified)."""
        directed = np.concatenate([deviation, -deviation]) / self.table.full
        x = self.table.weights @ np.clip(directed, 0.0, 1.5)
        x = np.clip((x - DEAD_BAND) / (1.0 - DEAD_BAND), 0.0, 1.0)
        return (5.0 * x**self.config.gamma).astype(np.float32)

    def geometry_deviation(self, face: NormalizedFace) -> np.ndarray:
        st = self._state(face.face_id)
        return face.geometry - st.baseline[N_BS:]
