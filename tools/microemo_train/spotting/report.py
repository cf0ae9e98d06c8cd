"""The ``spot-eval`` report as Markdown: false alarms a minute first (untouched talking
faces, the sources joined, beside the generated expressions), F1 per AU set, intensity and
rate (the per-au suite), spotting per cell, false alarms per source, and recall per added
AU set and intensity; with ``--against``, the episodes only one of two runs finds."""

from __future__ import annotations

from typing import Any

from microemo_train.spotting import why
from microemo_train.spotting.synth import INTENSITY_LEVELS


def markdown(report: dict[str, Any]) -> str:
    lines = [
        "# Spotting evaluation (generated ground truth, device pipeline)",
        "",
        f"{report['n_episodes']} episodes in {report['n_clips']} clips; "
        f"{report['seconds']:.0f} s to generate and run.",
        "",
        "| false alarms | minutes | count | per minute | micro per minute "
        "| on a held one per minute |",
        "|---|---|---|---|---|---|",
    ]
    for key, f in report["false_alarms"].items():
        lines.append(
            f"| {key} | {f['minutes']} | {f['false_alarms']} | {f['per_minute']} "
            f"| {f['micro_per_minute']} | {f.get('within_per_minute', '-')} |"
        )
    every = report["spotting"].get("all")
    if every is not None:
        lines += [
            "",
            f"Hits that rose on top of an expression the face held (`within`): "
            f"{every.get('tp_within', 0)} of {every['tp']}.",
        ]
    if "against" in report:
        lines += _against(report["against"])
    lines += _per_au(report["spotting"])
    lines += [
        "",
        "| cell | truth | spotted | TP | precision | recall | F1 | AU F1 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for key, s in report["spotting"].items():
        lines.append(
            f"| {key} | {s['truth']} | {s['spotted']} | {s['tp']} | {s['precision']} "
            f"| {s['recall']} | {s['f1']} | {s['au_f1']} |"
        )
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
    lines += why.markdown(report.get("missed", {}))
    return "\n".join(lines) + "\n"


def _per_au(spotting: dict[str, dict[str, Any]]) -> list[str]:
    """F1 (truth) per AU set and region, one column per intensity and rate: the per-au
    suite's table; nothing for the mixed suite."""
    rows = sorted(
        {k.split("/")[0] for k in spotting if k.startswith(("aus=", "region=")) and "/" in k},
        key=lambda k: (not k.startswith("region="), k),
    )
    if not rows:
        return []
    cols = [(lv, fps) for fps in ("100fps", "30fps") for lv in reversed(INTENSITY_LEVELS)]
    out = [
        "",
        "F1 (episodes) per AU set: each clip holds one AU set, so its unmatched spots are that "
        "set's false positives.",
        "",
        "| AU set | " + " | ".join(f"{lv} {fps}" for lv, fps in cols) + " |",
        "|---" * (len(cols) + 1) + "|",
    ]
    for row in rows:
        cells = []
        for lv, fps in cols:
            s = spotting.get(f"{row}/{lv}/{fps}")
            cells.append(f"{s['f1']:.2f} ({s['truth']})" if s else "-")
        out.append(f"| {row.split('=')[1]} | " + " | ".join(cells) + " |")
    return out


def _against(p: dict[str, Any]) -> list[str]:
    fh, fhm = p["false_here"]
    ft, ftm = p["false_there"]
    lines = [
        "",
        f"Against {p['report']}: {p['episodes']} episodes in {p['clips']} clips scored by both; "
        f"found {p['found_here']} here, {p['found_there']} there. Found only here "
        f"**{p['found_here_only']}**, only there **{p['found_there_only']}** (sign test p = "
        f"{p['p_sign']:.3f}: how likely so uneven a split is by chance). Spots matching no "
        f"truth on those clips: {fh} here (micro {fhm}), {ft} there (micro {ftm}).",
    ]
    if p["by_aus"]:
        lines += ["", "| AU set | found only here | found only there |", "|---|---|---|"]
        for aus, k in p["by_aus"].items():
            lines.append(f"| {aus} | {k['found_here_only']} | {k['found_there_only']} |")
    if p["only_here"] or p["only_there"]:
        lines.append(
            f"\nEpisodes in one run only (another plan?): {p['only_here']} here, "
            f"{p['only_there']} there."
        )
    return lines
