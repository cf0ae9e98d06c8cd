"""``docs/aus.md``, rendered from a calibration run (``facs-calibrate --docs``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from microemo.types import AU_NAMES
from microemo_train.facs import report

if TYPE_CHECKING:
    from microemo_train.facs.calibrate import CalibrationResult

GEOMETRY = {
    "g_brow_inner_h": "inner brow (107, 66, 336, 296) above the inner eye corners",
    "g_brow_outer_h": "outer brow (70, 105, 300, 334) above the outer eye corners",
    "g_brow_gap": "horizontal distance between the inner brows",
    "g_eye_open": "upper to lower lid (159-145, 386-374)",
    "g_lower_lid_h": "lower lid height relative to the eye corners",
    "g_cheek_h": "cheek (50, 280) height relative to the nose tip",
    "g_nose_ala_h": "nose wings (129, 358) relative to the inner eye corners",
    "g_upper_lip_gap": "subnasale (2) to upper lip (0)",
    "g_mouth_corner_h": "mouth corners (61, 291) relative to the lip centre (13, 14)",
    "g_mouth_width": "corner to corner",
    "g_lip_thickness": "red lip height, upper plus lower",
    "g_lips_apart": "inner lip gap (13-14)",
    "g_jaw_drop": "nose tip (1) to chin (152)",
    "g_chin_lip": "lower lip (17) to chin (152)",
    "g_corner_depth": "mouth corners' depth relative to the lip centre",
    "g_mouth_asym": "left minus right corner height (unilateral movements)",
}

METHOD = """\
Each frame gives 68 signals per face: MediaPipe's 52 blendshapes (`bs_*`) and 16 geometric
signals (`g_*`, below) measured on the landmarks rotated back to frontal with the head-pose
matrix and divided by the face width (cheek 234 to cheek 454). Per AU the calibration
(`device/microemo/vision/au_calibration.toml`) holds two linear heads, each a logistic
regression fitted to FACS-coded faces:

- the **absolute** head reads the 68 signals as they are: what a face shows with no neutral
  reference (a photo, the first frames of a new face);
- the **relative** head reads only their deviation (`Δ`) from the face's own neutral
  baseline, so a face's static shape, the lighting and the camera drop out.

Each AU's evidence is mixed by how much neutral its face region (brows, eyes, nose, mouth)
has shown, `r = n / (n + k)` for `n` baseline samples of that region (k = {trust_k:g}; r = 0
below {trust_after} samples: a few frames of a face first seen mid-expression are no
neutral). A frame joins a region's baseline only when the absolute head sees none of that
region's AUs in it (each AU's evidence below its gate, set so that {share:.0%} of the
calibration's neutral faces pass; AU25, AU26 and AU45 never keep a frame out): a face that
enters smiling does not teach the device that its smile is neutral, and its brows at rest
still teach it the brows' neutral. Each region's baseline is the median of its samples
(every frame for the first 30, then `au.baseline_s` / 300 apart), held within {sigmas:g}
population standard deviations of the population neutral.

Evidence becomes an intensity on OpenFace's 0-5 scale through a heavy-tailed curve,
`5 · (1/2 + atan((z − threshold) / scale − 1.376) / π)`: 1.0 at the presence threshold
(`AUxx_c` switches on at `au.presence_on` = 1.0 and off at `au.presence_off`; on a face read
from one glance at its AU's `au.first_glance` bar, easing to 1.0 as the face's neutral
forms), and intensities keep their order far out instead of tying at 0 or 5. Presence sits
at even odds of the class-balanced regression; one scale for all fitted AUs puts the
median coded positive at about its median FACS intensity.
"""


def _provenance(result: CalibrationResult) -> list[str]:
    p = result.provenance
    return [
        f"Fitted by `{p.get('command', 'microemo-train facs-calibrate')}` on {p.get('date')}: "
        f"{p.get('data_set')}, {report.who(p)} "
        f"({p.get('licence') or 'licence not stated'}). Figures are cross-validated: "
        f"{p.get('cross_validation')}; every face is scored by a calibration fitted without "
        'its subject, read through the device\'s own AU estimator. "Before" is the hand-set '
        "table this calibration replaced, on the same faces.",
    ]


def _sets(result: CalibrationResult) -> list[str]:
    out = []
    for name, after in result.after.items():
        before = result.before[name]
        sb, sa = before["summary"], after["summary"]
        out += [f"### {name} ({after['coded']} coded faces)", ""]
        out += report.au_table(after["aus"], before["aus"])
        out += [
            "",
            f"Mean ROC-AUC {sb['auc']:.3f} -> **{sa['auc']:.3f}**, mean F1 "
            f"{sb['f1']:.3f} -> **{sa['f1']:.3f}** over {sa['aus']} AUs with at least 10 "
            "coded positives.",
        ]
        eb, ea = before.get("emotion"), after.get("emotion")
        if eb is not None and ea is not None:
            out.append(
                f"Core emotion from AUs alone: accuracy {eb.accuracy:.3f} -> "
                f"**{ea.accuracy:.3f}**, UF1 {eb.uf1:.3f} -> **{ea.uf1:.3f}** "
                f"({ea.n} labelled faces)."
            )
        out.append("")
    return out


def render(result: CalibrationResult) -> str:
    cal = result.cal
    lines = ["# Action Units: signals, calibration and how well they read real faces", ""]
    lines += ["Generated by `microemo-train facs-calibrate --docs docs/aus.md`; do not edit.", ""]
    lines += [*_provenance(result), ""]
    lines += ["## How an AU is computed", ""]
    lines += [
        METHOD.format(
            trust_k=cal.trust_k,
            trust_after=cal.trust_after,
            share=result.settings.neutral_pass,
            sigmas=result.settings.band_sigmas,
        )
    ]
    lines += ["## Figures, before and after", "", *_sets(result)]
    lines += [
        "## What feeds each AU",
        "",
        "The five signals that move the AU's evidence most across the calibration faces "
        "(weight times the signal's spread; `Δ` is the deviation from the face's "
        "neutral, + raises the AU, − lowers it).",
        "",
        "| AU | FACS name | fitted | strongest signals |",
        "|---|---|---|---|",
    ]
    for a, au in enumerate(AU_NAMES):
        fitted = "yes" if result.fitted[a] else "no (too few coded positives: hand-set)"
        lines.append(f"| {au} | {cal.names[au]} | {fitted} | {report.top_signals(result, a)} |")
    lines += [
        "",
        "## Geometric signals",
        "",
        "| signal | what it measures (face-width units, y up) |",
        "|---|---|",
    ]
    lines += [f"| {k} | {v} |" for k, v in GEOMETRY.items()]
    lines += [
        "",
        "## Limits",
        "",
        "- The calibration faces are posed, frontal and small (CK+'s 48x48 crops, "
        "upscaled); spontaneous, turned or high-resolution faces may read differently. "
        "Re-run `microemo-train facs-calibrate` on coded faces like yours "
        "(`--adapter au-csv` for DISFA/BP4D-style per-frame codes, `manifest` for your "
        "own) and point `au.calibration` at the result.",
        "- AUs with fewer coded positives than the fit needs keep their hand-set rows "
        "(table above).",
        "- AU14 and AU24 are read bilaterally; contempt's unilateral AU14 is only "
        "visible in `g_mouth_asym`.",
    ]
    return "\n".join(lines) + "\n"
