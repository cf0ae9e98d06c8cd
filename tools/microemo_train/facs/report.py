"""Figures as text for the terminal and as ``docs/aus.md``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from microemo.types import AU_NAMES
from microemo_train.facs import emotion
from microemo_train.facs.metrics import AUFigures, Scored, per_au, per_subject, summary
from microemo_train.facs.replay import Replay

if TYPE_CHECKING:
    from microemo_train.facs.calibrate import CalibrationResult


def device_emotions(
    replays: list[Replay], prototypes_only: bool = False
) -> emotion.EmotionFigures | None:
    """The core emotion the device's rules give each labelled item's last frame: the
    installed tables, or the hand prototypes alone (no fitted weights)."""
    from microemo.emotion.rules import classify_aus, hand_tables

    rows = emotion.emotion_rows(replays, with_neutral=False)
    if len(rows.label) == 0:
        return None
    tables = hand_tables() if prototypes_only else None
    pred = np.array([classify_aus(x.astype(np.float32), tables=tables).core for x in rows.x])
    return emotion.figures(rows.label, pred)


def score(
    replays: list[Replay],
    min_positives: int = 10,
    emotion_figures: emotion.EmotionFigures | None = None,
    prototypes_only: bool = False,
) -> dict[str, Any]:
    sc = Scored.from_replays(replays)
    if emotion_figures is None:
        emotion_figures = device_emotions(replays, prototypes_only)
    figs = per_au(sc, min_positives)
    return {
        "items": len(replays),
        "coded": len(sc.keys),
        "aus": figs,
        "summary": summary(figs),
        "subjects": per_subject(sc),
        "emotion": emotion_figures,
    }


def at_rest(sc: Scored) -> tuple[dict[str, Any], np.ndarray]:
    """The coded frames with no AU coded present (a face at rest): how many, the share read
    with some coded AU present anyway, how many AUs a face on average, and which, most often
    first; and the count of each resting face (for the gap between groups)."""
    known = sc.y >= 0
    rest = known.any(axis=1) & ~(sc.y == 1).any(axis=1)
    wrong = sc.present & known & rest[:, None]
    counts, per_face = wrong.sum(axis=0), wrong.sum(axis=1)[rest]
    order = np.argsort(-counts, kind="stable")
    figures = {
        "frames": int(rest.sum()),
        "read_with_au": round(float((per_face > 0).mean()), 4) if rest.any() else None,
        "mean_aus": round(float(per_face.mean()), 3) if rest.any() else None,
        "aus": {AU_NAMES[a]: int(counts[a]) for a in order if counts[a]},
    }
    return figures, per_face


def by_group(replays: list[Replay], column: str, min_positives: int) -> dict[str, Any]:
    """``facs-bench --by COLUMN``: per value of the manifest's ``column``, the mean ROC-AUC
    and F1 over the AUs with ``min_positives`` there, and the faces at rest read with an AU
    (``at_rest``); and whether the AUs read on the groups' resting faces differ more than
    chance (the mean count a face)."""
    from microemo_train.facs.manifest import BY
    from microemo_train.group_gap import BLANK, gap

    parts: dict[str, list[Replay]] = {}
    for rp in replays:
        parts.setdefault(rp.item.meta.get(BY + column) or BLANK, []).append(rp)
    groups, rest_of = {}, []
    for name in sorted(parts):
        sc = Scored.from_replays(parts[name])
        rest, per_face = at_rest(sc)
        rest_of += [(name, int(v)) for v in per_face]
        groups[name] = {"items": len(parts[name]), "summary": summary(per_au(sc, min_positives)),
                        "at_rest": rest}  # fmt: skip
    gap_rest = gap([g for g, _ in rest_of], np.array([v for _, v in rest_of])) if rest_of else None
    return {"groups": groups, "gap_at_rest": gap_rest}


def group_lines(by: dict[str, Any]) -> list[str]:
    """The figures per group of ``--by COLUMN`` (``by_group``)."""
    out = ["per group: items, mean ROC-AUC, mean F1; faces at rest read with an AU, AUs a face"]
    for name, g in by["groups"].items():
        s, r = g["summary"], g["at_rest"]
        rest = "-"
        if r["frames"]:
            which = ", ".join(f"{a} {n}" for a, n in list(r["aus"].items())[:3])
            rest = f"{r['read_with_au']:.0%} of {r['frames']}, {r['mean_aus']:.2f} AUs a face"
            rest += f" ({which})" if which else ""
        out.append(
            f"  {name}: {g['items']} items, ROC-AUC {_num(s['auc'], '.3f')} over {s['aus']} AUs, "
            f"F1 {_num(s['f1'], '.3f')}; at rest {rest}"
        )
    if gap := by["gap_at_rest"]:
        out.append(
            f"gap in AUs read on a face at rest: {gap['difference']:.2f} ({gap['highest']} "
            f"highest, {gap['lowest']} lowest); p {gap['p']:.3f} that groups alike would differ "
            "as much"
        )
    return out


def _num(v: float | None, fmt: str = ".2f") -> str:
    return "-" if v is None or (isinstance(v, float) and np.isnan(v)) else format(v, fmt)


def au_table(figs: list[AUFigures], before: list[AUFigures] | None = None) -> list[str]:
    old = {f.au: f for f in before or []}
    lines = ["| AU | positives | ROC-AUC | F1 | corr |", "|---|---|---|---|---|"]
    for f in figs:
        if f.auc is None:
            continue
        b = old.get(f.au)

        def pair(key: str, b: AUFigures | None = b, f: AUFigures = f) -> str:
            now = _num(getattr(f, key))
            return f"{_num(getattr(b, key))} -> {now}" if b is not None else now

        lines.append(f"| {f.au} | {f.positives} | {pair('auc')} | {pair('f1')} | {pair('corr')} |")
    return lines


def _emotion_line(name: str, e: emotion.EmotionFigures | None) -> str:
    if e is None:
        return f"{name}: no emotion labels"
    return f"{name}: accuracy {e.accuracy:.3f}, UF1 {e.uf1:.3f} ({e.n} items)"


def bench_text(result: dict[str, Any], per_subject: bool = False) -> str:
    ds = result.get("data_set") or {}
    out = [f"calibration: {result['calibration']}"]
    if ds:
        out.append(f"data set: {ds.get('layout')} at {ds.get('root')}")
        out += [f"note: {n}" for n in ds.get("notes", [])]
    for name, r in result["sets"].items():
        s = r["summary"]
        out.append(f"\n## {name}: {r['items']} items, {r['coded']} coded frames, {s['aus']} AUs")
        out += au_table(r["aus"])
        out.append(
            f"mean ROC-AUC {_num(s['auc'], '.3f')}, mean F1 {_num(s['f1'], '.3f')}, mean corr "
            f"{_num(s['corr'], '.3f')}"
        )
        worst = sorted(r["subjects"].items(), key=lambda kv: kv[1]["agreement"])[:3]
        out.append(
            "least agreement by subject: "
            + ", ".join(f"{k} {v['agreement']:.2f} ({v['frames']} frames)" for k, v in worst)
        )
        if per_subject:
            out += subject_lines(r["subjects"])
        out.append(_emotion_line("core emotion from AUs (device rules)", r["emotion"]))
    return "\n".join(out)


def subject_lines(subjects: dict[str, dict[str, Any]]) -> list[str]:
    """One line per subject: coded frames, decisions that agree with the codes, recall of
    the coded AUs, mean ROC-AUC over the AUs the subject shows both present and absent."""
    out = ["per subject: coded frames, agreement (AU decisions), recall, mean ROC-AUC"]
    for k, v in subjects.items():
        auc = f"{_num(v['auc'])} over {v['aus']} AUs" if v.get("auc") is not None else "-"
        out.append(
            f"  {k}: {v['frames']} frames, agreement {v['agreement']:.2f}, "
            f"recall {v['recall']:.2f}, ROC-AUC {auc}"
        )
    return out


def jsonable(o: Any) -> Any:
    """Figures as plain JSON: dataclasses as objects, NaN as null, numpy as Python."""
    from dataclasses import asdict, is_dataclass

    if is_dataclass(o) and not isinstance(o, type):
        return jsonable(asdict(o))
    if isinstance(o, dict):
        return {str(k): jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [jsonable(v) for v in o]
    if isinstance(o, np.generic):
        o = o.item()
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, float) and not np.isfinite(o):
        return None
    return o


def who(prov: dict[str, Any]) -> str:
    """Whose faces: the subjects, and apart from them the stills of sets without subject
    ids (each still its own subject in the folds), then the items in all."""
    stills = int(prov.get("stills_count", 0) or 0)
    subjects = int(prov.get("subjects", 0) or 0) - stills
    extra = f", {stills} stills without subject ids" if stills else ""
    return f"{subjects} subjects{extra}, {prov.get('items')} items"


def compare_text(before: dict[str, Any], after: dict[str, Any], prov: dict[str, Any]) -> str:
    out = [f"data: {prov.get('data_set')} ({who(prov)}); after = {prov.get('cross_validation')}"]
    out += [f"note: {n}" for n in prov.get("notes", [])]
    for name in after:
        b, a = before[name], after[name]
        out.append(
            f"\n## {name} (before: {prov.get('base', 'the calibration installed now')}, "
            "emotion from the hand prototypes)"
        )
        out += au_table(a["aus"], b["aus"])
        sb, sa = b["summary"], a["summary"]
        out.append(
            f"mean ROC-AUC {sb['auc']:.3f} -> {sa['auc']:.3f}, "
            f"mean F1 {sb['f1']:.3f} -> {sa['f1']:.3f}"
        )
        out.append(_emotion_line("core emotion before", b["emotion"]))
        out.append(_emotion_line("core emotion after", a["emotion"]))
    return "\n".join(out)


def top_signals(result: CalibrationResult, a: int, n: int = 5) -> str:
    """The signals that move this AU's evidence most across faces (|weight| x spread)."""
    cal, sd = result.cal, np.nan_to_num(result.signal_sd)
    w_rel = cal.w_rel[a]
    influence = {}
    for i, name in enumerate(cal.signals):
        influence[name] = abs(cal.w_abs[a, i]) * sd[i]
        influence[f"Δ{name}"] = abs(w_rel[i]) * sd[i]
    best = sorted(influence, key=lambda s: -influence[s])[:n]
    sign = {name: np.sign(cal.w_abs[a, i]) for i, name in enumerate(cal.signals)}
    sign.update({f"Δ{name}": np.sign(w_rel[i]) for i, name in enumerate(cal.signals)})
    return ", ".join(f"`{s}` {'+' if sign[s] > 0 else '−'}" for s in best)


def docs_markdown(result: CalibrationResult) -> str:
    from microemo_train.facs import docs

    return docs.render(result)


def by_name(figs: list[AUFigures]) -> dict[str, AUFigures]:
    return {f.au: f for f in figs}


__all__ = ["AU_NAMES", "bench_text", "compare_text", "score", "top_signals"]
