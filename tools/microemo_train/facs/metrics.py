"""How well AU intensities and presence match the FACS codes, per AU and per subject.

Scores are read at each item's coded frames, as the device produced them (``replay``):
``AUxx_r`` ranks (ROC-AUC), ``AUxx_c`` decides (F1), and where the data set codes intensities
the Pearson correlation of ``AUxx_r`` with the coded intensity (absent = 0). Only AUs with at
least ``min_positives`` coded positives are summarised (an AUC on 3 positives is noise).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from microemo.types import AU_IDS, AU_NAMES
from microemo_train.facs.replay import Replay


@dataclass
class Scored:
    """Every coded frame: scores, decisions and the codes."""

    intensity: np.ndarray  # (n, n_au)
    present: np.ndarray  # (n, n_au) bool
    y: np.ndarray  # (n, n_au) 1 / 0 / -1 (not coded)
    level: np.ndarray  # (n, n_au) coded intensity, 0 without one
    subjects: np.ndarray  # (n,)
    keys: list[str] = field(default_factory=list)

    @classmethod
    def from_replays(cls, replays: list[Replay]) -> Scored:
        from microemo_train.facs.fit import _targets

        rows: list[tuple] = []
        for rp in replays:
            it = rp.item
            for f, codes in sorted(it.codes.items()):
                if f >= len(rp.intensity) or np.isnan(rp.intensity[f, 0]):
                    inten, pres = np.zeros(len(AU_IDS)), np.zeros(len(AU_IDS), bool)
                else:  # a missed face reads as nothing present: it still counts
                    inten, pres = rp.intensity[f], rp.present[f]
                y, level = _targets(codes, it.coded_at(f))
                rows.append((inten, pres, y, level, it.subject, it.key))
        cols: list[tuple] = list(zip(*rows)) if rows else [()] * 6
        return cls(
            np.array(cols[0]).reshape(-1, len(AU_IDS)),
            np.array(cols[1], bool).reshape(-1, len(AU_IDS)),
            np.array(cols[2]).reshape(-1, len(AU_IDS)),
            np.array(cols[3]).reshape(-1, len(AU_IDS)),
            np.array(cols[4]),
            list(cols[5]),
        )

    @classmethod
    def concat(cls, parts: list[Scored]) -> Scored:
        return cls(
            np.vstack([p.intensity for p in parts]),
            np.vstack([p.present for p in parts]),
            np.vstack([p.y for p in parts]),
            np.vstack([p.level for p in parts]),
            np.concatenate([p.subjects for p in parts]),
            [k for p in parts for k in p.keys],
        )


@dataclass
class AUFigures:
    au: str
    positives: int
    negatives: int
    auc: float | None
    f1: float | None
    corr: float | None  # None where the data set codes no intensities


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, s))


def _f1(y: np.ndarray, p: np.ndarray) -> float:
    tp = float(np.sum(p & (y == 1)))
    return 2 * tp / max(1.0, float(p.sum() + (y == 1).sum()))


def per_au(sc: Scored, min_positives: int = 10) -> list[AUFigures]:
    out = []
    for a, name in enumerate(AU_NAMES):
        known = sc.y[:, a] >= 0
        y = sc.y[known, a]
        pos, neg = int((y == 1).sum()), int((y == 0).sum())
        if pos < min_positives or neg == 0:
            out.append(AUFigures(name, pos, neg, None, None, None))
            continue
        inten, pres = sc.intensity[known, a], sc.present[known, a]
        lv = sc.level[known, a]
        graded = (y == 0) | (lv > 0)
        corr = None
        if np.sum(lv > 0) >= min_positives and np.std(inten[graded]) > 0:
            corr = float(np.corrcoef(inten[graded], lv[graded])[0, 1])
        out.append(AUFigures(name, pos, neg, _auc(y, inten), _f1(y, pres), corr))
    return out


def summary(figs: list[AUFigures]) -> dict[str, float | int]:
    scored = [f for f in figs if f.auc is not None]
    corr = [f.corr for f in scored if f.corr is not None]
    return {
        "aus": len(scored),
        "auc": float(np.mean([f.auc for f in scored])) if scored else float("nan"),
        "f1": float(np.mean([f.f1 for f in scored])) if scored else float("nan"),
        "corr": float(np.mean(corr)) if corr else float("nan"),
    }


def per_subject(sc: Scored) -> dict[str, dict[str, Any]]:
    """Per subject: coded frames, the share of (frame, AU) decisions that were right, the
    recall of coded AUs, and the mean ROC-AUC over the AUs that subject shows both coded
    present and absent (None when none: one apex frame a subject has none)."""
    out: dict[str, dict[str, Any]] = defaultdict(dict)
    for subj in sorted(set(sc.subjects)):
        m = sc.subjects == subj
        known = sc.y[m] >= 0
        right = (sc.present[m] == (sc.y[m] == 1)) & known
        pos = (sc.y[m] == 1) & known
        aucs = []
        for a in range(sc.y.shape[1]):
            y = sc.y[m, a]
            if (y == 1).any() and (y == 0).any():
                k = y >= 0
                aucs.append(_auc(y[k], sc.intensity[m, a][k]))
        out[subj] = {
            "frames": int(m.sum()),
            "agreement": float(right.sum() / max(1, known.sum())),
            "recall": float((sc.present[m] & pos).sum() / max(1, pos.sum())),
            "auc": float(np.mean(aucs)) if aucs else None,
            "aus": len(aucs),
        }
    return dict(out)
