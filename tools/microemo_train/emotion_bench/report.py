"""The emotion benchmark's figures as a terminal table, a JSON file and a reliability plot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _chance_lines(chance: dict[str, Any] | None, confident: float) -> list[str]:
    """How far the figures above could move on other inputs like these (``score.chance``)."""
    if not chance:
        return []
    said = []
    for name, key in (("accuracy", "accuracy"), ("ECE", "ece")):
        if chance[key]:
            low, high = chance[key]
            said.append(f"{name} {low:.3f}-{high:.3f}")
    if chance["neutral_as_emotion_confident"]:
        low, high = chance["neutral_as_emotion_confident"]
        said.append(f"neutral an emotion at >= {confident:.1f} {low:.1%}-{high:.1%}")
    units = "people" if chance["by"] == "person" else "inputs"
    return [
        f"95 % intervals ({chance['draws']} draws of the {chance['units']} {units}): "
        + ", ".join(said)
    ]


def lines(result: dict[str, Any]) -> list[str]:
    """The table a user reads after a run."""
    out = [
        f"inputs {result['n']}, no face found in {result['no_face']}",
        f"accuracy {result['accuracy']:.3f}  UF1 {result['uf1']:.3f}  UAR {result['uar']:.3f}",
    ]
    cal = result["calibration"]
    if cal["ece"] is not None:
        out.append(
            f"calibration: expected calibration error {cal['ece']:.3f} (shown score vs right)"
            + leaning(cal.get("mean_score"), cal.get("accuracy"))
        )
    if "neutral_as_emotion" in result:
        out.append(
            f"neutral read as an emotion: {result['neutral_as_emotion']:.1%}, at score >= "
            f"{result['confident']:.1f}: {result['neutral_as_emotion_confident']:.1%}"
        )
    out += _chance_lines(result.get("chance"), result.get("confident", 0.8))
    out.append("")
    out.append(f"{'class':12s} {'n':>6s} {'recall':>7s} {'F1':>6s}  most often read as")
    for c, rec in result["recall"].items():
        conf = result["confusion"][c]
        n = sum(conf.values())
        top = ", ".join(f"{k} {v}" for k, v in sorted(conf.items(), key=lambda kv: -kv[1])[:3])
        rec_text = f"{rec:7.3f}" if rec is not None else "      -"
        out.append(f"{c:12s} {n:6d} {rec_text} {result['f1'][c]:6.3f}  {top}")
    shares = ", ".join(f"{k} {v:.0%}" for k, v in result["answer_share"].items())
    out.append(f"answers: {shares}")
    if result.get("by_yaw"):
        out.append("head turned (deg)   n  accuracy  resting read as an emotion >= "
                   f"{result.get('confident', 0.8):.1f}  most answered")  # fmt: skip
        for name, b in result["by_yaw"].items():
            rest = b["neutral_as_emotion_confident"]
            rest_text = f"{rest:6.1%} of {b['neutral']}" if rest is not None else "     -"
            out.append(
                f"  {name:>8s} {b['n']:8d} {b['accuracy']:9.3f}  {rest_text:>28s}  "
                f"{b['top_answer']} {b['top_share']:.0%}"
            )
    out += _resting_lines(result.get("resting_by_subject") or {})
    return out


def group_lines(column: str, by: dict[str, Any], confident: float) -> list[str]:
    """The figures per group of ``--by COLUMN`` (``groups.by_group``) and the gaps."""
    out = [
        "",
        f"by {column:14s} {'n':>6s} {'no face':>8s} {'accuracy':>9s}  resting read as an emotion "
        f"(>= {confident:.1f})  most answered",
    ]
    for name, g in by["groups"].items():
        rest = (
            f"{g['neutral_as_emotion']:6.1%} ({g['neutral_as_emotion_confident']:.1%}) of "
            f"{g['neutral']}"
            if g["neutral"]
            else "-"
        )
        top = f"{g['top_answer']} {g['top_share']:.0%}" if g["top_answer"] else "-"
        out.append(
            f"  {name:16s} {g['n']:6d} {g['no_face']:8d} {g['accuracy']:9.3f}  {rest:>33s}  {top}"
        )
    for key, what, fmt in (
        ("gap_accuracy", "accuracy", "{:.3f}"),
        ("gap_neutral_as_emotion", "resting faces read as an emotion", "{:.0%}"),
    ):
        gap = by.get(key)
        if gap and not gap["difference"]:
            out.append(f"gap in {what}: none, every group alike")
        elif gap:
            out.append(
                f"gap in {what}: {fmt.format(gap['difference'])} ({gap['highest']} highest, "
                f"{gap['lowest']} lowest); p {gap['p']:.3f} that groups alike would differ as "
                "much"
            )
    return out


def leaning(mean: float | None, right: float | None, margin: float = 0.05) -> str:
    """Which way the shown scores err overall: their mean against the share of the faces
    found read right (both from ``score.calibration``); a verdict past ``margin``."""
    if mean is None or right is None:
        return ""
    way = (
        ": the scores say less than they should"
        if mean <= right - margin
        else ": the scores say more than they should"
        if mean >= right + margin
        else ""
    )
    return f"; of the faces found, mean score {mean:.3f} against {right:.3f} read right{way}"


def _resting_lines(people: dict[str, Any], shown: int = 5) -> list[str]:
    """Whose resting faces were read as an emotion: the people, most often first."""
    if not people:
        return []
    misread = {k: v for k, v in people.items() if v["as_emotion"]}
    half = sum(2 * v["as_emotion"] >= v["neutral"] for v in misread.values())
    out = [
        f"resting faces by person: {len(misread)} of {len(people)} people read as an emotion "
        f"at rest at least once, {half} in half their resting faces or more"
    ]
    for who, v in list(misread.items())[:shown]:
        what = ", ".join(f"{k} {n}" for k, n in v["answers"].items())
        out.append(
            f"  {who}: {v['as_emotion']} of {v['neutral']} ({what}; highest score "
            f"{v['max_score']:.2f})"
        )
    if len(misread) > shown:
        out.append(f"  and {len(misread) - shown} more (--json has them all)")
    return out


def paired_lines(result: dict[str, Any], there: str) -> list[str]:
    """The comparison with another run of the same inputs (``--against``)."""
    out = [
        "",
        f"against {there}: {result['n']} inputs read by both (accuracy "
        f"{result['accuracy_here']:.3f} here, {result['accuracy_there']:.3f} there)",
        f"  read right only here: {result['right_here_only']}, only there: "
        f"{result['right_there_only']}; sign test p = {result['p_sign']:.3f} (two-sided: how "
        "likely so uneven a split is by chance)",
    ]
    for c, k in result["by_class"].items():
        out.append(f"  {c:12s} +{k['right_here_only']} -{k['right_there_only']}")
    for g, k in result.get("by_yaw", {}).items():
        out.append(
            f"  turned {g:>5s} deg +{k['right_here_only']} -{k['right_there_only']} "
            f"(p {k['p_sign']:.3f})"
        )
    for column, groups in result.get("by", {}).items():
        for g, k in groups.items():
            out.append(
                f"  {column} {g}: +{k['right_here_only']} -{k['right_there_only']} "
                f"(p {k['p_sign']:.3f})"
            )
    for key, what in (("right_here_only", "only here"), ("right_there_only", "only there")):
        if result["examples"][key]:
            out.append(f"  right {what}: {', '.join(result['examples'][key])}")
    if result["only_here"] or result["only_there"]:
        out.append(
            f"  read in one run only: {result['only_here']} here, {result['only_there']} there"
        )
    return out


def write_json(path: Path, result: dict[str, Any], meta: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"format": 1, **meta, "figures": result}, indent=1) + "\n")


def reliability_plot(path: Path, result: dict[str, Any], title: str) -> None:
    """Accuracy against shown score per bin (the diagonal is a calibrated reading), with
    the number of inputs per bin below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bins = result["calibration"]["bins"]
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(5, 6), gridspec_kw={"height_ratios": [3, 1]}, sharex=True
    )
    mids = [(b["low"] + b["high"]) / 2 for b in bins]
    width = bins[0]["high"] - bins[0]["low"] if bins else 0.1
    top.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="calibrated")
    top.bar(mids, [b["accuracy"] for b in bins], width=width * 0.9, alpha=0.6, label="right")
    top.plot(
        [b["score"] for b in bins],
        [b["accuracy"] for b in bins],
        "o-",
        color="C3",
        label="mean score -> right",
    )
    top.set_ylabel("share right")
    top.set_ylim(0, 1)
    top.legend(loc="upper left", fontsize=8)
    ece = result["calibration"]["ece"]
    top.set_title(f"{title}\nECE {ece:.3f}" if ece is not None else title, fontsize=9)
    bottom.bar(mids, [b["n"] for b in bins], width=width * 0.9, color="grey")
    bottom.set_xlabel("shown score")
    bottom.set_ylabel("inputs")
    bottom.set_xlim(0, 1)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
