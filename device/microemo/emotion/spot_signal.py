"""The spotter's signal: each face's channels smoothed, detrended and measured against noise.

Channels: the 19 AU intensities and, when the pipeline measures optical flow
(``spotting.flow``), the recent motion of ``types.FLOW_AUS`` (``AUFrame.motion``). Each
channel belongs to a face region (brows, eyes, nose, mouth: ``REGIONS``); the spotter keeps
an episode per region, so the regions a face's open episodes hold ("busy") are passed in
every frame and change what the signal does for their channels only:

- ``rise``: the smoothed level above the local baseline, the lowest level of the last
  ``baseline_window_ms`` (fixed time slots, so 200 fps costs what 30 fps does). A busy
  region's channels feed the ring the baseline instead of the episode, and a region that an
  episode started by rising holds is judged against the baseline frozen at its start, so a
  macro-expression longer than the window does not become the new neutral.
- ``plain``: the smoothed level above the lowest level of the last ``baseline_window_ms``
  as it was (a second ring, never held back): during a held expression, what rises above
  its plateau. The spotter looks for brief expressions on top of a held one with it.
- ``var``: each channel's running noise (RMS of its rise), learned ``noise_delay_ms`` late
  from frames where its region was idle and the head still.
"""

from __future__ import annotations

import math

import numpy as np

from microemo.config import SpottingConfig
from microemo.types import AU_INDEX, AU_NAMES, FLOW_AUS, MOUTH_FLOW_AUS, AUFrame

N_AU = len(AU_NAMES)
_NEVER_ALONE = (25, 26, 45)
CARRY_AU = np.array([n not in _NEVER_ALONE for n in (int(a[2:]) for a in AU_NAMES)])
# channels: the 19 AU intensities, then the optical-flow motion of FLOW_AUS (AUFrame.motion)
_FLOW = np.array([AU_INDEX[int(a[2:])] for a in FLOW_AUS])
CH_AU = np.concatenate([np.arange(N_AU), _FLOW])  # the AU each channel belongs to
N_CH = len(CH_AU)
CARRY = CARRY_AU[CH_AU]
LIDS = np.array([int(a[2:]) in (5, 6, 7) for a in AU_NAMES])[CH_AU]
BLINK = AU_INDEX[45]
LIPS = AU_INDEX[25]
# the speech hold covers the intensities only: the mouth's flow channels are already what
# this face's articulation does not explain (vision.mouth)
SPEECH = np.array([int(a[2:]) in (10, 14, 15, 17, 20, 23, 24, 28) for a in AU_NAMES])[CH_AU]
SPEECH[N_AU:] = False
# A mouth flow channel reads at most 5 (vision.mouth), and its running noise grows with every
# expression it misses (a few a second while the face talks): past noise 0.8 the bar
# z_on * noise went over 5 and no smile could start an episode again. Its bar stops at
# 90 % of the scale, 0.018 face widths that this face's articulation does not explain.
# The chin's stops at 3.0 (0.012 face widths): read against the jaw line as well as the lips
# (vision.mouth) it answers a chin raise about twice as clearly as the corners answer theirs
# (offline signal-to-noise, median 10.5 against 4.9 and 4.0), and at 4.5 the first chin
# raises on a new face (3-4) were missed and taught its noise the cascade above.
MOUTH_BAR_MAX = 4.5
CHIN_BAR_MAX = 3.0
MOUTH_FLOW = np.isin(np.arange(N_CH), [N_AU + FLOW_AUS.index(a) for a in MOUTH_FLOW_AUS])
_BAR_MAX = np.where(MOUTH_FLOW, MOUTH_BAR_MAX, np.inf).astype(np.float32)
_BAR_MAX[N_AU + FLOW_AUS.index("AU17")] = CHIN_BAR_MAX
# Face regions, each with its own episode: what moves the brows rarely moves the mouth, and a
# brief smile while the brows hold a raise is an expression of its own. AU6 (the cheeks)
# goes with the mouth: a smile lifts them, and AU6+AU12 split in two episodes was one smile.
REGIONS = ("brows", "eyes", "nose", "mouth")
_REGION_AUS = ((1, 2, 4), (5, 7, 45), (9,), (6, 10, 12, 14, 15, 17, 20, 23, 24, 25, 26, 28))
AU_REGION = np.array(
    [next(r for r, s in enumerate(_REGION_AUS) if int(a[2:]) in s) for a in AU_NAMES]
)
CH_REGION = AU_REGION[CH_AU]
N_REG = len(REGIONS)
N_SLOTS = 25  # baseline ring: slots of baseline_window_ms / N_SLOTS
N_HIST = 256  # recent (t, rise) rows for backdating the onset
MOTION_SPAN_MS = 50.0  # head rotation speed is measured over at least this


class Run:
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


class Signal:
    """One face's channels: levels, baselines, rises, noise, and the gates (head motion,
    blinks, speech) that say which channels may start an episode now."""

    def __init__(
        self, config: SpottingConfig, t_ms: float, ch_region: np.ndarray, plain: bool = True
    ) -> None:
        self.config = config
        self.ch_region = ch_region  # each channel's region (all 0: one region, the face)
        self.plain = plain  # measure the plain rise (for brief rises on top of held ones)
        self.first_ms = t_ms
        self.last_ms = t_ms
        self.smooth: np.ndarray | None = None
        self.slots = np.full((N_SLOTS, N_CH), np.inf, np.float32)
        self.plain_slots = np.full((N_SLOTS, N_CH), np.inf, np.float32)
        self.slot_end = -math.inf
        self.slot_i = 0
        self.frozen = np.full(N_CH, np.nan, np.float32)  # NaN: that channel's baseline moves
        self.any_frozen = False
        self.var = np.full(N_CH, config.noise_init**2, np.float32)
        self.learned_ms = 0.0
        self.noise_n = 0  # next history row to learn the noise from
        self.pose: np.ndarray | None = None
        self.pose_ref: np.ndarray | None = None
        self.pose_ref_ms = t_ms
        self.gate_until = -math.inf
        self.blink_until = -math.inf
        self.speech_until = -math.inf
        self.lips: tuple[float, float] | None = None  # (t_ms, AU25) at the last lips check
        self.hist_t = np.zeros(N_HIST, np.float64)
        self.hist_r = np.zeros((N_HIST, N_CH), np.float32)
        self.hist_q = np.zeros((N_HIST, N_CH), np.float32)  # plain rises
        self.hist_p = np.zeros((N_HIST, 3), np.float32)
        self.hist_busy = np.zeros((N_HIST, int(ch_region.max()) + 1), bool)
        self.hist_n = 0

    def freeze(self, regions: np.ndarray) -> None:
        """Judge the channels of ``regions`` (bool per region) against their baseline now."""
        ch = regions[self.ch_region]
        base = self.slots.min(0)
        self.frozen[ch] = np.where(np.isfinite(base[ch]), base[ch], 0.0)
        self.any_frozen = True

    def thaw(self, regions: np.ndarray) -> None:
        self.frozen[regions[self.ch_region]] = np.nan
        self.any_frozen = not np.isnan(self.frozen).all()

    def update(
        self, au: AUFrame, busy: np.ndarray, quiet: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """This frame's (rise, plain rise) per channel. ``busy``: bool per region, the regions
        an open episode holds now; ``quiet``: those whose noise must not learn from this
        frame (``busy`` and more: see ``Spotter``)."""
        c, t = self.config, au.t_ms
        dt = max(t - self.last_ms, 0.0)
        x = np.zeros(N_CH, np.float32)
        x[:N_AU] = au.intensity
        if au.motion is not None:
            x[N_AU:] = au.motion[_FLOW]
        if self.smooth is None:
            self.smooth = x.copy()
        else:
            a = 1.0 - math.exp(-dt / c.smooth_ms) if c.smooth_ms > 0 else 1.0
            self.smooth += np.float32(a) * (x - self.smooth)
        xs = self.smooth
        base = self.slots.min(0)
        base = np.where(np.isfinite(base), base, xs)
        if self.any_frozen:
            base = np.where(np.isnan(self.frozen), base, self.frozen)
        rise = np.maximum(xs - base, 0.0)
        held = busy.any()
        q = rise  # the plain rise is only ever read while an episode is open (and 1.2 s old)
        if held and self.plain:
            plain = self.plain_slots.min(0)
            q = np.maximum(xs - np.where(np.isfinite(plain), plain, xs), 0.0)
        # the ring stores what the face would show without its open episodes
        self._store(t, np.where(busy[self.ch_region], np.minimum(xs, base), xs) if held else xs, xs)
        self._motion(au, t)
        if x[BLINK] >= c.blink_level:
            self.blink_until = t + c.blink_hold_ms
        self._speech(float(x[LIPS]), t)
        i = self.hist_n % N_HIST
        self.hist_t[i] = t
        self.hist_r[i] = rise
        self.hist_q[i] = q
        self.hist_busy[i] = quiet
        if quiet.any():  # rows not learned yet: a bump that started an episode teaches nothing
            self.hist_busy[np.arange(self.noise_n, self.hist_n) % N_HIST] |= quiet
        if self.pose is not None:
            self.hist_p[i] = self.pose
        self.hist_n += 1
        self._learn_noise(t, dt, quiet)
        self.last_ms = t
        return rise, q

    def _store(self, t: float, stored: np.ndarray, xs: np.ndarray) -> None:
        if t >= self.slot_end:
            self.slot_i = (self.slot_i + 1) % N_SLOTS
            self.slots[self.slot_i] = stored
            self.plain_slots[self.slot_i] = xs
            self.slot_end = t + self.config.baseline_window_ms / N_SLOTS
        else:
            np.minimum(self.slots[self.slot_i], stored, out=self.slots[self.slot_i])
            np.minimum(self.plain_slots[self.slot_i], xs, out=self.plain_slots[self.slot_i])

    def _learn_noise(self, t: float, dt: float, quiet: np.ndarray) -> None:
        """Running RMS of each channel's rise, learned ``noise_delay_ms`` late: a bump that is
        about to start an episode never raises its own bar. A channel learns nothing from
        rows where its region was quiet (then or now), nor from head turns."""
        c = self.config
        if t < self.gate_until:
            self.noise_n = self.hist_n
            return
        self.noise_n = max(self.noise_n, self.hist_n - N_HIST)
        while self.noise_n < self.hist_n:
            i = self.noise_n % N_HIST
            if t - self.hist_t[i] < c.noise_delay_ms:
                break
            self.noise_n += 1
            busy = self.hist_busy[i] | quiet
            if busy.all():
                continue
            # a plain mean at first (the prior weighs noise_prior_ms), then a running one
            self.learned_ms += dt
            b = max(dt / (self.learned_ms + c.noise_prior_ms), 1.0 - math.exp(-dt / c.noise_tau_ms))
            cap = np.minimum(c.noise_clip * np.sqrt(self.var), c.noise_cap)
            step = np.float32(b) * (np.minimum(self.hist_r[i], cap) ** 2 - self.var)
            if busy.any():  # some regions idle, the others learn nothing from this row
                step[busy[self.ch_region]] = 0.0
            self.var += step

    def _speech(self, lips: float, t: float) -> None:
        """Lips opening or closing by ``speech_level`` within ``MOTION_SPAN_MS`` or more
        (so fast sources compare like slow ones) hold the speech AUs back."""
        if self.lips is None or t - self.lips[0] >= MOTION_SPAN_MS:
            if self.lips is not None and abs(lips - self.lips[1]) >= self.config.speech_level:
                self.speech_until = t + self.config.speech_hold_ms
            self.lips = (t, lips)

    def _motion(self, au: AUFrame, t: float) -> None:
        """Rotation speed over >= MOTION_SPAN_MS, so pose jitter between frames of a fast
        source (or repeated frames) does not read as a head turn."""
        pose = np.asarray(au.face.pose_r_rad, np.float32)
        self.pose = pose
        if self.pose_ref is None:
            self.pose_ref, self.pose_ref_ms = pose, t
            return
        span = t - self.pose_ref_ms
        if span < MOTION_SPAN_MS:
            return
        speed = float(np.abs(pose - self.pose_ref).max()) * 1000.0 / span
        if speed > self.config.max_rotation_rad_s:
            self.gate_until = t + self.config.motion_hold_ms
        self.pose_ref, self.pose_ref_ms = pose, t

    def bar(self, z: float) -> np.ndarray:
        """Each channel's bar: ``z`` times its running noise (at least the floor), no higher
        than the mouth flow channels' ceilings."""
        noise = np.maximum(np.sqrt(self.var), self.config.noise_floor)
        return np.minimum(z * noise, _BAR_MAX)

    def active(self, rise: np.ndarray, t: float, level: float, z: float) -> np.ndarray:
        """Carrying channels at ``level`` and ``z`` times their noise, not held back now."""
        mask: np.ndarray = CARRY & (rise >= level) & (rise >= self.bar(z))
        if t < self.blink_until:
            mask &= ~LIDS
        if t < self.speech_until:
            mask &= ~SPEECH
        return mask

    def backdate(self, lead: int, t: float, plain: bool) -> tuple[float, float]:
        """Onset: the last recent frame where the lead channel was still near its baseline
        (the plateau's, for ``plain``); also how far the head turned (largest pose angle
        change, rad) since then."""
        c = self.config
        floor = c.onset_fraction * c.on_threshold
        hist = self.hist_q if plain else self.hist_r
        n = min(self.hist_n, N_HIST)
        onset, i = t, (self.hist_n - 1) % N_HIST
        now = self.hist_p[i]
        for k in range(1, n + 1):
            i = (self.hist_n - k) % N_HIST
            if t - self.hist_t[i] > c.max_onset_lookback_ms:
                break
            onset = float(self.hist_t[i])
            if hist[i, lead] <= floor:
                break
        turned = float(np.abs(now - self.hist_p[i]).max())
        return onset, turned
