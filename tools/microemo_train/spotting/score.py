"""MEGC scoring (2020-2022) of spotted intervals against generated ground truth.

A spotted interval is a true positive when its IoU with a ground-truth interval of the same
clip is at least 0.5 (each truth matched once); precision, recall and F1 over all clips of
a cell. AU recognition: F1 of the named AUs of each true positive against the truth's AUs
(micro-averaged). False alarms: ``end`` events per minute on the untouched clips.
``paired``: two runs of the same plan episode by episode (``spot-eval --against``).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from microemo_train.paired import split
from microemo_train.spotting.plan import region
from microemo_train.spotting.warp import base_au


def iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else 0.0


def match(truth: list[dict], spots: list[dict], thr: float = 0.5) -> list[tuple[int, int]]:
    """Greedy one-to-one matching by IoU (largest first); pairs (truth index, spot index)."""
    pairs = sorted(
        (
            (iou((t["onset_ms"], t["offset_ms"]), (s["onset_ms"], s["offset_ms"])), i, j)
            for i, t in enumerate(truth)
            for j, s in enumerate(spots)
        ),
        reverse=True,
    )
    used_t: set[int] = set()
    used_s: set[int] = set()
    out = []
    for v, i, j in pairs:
        if v < thr:
            break
        if i not in used_t and j not in used_s:
            used_t.add(i)
            used_s.add(j)
            out.append((i, j))
    return out


def prf(tp: int, n_spot: int, n_truth: int) -> dict[str, float]:
    p = tp / n_spot if n_spot else 0.0
    r = tp / n_truth if n_truth else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {
        "tp": tp,
        "spotted": n_spot,
        "truth": n_truth,
        "precision": round(p, 3),
        "recall": round(r, 3),
        "f1": round(f, 3),
    }


def score_clip(labels: dict, ends: list[dict]) -> dict[str, Any]:
    truth = labels["episodes"]
    pairs = match(truth, ends)
    matched = {j for _, j in pairs}
    false = [e for j, e in enumerate(ends) if j not in matched]
    au_tp = au_fp = au_fn = 0
    for i, j in pairs:
        want = {base_au(a) for a in truth[i]["aus"]}  # the device names AU14 for AU14R
        got = {a["au"] for a in ends[j]["aus"]}
        au_tp += len(want & got)
        au_fp += len(got - want)
        au_fn += len(want - got)
    return {
        "tp": len(pairs),
        "spotted": len(ends),
        "truth": len(truth),
        "au_tp": au_tp,
        "au_fp": au_fp,
        "au_fn": au_fn,
        "matched": [
            (truth[i]["onset_ms"], ends[j]["onset_ms"], ends[j]["offset_ms"]) for i, j in pairs
        ],
        "hit": [any(i == k for k, _ in pairs) for i in range(len(truth))],
        "false_kinds": [e["kind"] for e in false],
        # spots that rose on top of a held episode of the face (``within``), false or hits
        "false_within": sum("within" in e for e in false),
        "tp_within": sum("within" in ends[j] for j in matched),
    }


def _source(row: dict) -> str:
    """CREMA-D's emotion code of the source clip (1001_DFA_NEU_XX.flv -> NEU), else its stem;
    "join" for the untouched sources joined one after another."""
    if row["cell"].get("join"):
        return "join"
    stem = Path(row["source"]).stem
    parts = stem.split("_")
    return parts[2] if len(parts) == 4 else stem


def summarize(rows: list[dict]) -> dict[str, Any]:
    cells: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        c = r["cell"]
        if c["kind"] == "untouched":
            continue
        for key in (
            "all",
            f"fps={c['fps']:.0f}",
            f"intensity={c['intensity']}",
            f"kind={c['kind']}",
            f"{c['intensity']}/{c['kind']}/{c['fps']:.0f}fps",
            f"source={_source(r)}",
            f"source={_source(r)}/{c['intensity']}",
        ):
            cells[key].append(r)
        if "aus" in c:  # the per-au suite: one AU set per clip
            for key in (
                f"aus={c['aus']}/{c['intensity']}/{c['fps']:.0f}fps",
                f"aus={c['aus']}/{c['intensity']}",
                f"region={region(c['aus'])}/{c['intensity']}/{c['fps']:.0f}fps",
            ):
                cells[key].append(r)
    report: dict[str, Any] = {
        "spotting": {},
        "false_alarms": {},
        "recall_by_aus": _recall_by_aus(rows),
        "false_alarms_by_source": _false_alarms_by_source(rows),
    }
    for key, rs in sorted(cells.items()):
        s = prf(
            sum(r["tp"] for r in rs), sum(r["spotted"] for r in rs), sum(r["truth"] for r in rs)
        )
        a = prf(
            sum(r["au_tp"] for r in rs),
            sum(r["au_tp"] + r["au_fp"] for r in rs),
            sum(r["au_tp"] + r["au_fn"] for r in rs),
        )
        within = sum(r.get("tp_within", 0) for r in rs)
        report["spotting"][key] = dict(s, au_f1=a["f1"], tp_within=within)
    report["false_alarms"] = false_alarms(rows)
    return report


def false_alarms(rows: list[dict]) -> dict[str, dict[str, Any]]:
    """Spots a minute that match no truth, per rate: on the untouched clips (every source
    played back and forth; the sources joined), and on the generated clips (spots beside the
    added expressions). ``micro``: those under 500 ms; the rest are macro episodes, e.g.
    an actor's own held expression. ``within``: those that rose on top of a held one."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        c = r["cell"]
        what = "joined" if c.get("join") else c["kind"]
        what = what if what in ("joined", "untouched") else "generated"
        groups[f"{what} {c['fps']:.0f}fps"].append(r)
    out: dict[str, dict[str, Any]] = {}
    for key in sorted(groups, key=lambda k: (k.split()[0] != "untouched", k)):
        rs = groups[key]
        minutes = sum(r["duration_ms"] for r in rs) / 60000.0
        n = sum(r["spotted"] - r["tp"] for r in rs)
        micro = sum(r.get("false_kinds", []).count("micro") for r in rs)
        within = sum(r.get("false_within", 0) for r in rs)
        out[key] = {
            "minutes": round(minutes, 2),
            "false_alarms": n,
            "per_minute": round(n / minutes, 2) if minutes else None,
            "micro_per_minute": round(micro / minutes, 2) if minutes else None,
            "within_per_minute": round(within / minutes, 2) if minutes else None,
        }
    return out


def _recall_by_aus(rows: list[dict]) -> dict[str, dict[str, int]]:
    """Truth episodes found (IoU >= 0.5) per added AU set and intensity."""
    out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in rows:
        for ep, hit in zip(r["episodes"], r.get("hit", ()), strict=False):
            key = "+".join(ep["aus"])
            out[key][f"{ep['intensity']}_truth"] += 1
            out[key][f"{ep['intensity']}_found"] += int(hit)
    return {k: dict(v) for k, v in sorted(out.items())}


def _false_alarms_by_source(rows: list[dict]) -> dict[str, dict[str, Any]]:
    """Untouched clips: spots per source, with the AUs each one named."""
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r["cell"]["kind"] != "untouched":
            continue
        o = out.setdefault(_source(r), {"minutes": 0.0, "false_alarms": 0, "aus": []})
        o["minutes"] = round(o["minutes"] + r["duration_ms"] / 60000.0, 3)
        o["false_alarms"] += r["spotted"]
        o["aus"] += ["+".join(a["au"] for a in s["aus"]) for s in r.get("spots", ())]
    return out


def _episodes(rows: list[dict]) -> dict[tuple[str, int], tuple[str, bool]]:
    """(clip, episode) -> (its AU set, found); the AU set is the clip's (per-au suite) or
    the episode's own."""
    out = {}
    for r in rows:
        for i, (e, hit) in enumerate(zip(r["episodes"], r["hit"], strict=True)):
            aus = r["cell"].get("aus") or "+".join(sorted(e["aus"]))
            out[(r["clip"], i)] = (aus, bool(hit))
    return out


def _false(rows: list[dict], clips: set[str]) -> tuple[int, int]:
    """Spots matching no truth (all, micro) over ``clips``."""
    rs = [r for r in rows if r["clip"] in clips]
    return sum(r["spotted"] - r["tp"] for r in rs), sum(
        k == "micro" for r in rs for k in r["false_kinds"]
    )


def paired(here: list[dict], there: list[dict]) -> dict[str, Any]:
    """Two spot-eval runs of the same plan, episode by episode (clips matched by name): the
    episodes only one of them finds, per AU set, with the sign test, and the false alarms of
    both over the same clips."""
    a, b = _episodes(here), _episodes(there)
    s = split(a, b)
    clips = {r["clip"] for r in here} & {r["clip"] for r in there}
    return {
        "clips": len(clips),
        "episodes": len(s.both),
        "only_here": s.only_here,
        "only_there": s.only_there,
        "found_here": sum(a[k][1] for k in s.both),
        "found_there": sum(b[k][1] for k in s.both),
        "found_here_only": len(s.gained),
        "found_there_only": len(s.lost),
        "p_sign": s.p_sign,
        "by_aus": {
            aus: {"found_here_only": g, "found_there_only": lo}
            for aus, (g, lo) in s.by_group.items()
        },
        "false_here": _false(here, clips),
        "false_there": _false(there, clips),
    }
