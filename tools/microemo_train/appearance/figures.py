"""The figures of a fitted appearance model and fusion, through the emotion benchmark's own
scoring (``emotion_bench.score``): accuracy, UF1, per-class recall, neutral read as an
emotion (confidently), ECE; for the appearance alone, the prototypes alone and the fusion."""

from __future__ import annotations

from typing import Any

import numpy as np

from microemo_train.emotion_bench.report import leaning
from microemo_train.emotion_bench.score import NO_FACE, Reading, score


def readings(
    labels: np.ndarray, probs: np.ndarray | None, classes: list[str], found: np.ndarray
) -> list[Reading]:
    """One reading per still: the best class and its probability (no face: counted)."""
    out = []
    for i, label in enumerate(labels):
        if not found[i] or probs is None:
            out.append(Reading(str(label), NO_FACE, 0.0))
            continue
        k = int(np.argmax(probs[i]))
        out.append(Reading(str(label), classes[k], float(probs[i, k])))
    return out


def summary(
    labels: np.ndarray, probs: np.ndarray, classes: list[str], found: np.ndarray
) -> dict[str, Any]:
    """The figures kept in the manifest (the short form of ``score``)."""
    r = score(readings(labels, probs, classes, found))
    keep = (
        "n",
        "no_face",
        "accuracy",
        "uf1",
        "uar",
        "recall",
        "neutral_as_emotion",
        "neutral_as_emotion_confident",
    )
    out = {k: r[k] for k in keep if k in r}
    out["ece"] = r["calibration"]["ece"]
    # which way the scores err: their mean against the share of the faces found read right
    # (``accuracy`` counts a face not found as wrong, the scores cannot)
    out["mean_score"] = r["calibration"]["mean_score"]
    out["accuracy_of_found"] = r["calibration"]["accuracy"]
    return out


def out_of_fold(
    labels: np.ndarray, probs: np.ndarray, classes: list[str], source: np.ndarray
) -> dict[str, Any]:
    """The fusion's out-of-fold figures over all its rows and over each data set's own: a
    set the fusion reads badly or scores wrongly (a temperature fitted mostly on another set)
    shows here, before anyone reads a test part."""

    def of(rows: np.ndarray) -> dict[str, Any]:
        return summary(labels[rows], probs[rows], classes, np.ones(int(rows.sum()), bool))

    return {
        "fusion_out_of_fold": of(np.ones(len(labels), bool)),
        "fusion_out_of_fold_by_set": {
            str(name): of(source == name) for name in sorted(set(source.tolist()))
        },
    }


def line(name: str, f: dict[str, Any]) -> str:
    neutral = f.get("neutral_as_emotion_confident")
    return (
        f"{name:34s} acc {f['accuracy']:.3f}  UF1 {f['uf1']:.3f}  ECE {f['ece'] or 0:.3f}"
        + leaning(f.get("mean_score"), f.get("accuracy_of_found"))
        + (f"  neutral->emotion@0.8 {neutral:.1%}" if neutral is not None else "")
        + f"  (n {f['n']}, no face {f['no_face']})"
    )
