"""The figures of an emotion benchmark, from one reading per input.

- accuracy over every input (an input where no face was found counts as wrong, and is
  counted apart), UF1 (F1 averaged over the classes the labels hold) and UAR (recall averaged
  over them), per-class recall and the confusion matrix;
- ``neutral read as an emotion``: of the inputs labelled neutral, the share read as another
  class, and the share read so at a score of ``confident`` (0.8) or more: a resting face
  shown as an emotion with a high score is what a dashboard user sees and believes;
- calibration: the expected calibration error (ECE) of the shown score, over ``bins``
  equal-width bins of score (how far "0.8" is from being right 80 % of the time), with the
  bins for a reliability plot, and the mean shown score beside the share read right (which
  way it errs: a score under it says too little, over it too much);
- answer shares: how often each class is answered (a reading that answers one class for
  most inputs has learnt a prior, not the faces);
- by head turn: accuracy, confident resting faces and the most frequent answer over the
  faces turned 0-10, 10-20, 20-30 and 30 or more degrees (the yaw of the face read), so a
  camera that sees people from the side (a cabin, a kiosk beside the door) is measured as it
  will see them;
- resting faces by person (where the inputs name their subjects): for each person, how many
  of their neutral inputs were read as an emotion and as what. Who is read as an emotion at
  rest should not depend on whose face it is: a person whose every resting face reads as
  surprise is one face the model misreads, however small a share of the inputs.

``chance`` says how far those figures could move on other inputs of the same kind: 95 %
intervals of accuracy, ECE and resting faces read as an emotion at ``confident``, over draws of
the people with replacement (of the inputs when not every input names its person; a person's
faces are not independent of each other). On 12 people the ECE of 0.08 that a rule asks for
can read anywhere from 0.06 to 0.15 for the same model (docs/real-faces.md).

``paired`` compares two readings of the same inputs (a model and the one it would replace):
the inputs only one of them reads right, per class, and the exact two-sided sign test over
them. On a hundred faces a point or two of accuracy is one or two faces; the split of the
faces that changed says whether the difference is more than chance.

``Merge`` folds classes into coarser ones before scoring (the MEGC convention: negative,
positive, surprise); a reading outside every merged class (neutral, say) stays itself and
counts as wrong.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from microemo_train.group_gap import BLANK
from microemo_train.paired import sign_test, split

NO_FACE = "(no face)"


@dataclass(frozen=True)
class Reading:
    """What the device said about one input: its label, its answer and the answer's score."""

    label: str
    answer: str  # NO_FACE when no face was found
    score: float  # the shown score of ``answer`` (0-1); 0 with no face
    name: str = ""
    yaw: float | None = None  # the read face's head turn, degrees either way; None: no face
    subject: str = ""  # the person the input shows ("": not known)
    groups: tuple[tuple[str, str], ...] = ()  # (column, value): what --by groups it by

    def group(self, column: str) -> str:
        """The input's group by ``column`` (``--by``), ``BLANK`` where the CSV left it empty."""
        return dict(self.groups).get(column) or BLANK


YAW_BINS = (0.0, 10.0, 20.0, 30.0)  # lower edges, degrees; the last bin is open


def yaw_bin(yaw: float) -> str:
    """The head-turn bin a yaw (degrees, either way) falls in: ``10-20``, ``30+``."""
    low = max(b for b in YAW_BINS if abs(yaw) >= b)
    i = YAW_BINS.index(low)
    return f"{low:g}-{YAW_BINS[i + 1]:g}" if i + 1 < len(YAW_BINS) else f"{low:g}+"


@dataclass(frozen=True)
class Merge:
    """Class -> coarser class (``negative=anger,disgust``); classes not named stay as they are."""

    groups: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, specs: list[str]) -> Merge:
        groups: dict[str, str] = {}
        for spec in specs:
            name, sep, members = spec.partition("=")
            if not sep or not name.strip() or not members.strip():
                raise ValueError(
                    f"--merge {spec!r}: write NEW=CLASS,CLASS (e.g. negative=anger,disgust)"
                )
            for m in members.split(","):
                groups[m.strip()] = name.strip()
        return cls(groups)

    def __call__(self, label: str) -> str:
        return self.groups.get(label, label)


def _f1(tp: int, fp: int, fn: int) -> float:
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def calibration(scores: np.ndarray, correct: np.ndarray, bins: int = 10) -> dict[str, Any]:
    """ECE over equal-width score bins, and each bin's count, mean score and accuracy; the
    mean score and accuracy over all say which way it errs (a mean score under the accuracy:
    the scores say less than they should; over it, more)."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(scores, edges[1:-1]), 0, bins - 1)
    rows, ece = [], 0.0
    for b in range(bins):
        m = which == b
        if not m.any():
            continue
        conf, acc = float(scores[m].mean()), float(correct[m].mean())
        ece += m.sum() / len(scores) * abs(conf - acc)
        rows.append(
            {
                "low": float(edges[b]),
                "high": float(edges[b + 1]),
                "n": int(m.sum()),
                "score": round(conf, 4),
                "accuracy": round(acc, 4),
            }
        )
    if not len(scores):
        return {"ece": None, "bins": rows, "mean_score": None, "accuracy": None}
    mean, right = float(scores.mean()), float(correct.mean())
    return {
        "ece": round(ece, 4),
        "bins": rows,
        "mean_score": round(mean, 4),
        "accuracy": round(right, 4),
    }


def columns(readings: list[Reading]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, answers and shown scores as arrays, one row per reading."""
    labels = np.array([r.label for r in readings])
    answers = np.array([r.answer for r in readings])
    return labels, answers, np.array([r.score for r in readings], np.float64)


def at_rest(
    labels: np.ndarray, answers: np.ndarray, scores: np.ndarray, confident: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The inputs labelled neutral, those of them read as an emotion (a face found), and
    those read so at a score of ``confident`` or more: one definition for every figure."""
    resting = labels == "neutral"
    as_emotion = resting & (answers != NO_FACE) & (answers != "neutral")
    return resting, as_emotion, as_emotion & (scores >= confident)


def score(readings: list[Reading], confident: float = 0.8, bins: int = 10) -> dict[str, Any]:
    """Every figure of the module's docstring, as plain data (the ``--json`` report)."""
    labels, answers, scores = columns(readings)
    classes = sorted(set(labels.tolist()))
    correct = answers == labels
    recall, f1 = {}, {}
    for c in classes:
        tp = int(np.sum(correct & (labels == c)))
        fn = int(np.sum(labels == c)) - tp
        fp = int(np.sum((answers == c) & (labels != c)))
        recall[c] = round(tp / (tp + fn), 4) if tp + fn else None
        f1[c] = round(_f1(tp, fp, fn), 4)
    found = answers != NO_FACE
    answered = Counter(answers[found].tolist())
    result: dict[str, Any] = {
        "n": len(readings),
        "no_face": int((~found).sum()),
        "accuracy": round(float(correct.mean()), 4) if len(readings) else None,
        "uf1": round(float(np.mean(list(f1.values()))), 4) if classes else None,
        "uar": round(float(np.mean([v for v in recall.values() if v is not None])), 4)
        if classes
        else None,
        "recall": recall,
        "f1": f1,
        "confusion": {c: dict(Counter(answers[labels == c].tolist())) for c in classes},
        "answer_share": {
            k: round(v / max(int(found.sum()), 1), 4) for k, v in answered.most_common()
        },
        "calibration": calibration(scores[found], correct[found], bins),
    }
    neutral, as_emotion, confidently = at_rest(labels, answers, scores, confident)
    if neutral.any():
        result["neutral_as_emotion"] = round(float(as_emotion.sum() / neutral.sum()), 4)
        result["neutral_as_emotion_confident"] = round(float(confidently.sum() / neutral.sum()), 4)
        result["confident"] = confident
    result["by_yaw"] = _by_yaw(readings, confident)
    result["resting_by_subject"] = _resting_by_subject(readings)
    return result


def _resting_by_subject(readings: list[Reading]) -> dict[str, dict[str, Any]]:
    """Per person with neutral inputs (faces found): how many, how many read as an emotion
    and as which; the people read so most often first."""
    people: dict[str, list[Reading]] = {}
    for r in readings:
        if r.subject and r.label == "neutral" and r.answer != NO_FACE:
            people.setdefault(r.subject, []).append(r)
    out: dict[str, dict[str, Any]] = {}
    for who, rs in people.items():
        wrong = Counter(r.answer for r in rs if r.answer != "neutral")
        k = sum(wrong.values())
        out[who] = {
            "neutral": len(rs),
            "as_emotion": k,
            "answers": dict(wrong.most_common()),
            "max_score": round(max((r.score for r in rs if r.answer != "neutral"), default=0), 4),
        }

    def misread_first(w: str) -> tuple[float, int, str]:
        return -out[w]["as_emotion"] / out[w]["neutral"], -out[w]["as_emotion"], w

    return {who: out[who] for who in sorted(out, key=misread_first)}


def subset(rs: list[Reading], confident: float) -> dict[str, Any]:
    """The figures of a part of the readings (a head-turn bin, a ``--by`` group): n, faces
    not found, accuracy (a missed face counts wrong), resting faces and those read as an
    emotion (at any score and at ``confident`` or more), the most frequent answer and its
    share of the faces found."""
    labels, answers, scores = columns(rs)
    found = answers != NO_FACE
    resting, as_emotion, confidently = at_rest(labels, answers, scores, confident)
    n_rest = int(resting.sum())
    top = Counter(answers[found].tolist()).most_common(1)
    return {
        "n": len(rs),
        "no_face": int((~found).sum()),
        "accuracy": round(float((answers == labels).mean()), 4),
        "neutral": n_rest,
        "neutral_as_emotion": round(float(as_emotion.sum() / n_rest), 4) if n_rest else None,
        "neutral_as_emotion_confident": round(float(confidently.sum() / n_rest), 4)
        if n_rest
        else None,
        "top_answer": top[0][0] if top else None,
        "top_share": round(top[0][1] / int(found.sum()), 4) if top else None,
    }


def _by_yaw(readings: list[Reading], confident: float) -> dict[str, dict[str, Any]]:
    """Per head-turn bin, ``subset`` over the faces found turned that far."""
    bins: dict[str, list[Reading]] = {}
    for r in readings:
        if r.yaw is not None and r.answer != NO_FACE:
            bins.setdefault(yaw_bin(r.yaw), []).append(r)
    names = (yaw_bin(b) for b in YAW_BINS)
    return {name: subset(bins[name], confident) for name in names if name in bins}


def paired(here: list[Reading], there: list[Reading], by: tuple[str, ...] = ()) -> dict[str, Any]:
    """``here`` against ``there``, input by input (matched by name): how many only one of
    them reads right, by class, by head turn and by each ``by`` column's groups (``--by``),
    with the sign test, and up to ten names of each kind."""
    a = {r.name: (r.label, r.answer == r.label) for r in here}
    b = {r.name: (r.label, r.answer == r.label) for r in there}
    s = split(a, b)
    # the same faces grouped by how far this run saw them turned (faces found here)
    turned = split(
        {r.name: (yaw_bin(r.yaw), a[r.name][1]) for r in here if r.yaw is not None},
        b,
    )
    grouped = {c: split({r.name: (r.group(c), a[r.name][1]) for r in here}, b) for c in by}
    n_both = max(len(s.both), 1)
    return {
        "n": len(s.both),
        "only_here": s.only_here,
        "only_there": s.only_there,
        "accuracy_here": round(sum(a[k][1] for k in s.both) / n_both, 4),
        "accuracy_there": round(sum(b[k][1] for k in s.both) / n_both, 4),
        "right_here_only": len(s.gained),
        "right_there_only": len(s.lost),
        "p_sign": s.p_sign,
        "by_class": {
            c: {"right_here_only": g, "right_there_only": lo} for c, (g, lo) in s.by_group.items()
        },
        "by_yaw": {
            g: {
                "right_here_only": k,
                "right_there_only": lo,
                "p_sign": round(sign_test(k, k + lo), 4),
            }
            for g, (k, lo) in turned.by_group.items()
        },
        "by": {
            c: {
                g: {
                    "right_here_only": k,
                    "right_there_only": lo,
                    "p_sign": round(sign_test(k, k + lo), 4),
                }
                for g, (k, lo) in sp.by_group.items()
            }
            for c, sp in grouped.items()
        },
        "examples": {"right_here_only": s.gained[:10], "right_there_only": s.lost[:10]},
    }


def chance(
    readings: list[Reading], confident: float = 0.8, draws: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """95 % intervals of accuracy, ECE and the confident resting share over ``draws`` draws of
    the people (or the inputs, when some input names no person) with replacement."""
    labels, answers, scores = columns(readings)
    correct, found = answers == labels, answers != NO_FACE
    rest, _, rest_confident = at_rest(labels, answers, scores, confident)
    by_person = all(r.subject for r in readings)
    unit = np.array([r.subject if by_person else str(i) for i, r in enumerate(readings)])
    names, of_unit = np.unique(unit, return_inverse=True)
    rows = [np.flatnonzero(of_unit == k) for k in range(len(names))]
    rng = np.random.default_rng(seed)
    acc, ece, resting = [], [], []
    for _ in range(draws):
        take = np.concatenate([rows[k] for k in rng.integers(0, len(rows), len(rows))])
        acc.append(correct[take].mean())
        f = take[found[take]]
        if len(f):
            ece.append(calibration(scores[f], correct[f])["ece"])
        if rest[take].any():
            resting.append(rest_confident[take].sum() / rest[take].sum())

    def interval(values: list[float]) -> list[float] | None:
        return [round(float(v), 4) for v in np.percentile(values, [2.5, 97.5])] if values else None

    return {
        "by": "person" if by_person else "input",
        "units": len(names),
        "draws": draws,
        "accuracy": interval(acc),
        "ece": interval(ece),
        "neutral_as_emotion_confident": interval(resting),
    }
