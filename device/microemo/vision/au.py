"""AU estimation: a calibrated table over blendshapes and geometry, relative to each face's
own neutral baseline when it has one.

Each frame gives a signal vector ``s`` (52 blendshapes + the geometric signals). The
calibration (``au_calibration.toml``, written by ``microemo-train facs-calibrate``) holds two
linear heads per AU:

* the *absolute* head reads ``s`` alone: what a face shows without a neutral reference (a
  single photo, the first frames of a new face);
* the *relative* head reads ``s`` and its deviation from the face's neutral baseline ``b``.

Their evidence is mixed by how much baseline the face has, ``r = n / (n + k)`` for ``n``
neutral-looking samples, so a face reads sensibly from its first frame and better once it has
been seen at rest. Evidence ``z`` becomes an intensity on OpenFace's 0-5 scale, a Cauchy-CDF
curve with 1.0 at the AU's calibrated presence threshold (``AUCalibration.intensity``): it
never flattens to a tie below the threshold, so a weak movement still ranks above none.

The baseline is built per face region (brows, eyes, nose, mouth) from the frames where that
region looks neutral, i.e. the absolute head sees none of its AUs: a face that enters smiling
does not teach the device that its smile is neutral, and its brows at rest still teach it the
brows' neutral. Each AU's heads are mixed by its own region's trust. Samples are taken every
frame at first and then at a fixed rate (200 fps costs what 30 fps costs); the baseline is
their median, held within a band around the population neutral. Cost per face and
frame: two small matrix products; the median runs every ``au.baseline_update_every`` frames.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from microemo.config import AUConfig
from microemo.types import AU_NAMES, AUFrame, NormalizedFace
from microemo.vision.calibration import REGIONS, SIGNAL_REGION, AUCalibration, load_calibration
from microemo.vision.first_glance import load_first_glance

logger = logging.getLogger(__name__)

HISTORY = 300  # samples kept per face for the baseline
FAST_START = 30  # the first samples are taken every frame, later ones at a fixed rate
MIN_SAMPLES = 6  # frames of a new face before its AUs count as settled


@dataclass
class _FaceState:
    history: np.ndarray  # (regions, HISTORY, n_signals): each region's neutral samples
    counts: np.ndarray  # (regions,) samples taken (may exceed HISTORY: the rings wrap)
    next_sample_ms: np.ndarray  # (regions,)
    baseline: np.ndarray
    frames_since_update: int = 0
    seen: int = 0  # frames of this face
    present: np.ndarray = field(default_factory=lambda: np.zeros(len(AU_NAMES), bool))


def face_signals(face: NormalizedFace) -> np.ndarray:
    """The signal vector the calibration reads: blendshapes, then geometry."""
    return np.concatenate([face.obs.blendshapes, face.geometry]).astype(np.float32)


class AUEstimator:
    """Stage: NormalizedFace -> AUFrame. Keeps a neutral baseline per face id."""

    def __init__(self, config: AUConfig, calibration: AUCalibration | None = None) -> None:
        self.config = config
        self.cal = calibration or load_calibration(config.calibration)
        bars = load_first_glance(config.first_glance)
        # how far above presence_on each AU's bar sits for a face read from one glance
        self._glance = (
            np.zeros(len(AU_NAMES), np.float32)
            if bars is None
            else np.maximum(bars - config.presence_on, 0.0).astype(np.float32)
        )
        self._faces: dict[int, _FaceState] = {}
        self._sample_every_ms = config.baseline_s * 1000.0 / HISTORY

    def _state(self, face_id: int) -> _FaceState:
        st = self._faces.get(face_id)
        if st is None:
            n = len(REGIONS)
            st = _FaceState(
                history=np.zeros((n, HISTORY, self.cal.n_signals), np.float32),
                counts=np.zeros(n, np.int64),
                next_sample_ms=np.full(n, -1e18),
                baseline=self.cal.prior.copy(),
            )
            self._faces[face_id] = st
        return st

    def _raise(self, trust: np.ndarray) -> np.ndarray:
        """How far above ``presence_on`` each AU's bar is: its first-glance bar's height, less
        as the neutral of the AU's region forms (``trust``, per AU, 0 -> 1)."""
        return (self._glance * (1.0 - trust)).astype(np.float32)

    def presence_bars(self, face_id: int) -> np.ndarray:
        """Per AU, the intensity at which the face's AU counts present now."""
        return self.config.presence_on + self._raise(self.cal.trust(self._state(face_id).counts))

    def forget(self, face_id: int) -> None:
        self._faces.pop(face_id, None)

    def baseline(self, face_id: int) -> tuple[np.ndarray, np.ndarray]:
        """The face's neutral estimate and the neutral samples behind it, per region."""
        st = self._state(face_id)
        return st.baseline, st.counts.copy()

    def _rebaseline(self, st: _FaceState) -> None:
        cal = self.cal
        own = cal.prior.copy()
        for region, count in enumerate(st.counts):
            if count:
                cols = np.equal(SIGNAL_REGION, region)
                own[cols] = np.median(st.history[region, : min(count, HISTORY)][:, cols], axis=0)
        st.baseline = (cal.prior + np.clip(own - cal.prior, -cal.band, cal.band)).astype(np.float32)

    def _observe(self, st: _FaceState, s: np.ndarray, z_abs: np.ndarray, t_ms: float) -> None:
        """Take ``s`` into each region's baseline where a sample is due and that region
        looks neutral."""
        st.seen += 1
        due = (st.counts < FAST_START) | (t_ms >= st.next_sample_ms)
        take = due & self.cal.neutral_regions(z_abs)
        for region in np.flatnonzero(take):
            st.history[region, st.counts[region] % HISTORY] = s
        if take.any():
            st.counts[take] += 1
            st.next_sample_ms[take] = t_ms + self._sample_every_ms
            st.frames_since_update = self.config.baseline_update_every  # re-estimate now

    def __call__(self, face: NormalizedFace, t_ms: float) -> AUFrame:
        st = self._state(face.face_id)
        s = face_signals(face)
        z_abs = self.cal.absolute(s)
        self._observe(st, s, z_abs, t_ms)
        st.frames_since_update += 1
        if st.counts.any() and st.frames_since_update >= self.config.baseline_update_every:
            self._rebaseline(st)
            st.frames_since_update = 0
        trust = self.cal.trust(st.counts)  # once a frame: the heads' mix, the bars, the frame
        z = self.cal.evidence(s, st.baseline, st.counts, z_abs, trust)
        intensity = self.intensities(z)
        cfg = self.config
        raise_by = self._raise(trust)
        st.present = np.where(
            st.present,
            intensity >= cfg.presence_off + raise_by,
            intensity >= cfg.presence_on + raise_by,
        )
        return AUFrame(
            face_id=face.face_id,
            t_ms=t_ms,
            intensity=intensity,
            present=st.present.copy(),
            features=np.zeros(0, np.float32),
            face=face,
            # readable from the first frames (the absolute head needs no baseline); the
            # spotter only waits for the face to settle in
            baseline_ready=st.seen >= MIN_SAMPLES,
            trust=float(trust.mean()),
        )

    def intensities(self, evidence: np.ndarray) -> np.ndarray:
        """Evidence to 0-5 intensities (``AUCalibration.intensity``), then the weak-signal
        curve ``5 * (x / 5) ** au.gamma``."""
        x = self.cal.intensity(evidence)
        if self.config.gamma != 1.0:
            x = 5.0 * (x / 5.0) ** self.config.gamma
        return x.astype(np.float32)

    def deviation(self, face: NormalizedFace) -> np.ndarray:
        """The face's signals minus its current baseline (blendshapes, then geometry)."""
        return face_signals(face) - self._state(face.face_id).baseline
