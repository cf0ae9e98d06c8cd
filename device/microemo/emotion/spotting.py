"""Spotting: onset, apex and offset of expression episodes in each face's AU series.

Per face and per AU, the intensity (already relative to the face's neutral) is smoothed
over ``smooth_ms`` and detrended against a local baseline: the lowest value seen over the
last ``baseline_window_ms`` (kept in fixed time slots, so 200 fps costs what 30 fps does),
frozen while an episode is open. The rise above it is compared with that AU's own running
noise (RMS of the rise while idle), so an AU that moves with speech on this face needs a
bigger bump than one that is usually still. An episode starts when some carrying AU is at
least ``on_threshold`` above its baseline and ``z_on`` times its noise for ``confirm_ms``;
its onset is backdated to where the rise began, the apex is sent once the level has fallen
to ``apex_drop`` of the peak, and the end once it is back under ``off_threshold``.

Channels: the 19 AU intensities and, when the pipeline measures optical flow
(``spotting.flow``), the recent motion of the brow, lid and nose AUs (``types.FLOW_AUS``,
``AUFrame.motion``, vision/flow.py), each
with its own baseline and noise; an episode names an AU whichever of its two channels
carried it. The mouth's flow channels (lip corners, chin) read at most 5, so their bar stops
at ``MOUTH_BAR_MAX``: above that a channel whose noise grew could never start an episode.

Never carrying on their own: AU45 (blinks), AU25/AU26 (speech opens the mouth all the
time). Lid AUs (5, 6, 7) cannot start an episode within ``blink_hold_ms`` of a blink, and
the lower-face AUs that speech drives (10, 14, 15, 17, 20, 23, 24, 28: the chin, lips and
lip corners; not the smile) none within ``speech_hold_ms`` of the lips opening or closing by
``speech_level`` (AU25), rises and held levels alike.
Fast head rotation (pose_r_rad speed above ``max_rotation_rad_s``) gates new starts for
``motion_hold_ms`` and freezes the noise estimate. Micro (< 500 ms) versus macro is left to
the consumer, from ``offset_ms - onset_ms``. Cost: a few small numpy ops per frame per face.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np

from microemo.config import SpottingConfig
from microemo.types import AU_INDEX, AU_NAMES, FLOW_AUS, MOUTH_FLOW_AUS, AUFrame

logger = logging.getLogger(__name__)

N_AU = len(AU_NAMES)
_NEVER_ALONE = (25, 26, 45)
CARRY_AU = np.array([n not in _NEVER_ALONE for n in (int(a[2:]) for a in AU_NAMES)])
# channels: the 19 AU intensities, then the optical-flow motion of FLOW_AUS (AUFrame.motion)
_FLOW = np.array([AU_INDEX[int(a[2:])] for a in FLOW_AUS])
CH_AU = np.concatenate([np.arange(N_AU), _FLOW])  # the AU each channel belongs to
N_CH = len(CH_AU)
CARRY = CARRY_AU[CH_AU]
_LIDS = np.array([int(a[2:]) in (5, 6, 7) for a in AU_NAMES])[CH_AU]
_BLINK = AU_INDEX[45]
_LIPS = AU_INDEX[25]
# the speech hold covers the intensities only: the mouth's flow channels are already what
# this face's articulation does not explain (vision.mouth)
_SPEECH = np.array([int(a[2:]) in (10, 14, 15, 17, 20, 23, 24, 28) for a in AU_NAMES])[CH_AU]
_SPEECH[N_AU:] = False
# A mouth flow channel reads at most 5 (vision.mouth), and its running noise grows with every
# expression it misses (a few a second while the face talks): past noise 0.8 the bar
# z_on * noise went over 5 and no smile could start an episode again. Its bar stops at
# 90 % of the scale, 0.018 face widths that this face's articulation does not explain.
MOUTH_BAR_MAX = 4.5
_MOUTH_FLOW = np.isin(np.arange(N_CH), [N_AU + FLOW_AUS.index(a) for a in MOUTH_FLOW_AUS])
N_SLOTS = 25  # baseline ring: slots of baseline_window_ms / N_SLOTS
N_HIST = 256  # recent (t, rise) rows for backdating the onset
MOTION_SPAN_MS = 50.0  # head rotation speed is measured over at least this


@dataclass
class Spot:
    phase: str  # start | apex | end
    face_id: int
    onset_ms: float
    apex_ms: float | None = None
    offset_ms: float | None = None
    apex_aus: dict[str, float] = field(default_factory=dict)


class _Run:
    """When the current run of frames that meet a condition began (inf: not in one)."""

    __slots__ = ("since",)

    def __init__(self) -> None:
        self.since = math.inf

    def held(self, ok: bool, t: float, ms: float) -> bool:
        """Whether the condition (``ok`` this frame) has held for ``ms``."""
        if not ok:
            self.since = math.inf
            return False
        self.since = min(self.since, t)
        return t - self.since >= ms

    def reset(self) -> None:
        self.since = math.inf


@dataclass
class _Episode:
    onset_ms: float
    lead: int  # channel that started it (its AU: CH_AU[lead])
    peak: float
    peak_ms: float
    peak_rise: np.ndarray
    carriers: np.ndarray  # bool, AUs that crossed their thresholds during the episode
    apex_sent: bool = False
    sustained: bool = False  # started by a held expression, judged on level, not rise


class _Face:
    def __init__(self, t_ms: float, noise_init: float) -> None:
        self.first_ms = t_ms
        self.last_ms = t_ms
        self.smooth: np.ndarray | None = None
        self.slots = np.full((N_SLOTS, N_CH), np.inf, np.float32)
        self.slot_end = -math.inf
        self.slot_i = 0
        self.frozen: np.ndarray | None = None
        self.var = np.full(N_CH, noise_init**2, np.float32)
        self.learned_ms = 0.0
        self.noise_n = 0  # next history row to learn the noise from
        self.pose: np.ndarray | None = None
        self.pose_ref: np.ndarray | None = None
        self.pose_ref_ms = t_ms
        self.gate_until = -math.inf
        self.blink_until = -math.inf
        self.speech_until = -math.inf
        self.lips: tuple[float, float] | None = None  # (t_ms, AU25) at the last lips check
        self.crossing = _Run()  # a rise above the start thresholds
        self.holding = _Run()  # a held expression's level above hold_on
        self.hist_t = np.zeros(N_HIST, np.float64)
        self.hist_r = np.zeros((N_HIST, N_CH), np.float32)
        self.hist_p = np.zeros((N_HIST, 3), np.float32)
        self.hist_n = 0
        self.ep: _Episode | None = None


class Spotter:
    """Stage: AUFrame -> list[Spot]. Causal; lag is ``confirm_ms`` at the start and the
    fall to ``apex_drop``/``off_threshold`` at apex and end. One state per face id; call
    ``close_face`` when a face is gone (its open episode is ended there)."""

    def __init__(self, config: SpottingConfig) -> None:
        self.config = config
        self._faces: dict[int, _Face] = {}

    def update(self, au: AUFrame) -> list[Spot]:
        st = self._faces.get(au.face_id)
        if st is None:
            st = self._faces[au.face_id] = _Face(au.t_ms, self.config.noise_init)
        rise = self._rise(st, au)
        if st.ep is None:
            return self._idle(st, au, rise)
        return self._active(st, au, rise)

    def close_face(self, face_id: int, t_ms: float) -> list[Spot]:
        """The face is gone (noticed at ``t_ms``): its open episode ends where the face was
        last seen, not when its absence was noticed."""
        st = self._faces.pop(face_id, None)
        if st is None or st.ep is None:
            return []
        return self._end(st, face_id, min(t_ms, st.last_ms))

    # -- signal ------------------------------------------------------------------------
    def _rise(self, st: _Face, au: AUFrame) -> np.ndarray:
        c = self.config
        t = au.t_ms
        dt = max(t - st.last_ms, 0.0)
        x = np.zeros(N_CH, np.float32)
        x[:N_AU] = au.intensity
        if au.motion is not None:
            x[N_AU:] = au.motion[_FLOW]
        if st.smooth is None:
            st.smooth = x.copy()
        else:
            a = 1.0 - math.exp(-dt / c.smooth_ms) if c.smooth_ms > 0 else 1.0
            st.smooth += np.float32(a) * (x - st.smooth)
        xs = st.smooth
        if st.frozen is not None:
            base = st.frozen
        else:
            base = st.slots.min(0)
            base = np.where(np.isfinite(base), base, xs)
        # the ring stores what the face would show without the episode
        stored = np.minimum(xs, base) if st.ep is not None else xs
        if t >= st.slot_end:
            st.slot_i = (st.slot_i + 1) % N_SLOTS
            st.slots[st.slot_i] = stored
            st.slot_end = t + c.baseline_window_ms / N_SLOTS
        else:
            np.minimum(st.slots[st.slot_i], stored, out=st.slots[st.slot_i])
        rise = np.maximum(xs - base, 0.0)
        self._motion(st, au, t)
        if x[_BLINK] >= c.blink_level:
            st.blink_until = t + c.blink_hold_ms
        self._speech(st, float(x[_LIPS]), t)
        i = st.hist_n % N_HIST
        st.hist_t[i] = t
        st.hist_r[i] = rise
        if st.pose is not None:
            st.hist_p[i] = st.pose
        st.hist_n += 1
        self._learn_noise(st, t, dt)
        st.last_ms = t
        return rise

    def _learn_noise(self, st: _Face, t: float, dt: float) -> None:
        """Running RMS of each AU's rise, learned ``noise_delay_ms`` late from idle frames:
        a bump that is about to start an episode never raises its own bar, and rows that
        an episode or a head turn covered are dropped."""
        c = self.config
        if st.ep is not None or t < st.gate_until:
            st.noise_n = st.hist_n
            return
        st.noise_n = max(st.noise_n, st.hist_n - N_HIST)
        while st.noise_n < st.hist_n:
            i = st.noise_n % N_HIST
            if t - st.hist_t[i] < c.noise_delay_ms:
                break
            # a plain mean at first (the prior weighs noise_prior_ms), then a running one
            st.learned_ms += dt
            b = max(dt / (st.learned_ms + c.noise_prior_ms), 1.0 - math.exp(-dt / c.noise_tau_ms))
            cap = np.minimum(c.noise_clip * np.sqrt(st.var), c.noise_cap)
            st.var += np.float32(b) * (np.minimum(st.hist_r[i], cap) ** 2 - st.var)
            st.noise_n += 1

    def _speech(self, st: _Face, lips: float, t: float) -> None:
        """Lips opening or closing by ``speech_level`` within ``MOTION_SPAN_MS`` or more
        (so fast sources compare like slow ones) hold the speech AUs back."""
        if st.lips is None or t - st.lips[0] >= MOTION_SPAN_MS:
            if st.lips is not None and abs(lips - st.lips[1]) >= self.config.speech_level:
                st.speech_until = t + self.config.speech_hold_ms
            st.lips = (t, lips)

    def _motion(self, st: _Face, au: AUFrame, t: float) -> None:
        """Rotation speed over >= MOTION_SPAN_MS, so pose jitter between frames of a fast
        source (or repeated frames) does not read as a head turn."""
        pose = np.asarray(au.face.pose_r_rad, np.float32)
        st.pose = pose
        if st.pose_ref is None:
            st.pose_ref, st.pose_ref_ms = pose, t
            return
        span = t - st.pose_ref_ms
        if span < MOTION_SPAN_MS:
            return
        speed = float(np.abs(pose - st.pose_ref).max()) * 1000.0 / span
        if speed > self.config.max_rotation_rad_s:
            st.gate_until = t + self.config.motion_hold_ms
        st.pose_ref, st.pose_ref_ms = pose, t

    def _active_mask(
        self, st: _Face, rise: np.ndarray, t: float, level: float, z: float
    ) -> np.ndarray:
        c = self.config
        noise = np.maximum(np.sqrt(st.var), c.noise_floor)
        bar = np.where(_MOUTH_FLOW, np.minimum(z * noise, MOUTH_BAR_MAX), z * noise)
        mask: np.ndarray = CARRY & (rise >= level) & (rise >= bar)
        if t < st.blink_until:
            mask &= ~_LIDS
        if t < st.speech_until:
            mask &= ~_SPEECH
        return mask

    # -- state machine -----------------------------------------------------------------
    def _idle(self, st: _Face, au: AUFrame, rise: np.ndarray) -> list[Spot]:
        out = self._rising(st, au, rise)
        if out or st.ep is not None or not self.config.hold_enabled:
            return out
        return self._held(st, au)

    def _held(self, st: _Face, au: AUFrame) -> list[Spot]:
        """A macro expression held from before the local baseline could see it rise (a face
        that enters smiling, a long frown): its level against the face's own neutral stays
        at ``hold_on`` for ``hold_ms``. Ended by level, not by rise."""
        c, t = self.config, au.t_ms
        assert st.smooth is not None
        level = np.where(CARRY_AU, st.smooth[:N_AU], 0.0)
        mask = level >= c.hold_on
        if t < st.speech_until:
            mask &= ~_SPEECH[:N_AU]
        ok = au.baseline_ready and t >= st.gate_until and bool(mask.any())
        if not st.holding.held(ok, t, c.hold_ms):
            return []
        lead = int(np.argmax(np.where(mask, level, -1.0)))
        level2 = np.zeros(N_CH, np.float32)
        level2[:N_AU] = level
        mask2 = np.zeros(N_CH, bool)
        mask2[:N_AU] = mask
        onset = st.holding.since
        st.holding.reset()
        st.ep = _Episode(onset, lead, float(level[lead]), t, level2, mask2, sustained=True)
        return [Spot("start", au.face_id, onset, apex_aus=self._aus(level2, mask2))]

    def _rising(self, st: _Face, au: AUFrame, rise: np.ndarray) -> list[Spot]:
        c, t = self.config, au.t_ms
        warm = au.baseline_ready and t - st.first_ms >= c.warmup_ms
        mask = self._active_mask(st, rise, t, c.on_threshold, c.z_on)
        if not st.crossing.held(warm and t >= st.gate_until and bool(mask.any()), t, c.confirm_ms):
            return []
        lead = int(np.argmax(np.where(mask, rise, -1.0)))
        onset, turned = self._backdate(st, lead, t)
        if turned > c.max_pose_change_rad:
            # the head turned while the AU rose: the estimator's pose leakage, not a face
            st.gate_until = t + c.motion_hold_ms
            st.crossing.reset()
            return []
        st.frozen = st.slots.min(0)
        st.ep = _Episode(onset, lead, float(rise[lead]), t, rise.copy(), mask.copy())
        return [Spot("start", au.face_id, onset, apex_aus=self._aus(st.ep.peak_rise, mask))]

    def _backdate(self, st: _Face, lead: int, t: float) -> tuple[float, float]:
        """Onset: the last recent frame where the lead AU was still near its baseline;
        also how far the head turned (largest pose angle change, rad) since then."""
        c = self.config
        floor = c.onset_fraction * c.on_threshold
        n = min(st.hist_n, N_HIST)
        onset, i = t, (st.hist_n - 1) % N_HIST
        now = st.hist_p[i]
        for k in range(1, n + 1):
            i = (st.hist_n - k) % N_HIST
            if t - st.hist_t[i] > c.max_onset_lookback_ms:
                break
            onset = float(st.hist_t[i])
            if st.hist_r[i, lead] <= floor:
                break
        turned = float(np.abs(now - st.hist_p[i]).max())
        return onset, turned

    def _active(self, st: _Face, au: AUFrame, rise: np.ndarray) -> list[Spot]:
        c, t = self.config, au.t_ms
        ep = st.ep
        assert ep is not None
        if ep.sustained:
            assert st.smooth is not None
            rise = np.zeros(N_CH, np.float32)
            rise[:N_AU] = np.where(CARRY_AU, st.smooth[:N_AU], 0.0)
            ep.carriers[:N_AU] |= rise[:N_AU] >= c.hold_on
            still = (rise >= c.hold_off) & ep.carriers
        else:
            if t - ep.onset_ms <= c.join_ms:  # AUs rising together with the lead join it
                ep.carriers |= self._active_mask(st, rise, t, c.on_threshold, c.z_on)
            off = max(c.off_threshold, c.end_fraction * ep.peak)
            still = self._active_mask(st, rise, t, off, c.z_off) & ep.carriers
        level = float(rise[ep.carriers].max())
        over = t - ep.onset_ms >= c.max_duration_ms  # this frame is past the episode
        out: list[Spot] = []
        if level > ep.peak and not over:
            ep.peak, ep.peak_ms, ep.peak_rise = level, t, rise.copy()
        elif not ep.apex_sent and level <= c.apex_drop * ep.peak:
            ep.apex_sent = True
            out.append(
                Spot(
                    "apex",
                    au.face_id,
                    ep.onset_ms,
                    ep.peak_ms,
                    None,
                    self._aus(ep.peak_rise, ep.carriers),
                )
            )
        if not still.any() or over:
            out.extend(self._end(st, au.face_id, t))
        return out

    def _end(self, st: _Face, face_id: int, t: float) -> list[Spot]:
        """End the open episode at ``t``, or at ``max_duration_ms`` when that comes first (a
        frame after a gap in the stream can be far past it)."""
        ep = st.ep
        assert ep is not None
        t = min(t, ep.onset_ms + self.config.max_duration_ms)
        st.ep, st.frozen = None, None
        st.crossing.reset()
        aus = self._aus(ep.peak_rise, ep.carriers)
        out = []
        if not ep.apex_sent:
            out.append(Spot("apex", face_id, ep.onset_ms, ep.peak_ms, None, aus))
        out.append(Spot("end", face_id, ep.onset_ms, ep.peak_ms, t, aus))
        return out

    def _aus(self, rise: np.ndarray, carriers: np.ndarray) -> dict[str, float]:
        """AUs that carried the episode (by intensity or by motion) with their rise at the
        apex (the larger of the two), strongest first."""
        c = self.config
        r = np.zeros(N_AU, np.float32)
        np.maximum.at(r, CH_AU, np.where(carriers, rise, 0.0))
        carried = np.zeros(N_AU, bool)
        np.logical_or.at(carried, CH_AU, carriers)
        keep = carried & (r >= c.apex_au_fraction * float(r[carried].max()))
        order = np.argsort(-r)
        return {AU_NAMES[i]: round(float(r[i]), 3) for i in order if keep[i]}
