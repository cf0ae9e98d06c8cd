"""Why a generated episode was missed: what the device's spotter saw while it happened.

Each replay (``record.spot_recorded``) can keep, per frame of the first face, every
channel's rise against its bar (the plain rise while an episode holds the channel's region),
whether speech or a head movement held starts back, and which regions an episode held
where no brief rise could start (``Probe``). ``explain`` then gives each missed truth one
reason, first that applies:

- ``mistimed``: a spot that names one of its AUs and began with it (no more than
  ``BEGAN_WITH_MS`` before it) overlaps it, with IoU under 0.5;
- ``no face``: the face was not read while it happened;
- ``under the bar``: none of its AUs' channels reached its bar (``peak``: the highest rise
  over the bar, 1 = at it);
- ``speech``: only channels the speech hold covers crossed, while it held them;
- ``region held``: its channels crossed only while an episode held their region and no rise
  could nest in it (the held episode young, or one already nested);
- ``head moving``: they crossed only while a head movement held every start back;
- ``too brief``: they crossed with nothing holding them back, for less than ``confirm_ms``;
- ``head turned``: they crossed for long enough, but the head had turned by more than
  ``max_pose_change_rad`` since the truth's onset (a start refuses that: the landmarks'
  pose leakage);
- ``no start``: none of these, and no episode began (a rise begun well before the truth,
  or one joined to another region's episode that names none of its AUs).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import numpy as np

from microemo_train.spotting.score import iou
from microemo_train.spotting.warp import base_au

REASONS = (
    "mistimed",
    "no face",
    "under the bar",
    "speech",
    "region held",
    "head moving",
    "too brief",
    "head turned",
    "no start",
)
AFTER_MS = 200.0  # a channel may peak this long after the truth's offset (smoothing, flow)
BEGAN_WITH_MS = 500.0  # a spot that began this much before a truth is another expression


class Probe:
    """Per frame, what the spotter saw of the first face (``see`` after each frame): the AU
    intensities and optical-flow motion it read (``series``: ``spot-eval --channels``) and
    how each channel stood against its bar."""

    def __init__(self, config: Any) -> None:
        self.config = config.spotting
        self.t: list[float] = []
        self.intensity: list[np.ndarray] = []
        self.motion: list[np.ndarray] = []  # NaN without optical flow
        self.ratio: list[np.ndarray] = []  # rise over the bar a start needs, per channel
        self.speech: list[bool] = []
        self.gate: list[bool] = []
        self.held: list[np.ndarray] = []  # per channel: its region held, nothing may nest
        self.pose: list[np.ndarray] = []  # head pose (rad)
        self._eps: list[tuple[np.ndarray, int | None, float]] = []  # open after the last frame

    def see(self, au: Any, spotter: Any) -> None:
        """After the frame of ``au`` (an ``AUFrame``): what ``spotter`` made of its face."""
        from microemo.emotion.spot_signal import CARRY, N_HIST
        from microemo.emotion.spotting import NEST_AFTER

        st = spotter.state(au.face_id)
        if st is None:
            return
        c, sig, t_ms = self.config, st.sig, au.t_ms
        n_reg = int(sig.ch_region.max()) + 1
        busy, nestable = np.zeros(n_reg, bool), np.zeros(n_reg, bool)
        # the episodes open when this frame came: those its starts were judged against
        for r in range(n_reg if self._eps else 0):
            held = [on for regions, within, on in self._eps if regions[r] and within is None]
            nested = any(regions[r] and within is not None for regions, within, _ in self._eps)
            busy[r] = bool(held)
            old = any(t_ms - on >= NEST_AFTER * c.baseline_window_ms for on in held)
            nestable[r] = c.overlap and old and not nested
        self._eps = [(e.regions.copy(), e.within, e.onset_ms) for e in st.eps]
        i = (sig.hist_n - 1) % N_HIST
        rise = np.where(busy[sig.ch_region], sig.hist_q[i], sig.hist_r[i])
        need = np.maximum(sig.bar(c.z_on), c.on_threshold)
        self.t.append(t_ms)
        self.intensity.append(au.intensity)
        self.motion.append(np.full_like(au.intensity, np.nan) if au.motion is None else au.motion)
        self.ratio.append(np.where(CARRY, rise / need, 0.0).astype(np.float32))
        self.speech.append(t_ms < sig.speech_until)
        self.gate.append(t_ms < sig.gate_until)
        self.held.append((busy & ~nestable)[sig.ch_region])
        self.pose.append(np.zeros(3, np.float32) if sig.pose is None else sig.pose.copy())

    def series(self) -> dict[str, np.ndarray]:
        """The face's per-frame ``t_ms``, ``intensity`` and ``motion``, as arrays."""
        n = len(self.t)
        return {
            "t_ms": np.asarray(self.t, np.float64),
            "intensity": np.asarray(self.intensity, np.float32).reshape(n, -1),
            "motion": np.asarray(self.motion, np.float32).reshape(n, -1),
        }


def _channels(aus: list[str]) -> np.ndarray:
    """The spotter's channels of these AUs: their intensities and their optical flow."""
    from microemo.emotion.spot_signal import CH_AU
    from microemo.types import AU_INDEX

    return np.flatnonzero(np.isin(CH_AU, [AU_INDEX[int(base_au(a)[2:])] for a in aus]))


def explain(truth: list[dict], ends: list[dict], hit: list[bool], probe: Probe) -> list[dict]:
    """One reason (``REASONS``) for each truth that is not a ``hit``."""
    from microemo.emotion.spot_signal import SPEECH

    t = np.asarray(probe.t)
    ratio = np.asarray(probe.ratio).reshape(len(t), -1)
    speech, gate = np.asarray(probe.speech, bool), np.asarray(probe.gate, bool)
    held = np.asarray(probe.held, bool).reshape(ratio.shape)
    pose = np.asarray(probe.pose, np.float32).reshape(len(t), 3)
    out = []
    for i, e in enumerate(truth):
        if hit[i]:
            continue
        span = (e["onset_ms"], e["offset_ms"])
        aus = "+".join(e["aus"])
        row = {"onset_ms": span[0], "offset_ms": span[1], "aus": aus, "intensity": e["intensity"]}
        want = {base_au(a) for a in e["aus"]}
        own = [  # spots that began with it and name its AUs (not an expression around it)
            (iou(span, (s["onset_ms"], s["offset_ms"])), s)
            for s in ends
            if s["onset_ms"] >= span[0] - BEGAN_WITH_MS and want & {a["au"] for a in s["aus"]}
        ]
        best = max(own, key=lambda p: p[0], default=(0.0, None))
        if best[1] is not None and best[0] > 0:
            s = best[1]
            out.append(row | {"reason": "mistimed", "iou": round(best[0], 2), "spot": s["kind"]})
            continue
        ch = _channels(list(e["aus"]))
        win = (t >= span[0]) & (t <= span[1] + AFTER_MS)
        if not win.any():
            out.append(row | {"reason": "no face"})
            continue
        r, h, g = ratio[win][:, ch], held[win][:, ch], gate[win]
        row["peak"] = round(float(r.max()), 2)
        crossed = r >= 1.0
        usable = crossed & ~(speech[win, None] & SPEECH[ch])  # not held back by speech
        free = (usable & ~h).any(1)  # frames where one could have started an episode
        if not crossed.any():
            reason = "under the bar"
        elif not usable.any():
            reason = "speech"
        elif not free.any():
            reason = "region held"
        elif g[free].all():
            reason = "head moving"
        elif not _held(t[win], free, probe.config.confirm_ms):
            reason = "too brief"
        elif np.abs(pose[win][free] - pose[win][0]).max() > probe.config.max_pose_change_rad:
            reason = "head turned"
        else:
            reason = "no start"
        out.append(row | {"reason": reason})
    return out


def _held(t: np.ndarray, on: np.ndarray, ms: float) -> bool:
    """Whether ``on`` held for ``ms`` over consecutive frames, measured as the spotter
    confirms a start (``spot_signal.Run``)."""
    from microemo.emotion.spot_signal import Run

    run = Run()
    return any(run.held(bool(ok), float(ti), ms) for ti, ok in zip(t, on, strict=True))


def summarize_missed(rows: list[dict]) -> dict[str, dict[str, Any]]:
    """Per added AU set and intensity: how many episodes were missed for each reason, and
    the median peak (rise over bar) of those under the bar."""
    counts: dict[str, Counter] = defaultdict(Counter)
    peaks: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        for m in row.get("missed", []):
            key = f"{m['aus']}/{m['intensity']}"
            counts[key][m["reason"]] += 1
            if m["reason"] == "under the bar":
                peaks[key].append(m["peak"])
    return {
        aus: {
            "missed": sum(c.values()),
            **{reason: c[reason] for reason in REASONS},
            "median_peak_under_bar": round(float(np.median(peaks[aus])), 2) if peaks[aus] else None,
        }
        for aus, c in sorted(counts.items())
    }


def markdown(missed: dict[str, dict[str, Any]]) -> list[str]:
    """The report's table of missed episodes by reason."""
    if not missed:
        return []
    head = " | ".join(REASONS)
    lines = [
        "",
        "Episodes missed, and why (`why.py`; under the bar: the median highest rise over it)",
        "",
        f"| added AUs / intensity | missed | {head} |",
        "|---|---|" + "---|" * len(REASONS),
    ]
    for aus, m in missed.items():
        cells = [str(m[r]) for r in REASONS]
        if m["median_peak_under_bar"] is not None:
            cells[REASONS.index("under the bar")] += f" ({m['median_peak_under_bar']:.2f})"
        lines.append(f"| {aus} | {m['missed']} | " + " | ".join(cells) + " |")
    return lines
