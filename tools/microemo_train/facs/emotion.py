"""Fit the core-emotion prototype weights on the AU intensities the device produces.

Rows are the labelled items' last frames read through the device with a calibration that
never saw their subject (``cross_validate``'s replays), so the weights learn from AUs as noisy
as the device's on a new face; the neutral reference frames give the ``neutral`` class. The
hand prototypes of ``facs_rules.toml`` join as a few pseudo-examples (every prototype AU at
intensity 3), so a pattern the data set never poses still reads as FACS says. Multinomial
logistic regression, classes balanced; figures by subject-grouped folds.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from microemo.emotion.rules import CoreWeights, load_tables
from microemo.types import AU_INDEX
from microemo_train.facs.replay import Replay


@dataclass
class EmotionRows:
    x: np.ndarray  # (n, n_au) intensities
    label: np.ndarray  # (n,) str
    subject: np.ndarray  # (n,) str
    origin: np.ndarray  # (n,) index of the replay the row came from
    reference: np.ndarray  # (n,) bool: a neutral reference frame (not the item's label)


@dataclass
class EmotionFigures:
    accuracy: float
    uf1: float
    n: int
    labels: list[str]
    confusion: list[list[int]]  # rows: true label, columns: predicted, in ``labels`` order


def emotion_rows(replays: list[Replay], with_neutral: bool = True) -> EmotionRows:
    """The last frame of each labelled item (a missed face reads as all zeros, as the
    device would say nothing), and each item's last neutral reference frame."""
    rows: list[tuple[np.ndarray, str, str, int, bool]] = []
    for i, rp in enumerate(replays):
        it = rp.item
        if it.label:
            rows.append((np.nan_to_num(rp.intensity[-1]), it.label, it.subject, i, False))
        if with_neutral and it.neutral and not np.isnan(rp.intensity[it.neutral[-1], 0]):
            rows.append((rp.intensity[it.neutral[-1]], "neutral", it.subject, i, True))
    if not rows:
        empty = np.zeros((0, len(AU_INDEX)))
        return EmotionRows(empty, np.array([]), np.array([]), np.array([], int), np.array([], bool))
    x, label, subject, origin, ref = zip(*rows)
    return EmotionRows(
        np.array(x), np.array(label), np.array(subject), np.array(origin), np.array(ref)
    )


def prototype_rows(classes: list[str], level: float = 3.0) -> tuple[np.ndarray, np.ndarray]:
    """Every prototype (with and without its optional AUs) and every combination that
    ``suffices`` for an emotion, each AU at ``level``; and the empty face as neutral."""
    t = load_tables()
    x, y = [], []
    for emotion, (aus, optional) in t.core.items():
        if emotion not in classes:
            continue
        groups = [aus, aus + optional] if optional else [aus]
        for group in groups + list(t.suffices.get(emotion, ())):
            v = np.zeros(len(AU_INDEX))
            v[[AU_INDEX[a] for a in group]] = level
            x.append(v)
            y.append(emotion)
    if "neutral" in classes:
        x.append(np.zeros(len(AU_INDEX)))
        y.append("neutral")
    return np.array(x), np.array(y)


# AUs the core emotion does not read: blinks (AU45) and lip sucks (AU28) are in no prototype
# and so rare in coded data that their weights would fit the data set's quirks.
IGNORED = ("AU28", "AU45")


def fit_weights(rows: EmotionRows, c: float = 0.3, prototype_weight: float = 5.0) -> CoreWeights:
    from sklearn.linear_model import LogisticRegression

    from microemo.types import AU_NAMES

    classes = sorted(set(rows.label.tolist()))
    px, py = prototype_rows(classes)
    x = np.vstack([rows.x, px])
    y = np.concatenate([rows.label, py])
    weight = np.concatenate([np.ones(len(rows.x)), np.full(len(px), prototype_weight)])
    used = np.array([n not in IGNORED for n in AU_NAMES])
    m = LogisticRegression(C=c, max_iter=5000, class_weight="balanced")
    m.fit(x[:, used], y, sample_weight=weight)
    order = [list(m.classes_).index(k) for k in classes]
    w = np.zeros((len(classes), len(AU_NAMES)))
    w[:, used] = m.coef_[order]
    return CoreWeights(tuple(classes), w, m.intercept_[order], {}, {})


def predict(weights: CoreWeights, x: np.ndarray) -> np.ndarray:
    return np.array([weights.classes[int(np.argmax(weights.probabilities(v)))] for v in x])


def _take(rows: EmotionRows, idx: np.ndarray) -> EmotionRows:
    return EmotionRows(
        rows.x[idx], rows.label[idx], rows.subject[idx], rows.origin[idx], rows.reference[idx]
    )


def cross_predict(rows: EmotionRows, folds: int = 10, **fit_args: float) -> np.ndarray:
    """Each row's core emotion from weights fitted without its subject."""
    from sklearn.model_selection import GroupKFold

    pred = np.empty(len(rows.label), dtype=object)
    for tr, te in GroupKFold(min(folds, len(set(rows.subject)))).split(rows.x, groups=rows.subject):
        pred[te] = predict(fit_weights(_take(rows, tr), **fit_args), rows.x[te])
    return pred


def cross_validate_sets(
    rows: EmotionRows, replays: list[Replay], kind: list[str], folds: int = 10
) -> dict[str, EmotionFigures]:
    """Out-of-fold figures for each set's labelled items, and for the neutral references."""
    if len(set(rows.label.tolist())) < 2 or len(set(rows.subject.tolist())) < 2:
        return {}  # nothing to tell apart, or no subject to hold out
    pred = cross_predict(rows, folds)
    out = {}
    for name in dict.fromkeys(kind):
        m = np.array([kind[o] == name for o in rows.origin]) & ~rows.reference
        if m.any():
            out[name] = figures(rows.label[m], pred[m])
    if rows.reference.any():
        out["neutral reference"] = figures(rows.label[rows.reference], pred[rows.reference])
    return out


def figures(truth: np.ndarray, pred: np.ndarray) -> EmotionFigures:
    from sklearn.metrics import confusion_matrix, f1_score

    truth, pred = truth.astype(str), pred.astype(str)
    labels = sorted(set(truth.tolist()) | set(pred.tolist()))
    with warnings.catch_warnings():  # one label (the neutral references) is a fine answer
        warnings.simplefilter("ignore", UserWarning)
        uf1 = f1_score(truth, pred, average="macro", labels=sorted(set(truth.tolist())))
    return EmotionFigures(
        float(np.mean(truth == pred)),
        float(uf1),
        len(truth),
        labels,
        confusion_matrix(truth, pred, labels=labels).tolist(),
    )
