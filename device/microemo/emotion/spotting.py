"""Spotting: onset, apex and offset of expression episodes in each face's AU series.

Per face and per channel (the 19 AU intensities and the optical-flow motion of
``types.FLOW_AUS``: ``emotion.spot_signal``), the level is smoothed over ``smooth_ms`` and
detrended against a local baseline: the lowest value seen over the last
``baseline_window_ms``. The rise above it is compared with that channel's own running noise,
so an AU that moves with speech on this face needs a bigger bump than one that is usually
still. An episode starts when some carrying channel is at least ``on_threshold`` above its
baseline and ``z_on`` times its noise for ``confirm_ms``; its onset is backdated to where the
rise began, the apex (the first frame within ``APEX_WITHIN`` of the peak) is sent once the
level has fallen to ``apex_drop`` of the peak, and the end once it is back under
``off_threshold``.

Episodes overlap (``spotting.overlap``): each face region (brows, eyes, nose, mouth) has its
own, so a brief smile while the brows hold a raise is an episode of its own; regions that
rise within ``join_ms`` of an episode's onset join it (AU6+AU12, AU1+AU2+AU4, AU9+AU10).
On a region that an episode has held for ``NEST_AFTER`` baseline windows, a brief rise
above the held plateau (the ``plain`` rise, against the last window's lowest level) is an
episode of its own too, ``within`` the held one: a suppressed smile on a smiling face.
With ``overlap`` off the face is one region and nothing nests: one episode at a time.

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
from dataclasses import dataclass, field

import numpy as np

from microemo.config import SpottingConfig
from microemo.emotion.spot_signal import (
    CARRY_AU,
    CH_AU,
    CH_REGION,
    N_AU,
    N_CH,
    REGIONS,
    SPEECH,
    Run,
    Signal,
)
from microemo.types import AU_NAMES, AUFrame

logger = logging.getLogger(__name__)

# A brief rise is looked for on top of a held episode once the episode is this many baseline
# windows old: the plain baseline (the lowest level of the last window) then sees the held
# plateau, not the rise that led to it, so the held expression does not spot itself again.
NEST_AFTER = 2.0
# The apex is the first frame within this fraction of the episode's peak level: on a held
# plateau the highest frame is any of them by a few hundredths of a point (and another one
# on another board's arithmetic); the first one near the top is the moment it got there.
APEX_WITHIN = 0.05


@dataclass
class Spot:
    phase: str  # start | apex | end
    face_id: int
    onset_ms: float
    apex_ms: float | None = None
    offset_ms: float | None = None
    apex_aus: dict[str, float] = field(default_factory=dict)
    key: int = 0  # the face's episode number: one episode's start, apex and end share it
    regions: tuple[str, ...] = ()  # the face regions whose channels carried it
    within: int | None = None  # the key of the held episode it rose on top of


@dataclass
class _Episode:
    key: int
    onset_ms: float
    peak: float  # the highest level of its carriers so far (the lead's at the start)
    carriers: np.ndarray  # bool per channel: those that crossed their thresholds in it
    regions: np.ndarray  # bool per region: the regions its carriers are in
    apex_sent: bool = False
    sustained: bool = False  # started by a held expression, judged on level, not rise
    within: int | None = None  # nested: on top of this held episode, judged on plain rise
    # its frames so far (time, level, every channel's rise), for the apex (APEX_WITHIN)
    trail_t: list[float] = field(default_factory=list)
    trail_v: list[float] = field(default_factory=list)
    trail_r: list[np.ndarray] = field(default_factory=list)
    apex_i: int = 0

    @property
    def peak_ms(self) -> float:
        """The apex: the first frame within ``APEX_WITHIN`` of the peak."""
        return self.trail_t[self.apex_i]

    @property
    def peak_rise(self) -> np.ndarray:
        """Every channel's rise at the apex (the AUs it names)."""
        return self.trail_r[self.apex_i]


class _Face:
    def __init__(self, config: SpottingConfig, t_ms: float, ch_region: np.ndarray) -> None:
        self.sig = Signal(config, t_ms, ch_region, plain=config.overlap)
        n_reg = int(ch_region.max()) + 1
        self.eps: list[_Episode] = []  # open episodes, oldest first
        self.crossing = [Run() for _ in range(n_reg)]  # a rise above the start thresholds
        self.nesting = [Run() for _ in range(n_reg)]  # the same above a held plateau
        self.holding = [Run() for _ in range(n_reg)]  # a held level above hold_on
        self.next_key = 0


class Spotter:
    """Stage: AUFrame -> list[Spot]. Causal; lag is ``confirm_ms`` at the start and the
    fall to ``apex_drop``/``off_threshold`` at apex and end. One state per face id, episodes
    per face region (``spotting.overlap``); call ``close_face`` when a face is gone (its
    open episodes are ended there)."""

    def __init__(self, config: SpottingConfig) -> None:
        self.config = config
        self._faces: dict[int, _Face] = {}
        self._ch_region = CH_REGION if config.overlap else np.zeros(N_CH, np.int64)
        self._au_region = self._ch_region[:N_AU]
        self._names = REGIONS if config.overlap else ("face",)
        self._n_reg = len(self._names)
        self._reg_ch = [self._ch_region == r for r in range(self._n_reg)]

    def update(self, au: AUFrame) -> list[Spot]:
        st = self._faces.get(au.face_id)
        if st is None:
            st = self._faces[au.face_id] = _Face(self.config, au.t_ms, self._ch_region)
        free = ~self._busy(st)
        rise, plain = st.sig.update(au, ~free, self._quiet(st, au.t_ms, ~free))
        out: list[Spot] = []
        for ep in list(st.eps):
            out += self._active(st, ep, au, plain if ep.within is not None else rise, free)
        free &= ~self._busy(st)  # also those an episode joined this frame
        out += self._rising(st, au, rise, free)
        if self.config.overlap:
            out += self._nest(st, au, plain)
        return out

    def close_face(self, face_id: int, t_ms: float) -> list[Spot]:
        """The face is gone (noticed at ``t_ms``): its open episodes end where the face was
        last seen, not when its absence was noticed."""
        st = self._faces.pop(face_id, None)
        if st is None:
            return []
        out: list[Spot] = []
        for ep in list(st.eps):
            out += self._end(st, ep, face_id, min(t_ms, st.sig.last_ms))
        return out

    def state(self, face_id: int) -> _Face | None:
        """A face's signal and open episodes, read-only (``spot-eval``'s missed episodes)."""
        return self._faces.get(face_id)

    def _busy(self, st: _Face) -> np.ndarray:
        busy = np.zeros(self._n_reg, bool)
        for ep in st.eps:
            busy |= ep.regions
        return busy

    def _quiet(self, st: _Face, t: float, busy: np.ndarray) -> np.ndarray:
        """Regions whose noise learns nothing now: those an episode holds, and every region
        while an episode is in its first baseline window (an expression moves more than the
        channels that carried it: AU4 drags the brows and wrinkles the nose; learned as the
        brows' noise, that bump kept every later frown under the bar)."""
        young = any(t - ep.onset_ms < self.config.baseline_window_ms for ep in st.eps)
        return np.ones_like(busy) if young else busy

    def _regions_of(self, channels: np.ndarray) -> np.ndarray:
        return np.bincount(self._ch_region[channels], minlength=self._n_reg) > 0

    # -- starts ------------------------------------------------------------------------
    def _rising(self, st: _Face, au: AUFrame, rise: np.ndarray, free: np.ndarray) -> list[Spot]:
        """A rise in a free region for ``confirm_ms`` starts an episode there (with every
        free region rising with it); otherwise a held level may start one."""
        c, t, sig = self.config, au.t_ms, st.sig
        warm = au.baseline_ready and t - sig.first_ms >= c.warmup_ms and t >= sig.gate_until
        mask = sig.active(rise, t, c.on_threshold, c.z_on) & free[self._ch_region]
        crossing = self._regions_of(mask)
        ready = np.array(
            [
                free[r] and st.crossing[r].held(warm and crossing[r], t, c.confirm_ms)
                for r in range(self._n_reg)
            ]
        )
        if ready.any():
            lead = int(np.argmax(np.where(mask & ready[self._ch_region], rise, -1.0)))
            onset, turned = sig.backdate(lead, t, plain=False)
            if turned <= c.max_pose_change_rad:
                regions = self._regions_of(mask)
                for r in np.flatnonzero(regions):
                    st.crossing[r].reset()
                sig.freeze(regions)
                # began with an open episode (the later crossing of a slower region): its own
                joined = next((e for e in st.eps if self._began_with(e, onset)), None)
                if joined is not None:
                    joined.carriers |= mask
                    joined.regions |= regions
                    return []
                ep = self._open(st, onset, lead, rise, mask, regions, t)
                return [self._spot("start", au.face_id, ep, aus=self._aus(rise, mask))]
            # the head turned while the AU rose: the estimator's pose leakage, not a face
            sig.gate_until = t + c.motion_hold_ms
            for r in np.flatnonzero(ready):
                st.crossing[r].reset()
        return self._held(st, au, free) if c.hold_enabled else []

    def _began_with(self, ep: _Episode, onset: float) -> bool:
        """Whether a rise with this onset began with ``ep`` (a rise episode, not nested)."""
        together = abs(onset - ep.onset_ms) <= self.config.join_ms
        return together and ep.within is None and not ep.sustained

    def _held(self, st: _Face, au: AUFrame, free: np.ndarray) -> list[Spot]:
        """A macro expression held from before the local baseline could see it rise (a face
        that enters smiling, a long frown): its level against the face's own neutral stays
        at ``hold_on`` for ``hold_ms`` in a free region. Ended by level, not by rise; a held
        region joins the face's held episode when one is open (one held face, one episode)."""
        c, t, sig = self.config, au.t_ms, st.sig
        assert sig.smooth is not None
        level = np.where(CARRY_AU, sig.smooth[:N_AU], 0.0)
        mask = (level >= c.hold_on) & free[self._au_region]
        if t < sig.speech_until:
            mask &= ~SPEECH[:N_AU]
        on = np.bincount(self._au_region[mask], minlength=self._n_reg) > 0
        on &= free & au.baseline_ready
        if t < sig.gate_until:
            # a head turn pauses a held level, it does not restart it: a smile held through
            # the turn keeps its onset (restarted, the held face was two episodes, split
            # where the turn's gate happened to end). A level first seen in a turn waits.
            for r in np.flatnonzero(~on):
                st.holding[r].reset()
            return []
        ready = np.array([st.holding[r].held(on[r], t, c.hold_ms) for r in range(self._n_reg)])
        if not ready.any():
            return []
        onset = min(st.holding[r].since for r in np.flatnonzero(ready))
        for r in np.flatnonzero(ready):
            st.holding[r].reset()
        mask2 = np.zeros(N_CH, bool)
        mask2[:N_AU] = mask & ready[self._au_region]
        held = next((e for e in st.eps if e.sustained), None)
        if held is not None:
            held.carriers |= mask2
            held.regions |= ready
            return []
        level2 = np.zeros(N_CH, np.float32)
        level2[:N_AU] = level
        lead = int(np.argmax(np.where(mask2, level2, -1.0)))
        ep = self._open(st, onset, lead, level2, mask2, ready, t, sustained=True)
        return [self._spot("start", au.face_id, ep, aus=self._aus(level2, mask2))]

    def _nest(self, st: _Face, au: AUFrame, plain: np.ndarray) -> list[Spot]:
        """A brief rise above the plateau of a region an episode has held for a while."""
        c, t, sig = self.config, au.t_ms, st.sig
        out: list[Spot] = []
        active: np.ndarray | None = None
        for r in range(self._n_reg):
            held = next((e for e in st.eps if e.within is None and e.regions[r]), None)
            if held is None:
                st.nesting[r].reset()
                continue
            nested = any(e.within is not None and e.regions[r] for e in st.eps)
            old = t - held.onset_ms >= NEST_AFTER * c.baseline_window_ms
            ok = old and not nested and t >= sig.gate_until
            if ok:
                if active is None:  # once a frame, and only while a region is held
                    active = sig.active(plain, t, c.on_threshold, c.z_on)
                mask = active & self._reg_ch[r]
                ok = bool(mask.any())
            if not st.nesting[r].held(ok, t, c.confirm_ms):
                continue
            st.nesting[r].reset()
            lead = int(np.argmax(np.where(mask, plain, -1.0)))
            onset, turned = sig.backdate(lead, t, plain=True)
            if turned > c.max_pose_change_rad:
                continue
            regions = np.arange(self._n_reg) == r
            ep = self._open(st, onset, lead, plain, mask, regions, t, within=held.key)
            out.append(self._spot("start", au.face_id, ep, aus=self._aus(plain, mask)))
        return out

    def _open(
        self,
        st: _Face,
        onset: float,
        lead: int,
        rise: np.ndarray,
        mask: np.ndarray,
        regions: np.ndarray,
        t: float,
        sustained: bool = False,
        within: int | None = None,
    ) -> _Episode:
        peak = float(rise[lead])
        ep = _Episode(
            st.next_key, onset, peak, mask.copy(), regions.copy(),
            sustained=sustained, within=within, trail_t=[t], trail_v=[peak], trail_r=[rise.copy()],
        )  # fmt: skip
        st.next_key += 1
        st.eps.append(ep)
        return ep

    # -- open episodes -----------------------------------------------------------------
    def _active(
        self, st: _Face, ep: _Episode, au: AUFrame, rise: np.ndarray, free: np.ndarray
    ) -> list[Spot]:
        c, t = self.config, au.t_ms
        if ep.sustained:
            assert st.sig.smooth is not None
            rise = np.zeros(N_CH, np.float32)
            rise[:N_AU] = np.where(CARRY_AU, st.sig.smooth[:N_AU], 0.0)
            ep.carriers[:N_AU] |= (rise[:N_AU] >= c.hold_on) & ep.regions[self._au_region]
            still = (rise >= c.hold_off) & ep.carriers
        else:
            if t - ep.onset_ms <= c.join_ms:  # channels rising together with the lead join it
                self._join(st, ep, st.sig.active(rise, t, c.on_threshold, c.z_on), free)
            off = max(c.off_threshold, c.end_fraction * ep.peak)
            still = st.sig.active(rise, t, off, c.z_off) & ep.carriers
        level = float(rise[ep.carriers].max())
        over = t - ep.onset_ms >= c.max_duration_ms  # this frame is past the episode
        out: list[Spot] = []
        if not over:
            ep.trail_t.append(t)
            ep.trail_v.append(level)
            ep.trail_r.append(rise.copy())
        if level > ep.peak and not over:
            ep.peak = level
            # the apex, and the AUs named there, are that frame's, not the peak's: a region
            # that joined later and peaked there was not at that level at the apex
            while ep.trail_v[ep.apex_i] < (1.0 - APEX_WITHIN) * level:
                ep.apex_i += 1
        elif not ep.apex_sent and level <= c.apex_drop * ep.peak:
            ep.apex_sent = True
            aus = self._aus(ep.peak_rise, ep.carriers)
            out.append(self._spot("apex", au.face_id, ep, ep.peak_ms, aus=aus))
        if not still.any() or over:
            out.extend(self._end(st, ep, au.face_id, t))
        return out

    def _join(self, st: _Face, ep: _Episode, mask: np.ndarray, free: np.ndarray) -> None:
        """Channels of the episode's own regions, or of free ones (not for a nested episode:
        it stays in its region), that rise with it join it; a free region joined is its."""
        own = ep.regions if ep.within is not None else ep.regions | free
        mask = mask & own[self._ch_region]
        new = self._regions_of(mask) & ~ep.regions
        if new.any():
            st.sig.freeze(new)
            ep.regions |= new
            free &= ~new
        ep.carriers |= mask

    def _end(self, st: _Face, ep: _Episode, face_id: int, t: float) -> list[Spot]:
        """End ``ep`` at ``t``, or at ``max_duration_ms`` when that comes first (a frame
        after a gap in the stream can be far past it)."""
        t = min(t, ep.onset_ms + self.config.max_duration_ms)
        st.eps.remove(ep)
        if ep.within is None:
            st.sig.thaw(ep.regions)
            for r in np.flatnonzero(ep.regions):
                st.crossing[r].reset()
        aus = self._aus(ep.peak_rise, ep.carriers)
        out = []
        if not ep.apex_sent:
            out.append(self._spot("apex", face_id, ep, ep.peak_ms, aus=aus))
        out.append(self._spot("end", face_id, ep, ep.peak_ms, t, aus=aus))
        return out

    def _spot(
        self,
        phase: str,
        face_id: int,
        ep: _Episode,
        apex_ms: float | None = None,
        offset_ms: float | None = None,
        aus: dict[str, float] | None = None,
    ) -> Spot:
        regions = tuple(n for n, on in zip(self._names, ep.regions, strict=True) if on)
        return Spot(
            phase, face_id, ep.onset_ms, apex_ms, offset_ms, aus or {}, ep.key, regions, ep.within
        )

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
