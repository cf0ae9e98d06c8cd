"""The ``spot-eval`` report as Markdown: spotting per cell, false alarms per rate and per
source, and recall per added AU set and intensity."""

from __future__ import annotations

from typing import Any

from microemo_train.spotting.synth import INTENSITY_LEVELS


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Spotting evaluation (generated ground truth, device pipeline)",
        "",
        f"{report['n_episodes']} episodes in {report['n_clips']} clips; "
        f"{report['seconds']:.0f} s to generate and run.",
        "",
        "| cell | truth | spotted | TP | precision | recall | F1 | AU F1 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, s in report["spotting"].items():
        lines.append(
            f"| {key} | {s['truth']} | {s['spotted']} | {s['tp']} | {s['precision']} "
            f"| {s['recall']} | {s['f1']} | {s['au_f1']} |"
        )
    lines += ["", "| untouched | minutes | false alarms | per minute |", "|---|---|---|---|"]
    for key, f in report["false_alarms"].items():
        lines.append(f"| {key} | {f['minutes']} | {f['false_alarms']} | {f['per_minute']} |")
    lines += ["", "| untouched source | minutes | false alarms | AUs named |", "|---|---|---|---|"]
    for key, f in report["false_alarms_by_source"].items():
        aus = ", ".join(f["aus"]) or "-"
        lines.append(f"| {key} | {f['minutes']} | {f['false_alarms']} | {aus} |")
    levels = list(INTENSITY_LEVELS)
    lines += [
        "",
        "| added AUs | " + " | ".join(f"{lv} found/truth" for lv in levels) + " |",
        "|---" * (len(levels) + 1) + "|",
    ]
    for key, v in report["recall_by_aus"].items():
        cells = [f"{v.get(lv + '_found', 0)}/{v.get(lv + '_truth', 0)}" for lv in levels]
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
