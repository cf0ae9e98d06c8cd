"""The calibration run: figures before, cross-validated figures after, the final fit.

"Before" is the calibration installed now, replayed on every item as the device would read
it (in-sample if that calibration was fitted on these faces: the text says which). "After" is
out of fold: every item is read by a calibration fitted without its subject, and the emotion
figures come from prototype weights fitted without its subject too. The files written are
fitted on everything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from microemo.emotion.rules import CoreWeights
from microemo.vision.calibration import AUCalibration, load_calibration
from microemo_train.facs import emotion, report, write
from microemo_train.facs.fit import FitSettings, cross_validate, fit_calibration, fitted_mask
from microemo_train.facs.items import FacsDataError
from microemo_train.facs.record import Recording
from microemo_train.facs.replay import replay, signals

# The hand-set table the fit leans on (FitSettings.prior_boost): what the FACS descriptions
# and one high-resolution actor say each AU looks like.
HAND_TABLE = Path(__file__).with_name("au_hand_table.toml")  # package data: works installed


@dataclass
class CalibrationResult:
    cal: AUCalibration
    fitted: np.ndarray
    weights: CoreWeights | None
    provenance: dict[str, Any]
    before: dict[str, dict[str, Any]]  # set -> report.score(...)
    after: dict[str, dict[str, Any]]
    signal_sd: np.ndarray
    settings: FitSettings = field(default_factory=FitSettings)

    def figures(self) -> dict[str, Any]:
        return {"provenance": self.provenance, "before": self.before, "after": self.after}

    def text(self) -> str:
        return report.compare_text(self.before, self.after, self.provenance)

    def write(self, out: Path, emotion_out: Path | None, docs: Path | None) -> None:
        first = next(iter(self.after))
        cv = {f.au: f for f in self.after[first]["aus"]}
        before = {f.au: f for f in self.before[first]["aus"]}
        prov = dict(self.provenance, figures_from=f"{first} items, out of fold")
        write.write_atomic(out, write.calibration_toml(self.cal, prov, self.fitted, cv, before))
        if emotion_out is not None and self.weights is not None:
            figs = {s: r["emotion"] for s, r in self.after.items() if r.get("emotion")}
            write.write_atomic(emotion_out, write.emotion_toml(self.weights, prov, figs))
        if docs is not None:
            write.write_atomic(docs, report.docs_markdown(self))


def calibrate(
    sets: dict[str, list[Recording]],
    provenance: dict[str, Any],
    folds: int = 5,
    min_positives: int = 10,
    st: FitSettings | None = None,
    base: AUCalibration | None = None,
) -> CalibrationResult:
    """``base``: the calibration scored as "before" and whose rows AUs that are not refitted
    keep (default: the one installed)."""
    st = st or FitSettings()
    base = base or load_calibration()
    recs = [r for rs in sets.values() for r in rs]
    subjects = sorted({r.item.subject for r in recs})
    if len(subjects) < 3 or folds < 2:
        raise FacsDataError(
            f"{len(subjects)} subject(s) and --folds {folds}: cross-validation by subject "
            "needs at least 3 subjects and 2 folds (every face is scored by a fit that "
            "never saw its subject)"
        )
    kind = [name for name, rs in sets.items() for _ in rs]
    before = {
        n: report.score([replay(r, base) for r in rs], min_positives, prototypes_only=True)
        for n, rs in sets.items()
    }
    prior = load_calibration(HAND_TABLE) if st.prior_boost > 0 else None
    oof, _ = cross_validate(recs, base, st, folds, prior)
    rows = emotion.emotion_rows(oof)
    fig_rows = emotion.cross_validate_sets(rows, oof, kind, folds=10)
    after = {
        n: report.score(
            [rp for rp, k in zip(oof, kind) if k == n],
            min_positives,
            emotion_figures=fig_rows.get(n),
        )
        for n in sets
    }
    # an AU is only refitted where that beats the installed row out of fold (on every set's
    # pooled ROC-AUC): a dozen positives can fit noise (CK+'s AU10 does)
    keep = _better(before, after)
    _report_kept_rows(before, after, keep)
    cal = fit_calibration(recs, base, st, keep=keep, prior=prior)
    weights = emotion.fit_weights(rows) if len(set(rows.label.tolist())) > 1 else None
    sd = np.nanstd(np.vstack([signals(r) for r in recs]), axis=0)
    prov = dict(
        provenance,
        subjects=len(subjects),
        stills_count=sum(s.startswith("still:") for s in subjects),
        items=len(recs),
        cross_validation=f"{folds} folds grouped by subject",
    )
    return CalibrationResult(
        cal, fitted_mask(recs, st) & keep, weights, prov, before, after, sd, st
    )


def _report_kept_rows(
    before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]], keep: np.ndarray
) -> None:
    """An AU that keeps its base row reads exactly as before: say so in the figures."""
    from microemo.types import AU_NAMES
    from microemo_train.facs.metrics import summary

    for name, a in after.items():
        old = {f.au: f for f in before[name]["aus"]}
        a["aus"] = [f if keep[AU_NAMES.index(f.au)] else old[f.au] for f in a["aus"]]
        a["summary"] = summary(a["aus"])


def _better(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> np.ndarray:
    from microemo.types import AU_NAMES

    keep = np.ones(len(AU_NAMES), bool)
    for a, au in enumerate(AU_NAMES):
        gains = []
        for name in after:
            b = {f.au: f for f in before[name]["aus"]}[au]
            f = {f.au: f for f in after[name]["aus"]}[au]
            if b.auc is not None and f.auc is not None:
                gains.append(f.auc - b.auc)
        keep[a] = not gains or float(np.mean(gains)) > 0.0
    return keep
