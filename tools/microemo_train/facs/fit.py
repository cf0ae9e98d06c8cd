"""Fit the AU calibration on FACS-coded recordings, the way the device will use it.

1. Population neutral (``prior``) and the band a person's neutral may sit in, from the
   frames the data set marks neutral (one per item).
2. The absolute head per AU: logistic regression (L2, balanced classes, standardised inputs,
   the scaling folded back into the weights) on the signals of coded frames, plus neutral
   frames as negatives.
3. The device's AU estimator is replayed with that head, so each coded frame is read against
   the baseline the device would really have there (neutral-gated, shrunk to the prior).
4. The relative head on ``s - baseline`` of the same frames (the deviation only: a face's
   static shape, the lighting and the camera cancel out).
5. Presence where the (class-balanced) logistic evidence crosses ``presence_evidence``
   (0: even odds; F1-tuned thresholds per AU scored lower out of fold, they move with every
   dozen positives), and one intensity scale for all fitted AUs such that the median coded
   positive, out of fold, reads about its median FACS intensity (3 when none is coded).

AUs with fewer than ``min_positives`` coded positives keep the base calibration's row and
say so. ``cross_validate`` runs all of it inside subject-grouped folds and scores held-out
subjects by replaying them through the device with their fold's calibration.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np

from microemo.types import AU_IDS, AU_NAMES
from microemo.vision.calibration import AU_REGION, REGIONS, SIGNAL_NAMES, AUCalibration
from microemo_train.facs.record import Recording
from microemo_train.facs.replay import Replay, replay, signals

logger = logging.getLogger(__name__)


@dataclass
class FitSettings:
    c_abs: float = 0.01  # inverse L2 strength of the absolute head
    c_rel: float = 0.01  # and of the relative head
    inner_folds: int = 5
    min_positives: int = 8
    band_sigmas: float = 3.0  # a person's neutral may sit this many population sd from the prior
    trust_k: float = 4.0
    trust_after: int = 6  # neutral samples before the baseline is trusted at all
    presence_evidence: float = 0.0  # evidence (log-odds, balanced) where an AU is present
    rel_min_samples: int = 6  # frames with fewer neutral samples do not train the relative head
    neutral_pass: float = 0.95  # share of neutral frames the baseline gate lets through
    neutral_weight: float = 0.3  # weight of neutral-reference rows (all AUs absent)
    prior_boost: float = 10.0  # > 0: lean on the hand table's evidence per AU (0: off)


@dataclass
class Rows:
    """Training rows: one per coded frame, plus one per item's neutral reference."""

    s: np.ndarray  # (n, n_signals)
    base: np.ndarray  # (n, n_signals) baseline the device had (prior until replayed)
    samples: np.ndarray  # (n, regions) neutral samples behind it, per face region
    y: np.ndarray  # (n, n_au) 1 present, 0 absent, -1 unknown (AU not coded by the data set)
    level: np.ndarray  # (n, n_au) coded intensity (0 when present without one)
    groups: np.ndarray  # (n,) subject
    where: list[tuple[int, int]]  # (recording index, frame index)
    reference: np.ndarray  # (n,) bool: an item's neutral reference (not a coded frame)


def _targets(codes: dict[int, float], coded: frozenset[int] | None) -> tuple[list, list]:
    y, level = [], []
    for au in AU_IDS:
        if au in codes:
            y.append(1)
            level.append(float(codes[au]))
        else:
            y.append(0 if coded is None or au in coded else -1)
            level.append(0.0)
    return y, level


def collect_rows(recs: list[Recording], sigs: list[np.ndarray]) -> Rows:
    s, y, level, groups, where, ref = [], [], [], [], [], []
    for r, (rec, sig) in enumerate(zip(recs, sigs)):
        it = rec.item
        frames = [(f, c, it.coded_at(f), False) for f, c in it.codes.items()]
        if it.neutral:
            frames.append((it.neutral[0], {}, it.coded, True))
        for f, codes, coded, is_ref in frames:
            if f >= len(sig) or np.isnan(sig[f, 0]):
                continue
            yy, ll = _targets(codes, coded)
            s.append(sig[f])
            y.append(yy)
            level.append(ll)
            groups.append(it.subject)
            where.append((r, f))
            ref.append(is_ref)
    s_arr = np.array(s, np.float64)
    return Rows(
        s_arr,
        np.zeros_like(s_arr),
        np.zeros((len(s), len(REGIONS)), np.int64),
        np.array(y),
        np.array(level),
        np.array(groups),
        where,
        np.array(ref, bool),
    )


# The smallest spread a signal is standardised by: a blendshape that a data set's faces never
# move (CK+'s small grey crops keep cheekSquint and noseSneer at 1e-6) would otherwise get a
# weight of tens of thousands and swing the AU wildly on a camera where it does move.
SIGNAL_FLOOR = np.array([0.02 if n.startswith("bs_") else 0.005 for n in SIGNAL_NAMES])


def _logistic(
    x: np.ndarray,
    y: np.ndarray,
    c: float,
    weight: np.ndarray | None = None,
    boost: np.ndarray | None = None,
    floor: np.ndarray | None = None,
) -> tuple[np.ndarray, float]:
    """L2 logistic regression on standardised x (each column's spread at least ``floor``;
    columns multiplied by ``boost``, so the penalty on them is ``boost**2`` times lighter);
    weights and bias on the raw scale."""
    from sklearn.linear_model import LogisticRegression

    mu, sd = x.mean(axis=0), x.std(axis=0)
    sd = np.maximum(sd, floor if floor is not None else 1e-8)
    if boost is not None:
        sd = sd / boost
    m = LogisticRegression(C=c, max_iter=5000, class_weight="balanced")
    m.fit((x - mu) / sd, y, sample_weight=weight)
    w = m.coef_[0] / sd
    return w, float(m.intercept_[0] - w @ mu)


def _heads(
    rows: Rows, au: int, st: FitSettings, rel: bool, prior: AUCalibration | None = None
) -> tuple[np.ndarray, float] | None:
    """One head of one AU. With ``prior`` (a hand-set calibration, linear in the signals)
    its evidence for this AU joins as one more input that is penalised ``prior_boost**2``
    times less, and is folded back into the signal weights: the fit starts from what the
    FACS descriptions say and moves where the data insist (which keeps an AU responsive on
    faces unlike the data set's)."""
    keep = rows.y[:, au] >= 0
    if rel:  # the relative head learns from frames read against a face's own neutral
        keep &= rows.samples[:, AU_REGION[au]] >= st.rel_min_samples
    # the relative head reads only the deviation from the face's own neutral: what a
    # face's static shape or the camera adds is the same in both and drops out
    if len(set(rows.y[keep, au].tolist())) < 2:
        return None  # nothing to learn from here (e.g. no face read against its neutral)
    x = rows.s[keep] - rows.base[keep] if rel else rows.s[keep]
    weight = np.where(rows.reference[keep], st.neutral_weight, 1.0)
    c = st.c_rel if rel else st.c_abs
    if prior is None or st.prior_boost <= 0:
        return _logistic(x, rows.y[keep, au], c, weight, floor=SIGNAL_FLOOR)
    pw = prior.w_rel[au] if rel else prior.w_abs[au]
    pb = 0.0 if rel else float(prior.b_abs[au])
    boost = np.ones(x.shape[1] + 1)
    boost[-1] = st.prior_boost
    floor = np.append(SIGNAL_FLOOR, 1e-8)
    xp = np.hstack([x, (x @ pw + pb)[:, None]])
    w, b = _logistic(xp, rows.y[keep, au], c, weight, boost, floor)
    return w[:-1] + w[-1] * pw, b + w[-1] * pb


def gate_levels(z: np.ndarray, gated: np.ndarray, share: float) -> np.ndarray:
    """Per-AU gates at one common quantile of the neutral faces' evidence, the lowest that
    lets ``share`` of them through on every AU at once. Per AU, not one bar for the largest:
    an AU that rests low on neutral faces (a smile) keeps a low bar, so a face that enters
    smiling stays out of its own baseline even when another AU rests high."""
    for q in np.linspace(share, 1.0, 101):
        levels = np.quantile(z, q, axis=0) + 1e-6
        if np.mean(np.all((z < levels) | ~gated, axis=1)) >= share:
            return levels
    return z.max(axis=0) + 1e-6


def _neutral_rows(rows: Rows) -> np.ndarray:
    return rows.reference & (rows.y <= 0).all(axis=1)


def neutral_stats(rows: Rows, st: FitSettings) -> tuple[np.ndarray, np.ndarray]:
    neutral = _neutral_rows(rows)
    x = rows.s[neutral] if neutral.sum() >= 10 else rows.s
    return x.mean(axis=0), st.band_sigmas * np.maximum(x.std(axis=0), 1e-6)


def fit_heads(
    rows: Rows,
    recs: list[Recording],
    base: AUCalibration,
    st: FitSettings,
    fitted: np.ndarray,
    hand: AUCalibration | None = None,
) -> AUCalibration:
    """Steps 1-4 on ``rows`` (thresholds and scales left as in ``base``)."""
    prior, band = neutral_stats(rows, st)
    # never narrower than the base's band: one data set's cameras and faces are not every
    # camera's and face's (CK+'s small crops put MediaPipe's dimple at 0.003 +- 0.003)
    band = np.maximum(band, base.band)
    w_abs, b_abs = base.w_abs.copy(), base.b_abs.copy()
    for a in map(int, np.flatnonzero(fitted)):
        head = _heads(rows, a, st, rel=False, prior=hand)
        if head is not None:  # else the AU keeps the base's row
            w_abs[a], b_abs[a] = head
    cal = replace(
        base,
        w_abs=w_abs,
        b_abs=b_abs,
        prior=prior.astype(np.float32),
        band=band.astype(np.float32),
        trust_k=st.trust_k,
        trust_after=st.trust_after,
    )
    neutral = _neutral_rows(rows)
    if neutral.any():
        z = rows.s[neutral] @ w_abs.T + b_abs
        cal = replace(cal, gate_evidence=gate_levels(z, cal.gate, st.neutral_pass))
    # read every coded frame against the baseline the device has there
    wanted = sorted({r for r, _ in rows.where})
    replays = {r: replay(recs[r], cal) for r in wanted}
    for i, (r, f) in enumerate(rows.where):
        rows.base[i], rows.samples[i] = replays[r].baseline[f], replays[r].samples[f]
    w_rel, b_rel = base.w_rel.copy(), base.b_rel.copy()
    for a in map(int, np.flatnonzero(fitted)):
        head = _heads(rows, a, st, rel=True, prior=hand)
        if head is not None:
            w_rel[a], b_rel[a] = head
    return replace(cal, w_rel=w_rel, b_rel=b_rel)


def frame_evidence(
    cal: AUCalibration, recs: list[Recording], where: list[tuple[int, int]]
) -> np.ndarray:
    """The evidence the device computes at each (recording, frame) under ``cal``: each
    recording is replayed, so the baseline is the one ``cal`` itself lets form."""
    out = np.zeros((len(where), len(AU_NAMES)))
    replays = {r: replay(recs[r], cal) for r in sorted({r for r, _ in where})}
    for i, (r, f) in enumerate(where):
        rp = replays[r]
        out[i] = cal.evidence(rp.signals[f], rp.baseline[f], rp.samples[f])
    return out


def fit_calibration(
    recs: list[Recording],
    base: AUCalibration,
    st: FitSettings,
    sigs: list[np.ndarray] | None = None,
    keep: np.ndarray | None = None,
    prior: AUCalibration | None = None,
) -> AUCalibration:
    """The whole fit (steps 1-5) on every recording given; AUs outside ``keep`` (and those
    with too few positives) keep ``base``'s rows."""
    from sklearn.model_selection import GroupKFold

    sigs = sigs if sigs is not None else [signals(r) for r in recs]
    rows = collect_rows(recs, sigs)
    fitted = ((rows.y == 1).sum(axis=0) >= st.min_positives) & ((rows.y == 0).sum(axis=0) > 0)
    if keep is not None:
        fitted &= keep
    cal = fit_heads(rows, recs, base, st, fitted, prior)
    # thresholds and scales from out-of-fold evidence on these rows
    z_oof = np.zeros((len(rows.s), len(AU_NAMES)))
    folds = min(st.inner_folds, len(set(rows.groups)))
    for tr, te in GroupKFold(folds).split(rows.s, groups=rows.groups):
        sub = _subset(rows, tr)
        inner = fit_heads(sub, recs, base, st, fitted, prior)
        z_oof[te] = frame_evidence(inner, recs, [rows.where[i] for i in te])
    threshold, scale = cal.threshold.copy(), cal.scale.copy()
    spreads = []
    for a in np.flatnonzero(fitted):
        known = rows.y[:, a] >= 0
        z, y = z_oof[known, a], rows.y[known, a]
        threshold[a] = st.presence_evidence
        pos = y == 1
        levels = rows.level[known, a][pos]
        target = float(np.median(levels[levels > 0])) if np.any(levels > 0) else 3.0
        gap = np.tan(np.pi * (target / 5.0 - 0.5)) - np.tan(np.pi * (0.2 - 0.5))
        spreads.append(float(np.median(z[pos]) - threshold[a]) / max(gap, 0.3))
    # one scale for every fitted AU: per-AU medians of a dozen positives move a lot from
    # one fold of subjects to the next, and intensities must compare across AUs
    scale[fitted] = max(float(np.median(spreads)), 0.1) if spreads else 1.0
    return replace(cal, threshold=threshold, scale=scale)


def _subset(rows: Rows, idx: np.ndarray) -> Rows:
    return Rows(
        rows.s[idx],
        rows.base[idx].copy(),
        rows.samples[idx].copy(),
        rows.y[idx],
        rows.level[idx],
        rows.groups[idx],
        [rows.where[i] for i in idx],
        rows.reference[idx],
    )


def fitted_mask(recs: list[Recording], st: FitSettings) -> np.ndarray:
    rows = collect_rows(recs, [signals(r) for r in recs])
    return ((rows.y == 1).sum(axis=0) >= st.min_positives) & ((rows.y == 0).sum(axis=0) > 0)


def cross_validate(
    recs: list[Recording],
    base: AUCalibration,
    st: FitSettings,
    folds: int = 5,
    prior: AUCalibration | None = None,
) -> tuple[list[Replay], list[AUCalibration]]:
    """Fit on all but one fold of subjects, replay the held-out fold through the device
    with that fit; every item is scored by a calibration that never saw its subject."""
    from sklearn.model_selection import GroupKFold

    groups = np.array([r.item.subject for r in recs])
    sigs = [signals(r) for r in recs]
    out: list[Replay | None] = [None] * len(recs)
    cals = []
    for tr, te in GroupKFold(min(folds, len(set(groups)))).split(recs, groups=groups):
        cal = fit_calibration([recs[i] for i in tr], base, st, [sigs[i] for i in tr], prior=prior)
        cals.append(cal)
        for i in te:
            out[i] = replay(recs[i], cal)
    return [r for r in out if r is not None], cals
