"""``microemo-train spot-eval``: spotting scored the MEGC way on generated ground truth.

Clips are generated with ``synth`` on the real source clips: each clip holds one cell of
(intensity, duration class, fps) with several single- or two-AU episodes spaced in time;
untouched clips (the same sources played back and forth, nothing added) count false
alarms. Every clip then goes through the DEVICE pipeline (``microemo.pipeline.Pipeline`` on
``open_file_source``), and the ``end`` events are the spotted intervals.

Scoring (MEGC 2020-2022): a spotted interval is a true positive when its IoU with a
ground-truth interval of the same clip is at least 0.5 (each truth matched once); precision,
recall and F1 over all clips of a cell. AU recognition: F1 of the named AUs of each true
positive against the truth's AUs (micro-averaged). False alarms: ``end`` events per minute
on the untouched clips.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import pickle
import time
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from microemo_train.synth import INTENSITY_LEVELS, Episode, SourceClip, write_clip

logger = logging.getLogger(__name__)

GENERATOR = 3  # bump when synth renders the same plan differently (invalidates --cache)
CLIPS_DIR = Path(__file__).resolve().parents[2] / "tests" / "data" / "crema_d" / "clips"
AU_SETS: tuple[tuple[str, ...], ...] = (
    ("AU12",),
    ("AU04",),
    ("AU01", "AU02"),
    ("AU15",),
    ("AU09",),
    ("AU10",),
    ("AU14",),
    ("AU01",),
    ("AU05",),
    ("AU17",),
    ("AU06", "AU12"),
    ("AU20",),
    ("AU01", "AU04"),
)
DURATIONS = {"micro": (200.0, 450.0), "macro": (600.0, 1400.0)}
SPACING = {"micro": 700.0, "macro": 1200.0}
CLIP_MS = {"micro": 8000.0, "macro": 10000.0}


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


def plan_clip(
    rng: np.random.Generator, kind: str, level: str, duration_ms: float, start_ms: float = 1500.0
) -> list[Episode]:
    """Episodes of one cell, one after another with a quiet gap between them."""
    eps: list[Episode] = []
    t = start_ms
    lo, hi = DURATIONS[kind]
    while True:
        d = float(rng.uniform(lo, hi))
        if t + d + 300 > duration_ms:
            return eps
        apex = t + d * float(rng.uniform(0.3, 0.5))
        aus = AU_SETS[int(rng.integers(len(AU_SETS)))]
        eps.append(
            Episode(
                t,
                apex,
                t + d,
                dict.fromkeys(aus, INTENSITY_LEVELS[level]),
                intensity=level,
                kind=kind,
            )
        )
        t += d + SPACING[kind] * float(rng.uniform(0.8, 1.2))


Recorded = list[tuple[float, int, list]]  # (t_ms, frame index, FaceObservations)


def landmarks(path: Path, fps: float | None = None, config: Any = None) -> Recorded:
    """The device's measurements (``Pipeline.observe``: landmarker, optical flow) on every
    frame of a clip."""
    from microemo.config import Config
    from microemo.pipeline import Pipeline
    from microemo.sources.files import open_file_source

    with Pipeline(config or Config()) as pipe, open_file_source(path, fps=fps) as src:
        return [(f.t_ms, f.index, pipe.observe(f)) for f in src]


def spot_recorded(recorded: Recorded, config: Any = None) -> list[dict]:
    """Everything after the landmarker (the device ``Pipeline``) over recorded
    observations; return the ``end`` events."""
    from microemo.config import Config
    from microemo.pipeline import Pipeline
    from microemo.publish.events import EventBuilder
    from microemo.publish.sequence import MemoryStore, SequenceAllocator

    config = (config or Config()).model_copy(deep=True)
    config.output.jsonl = ""
    pipe = Pipeline(config, landmarker=_NoLandmarker())
    sequence = SequenceAllocator(MemoryStore())
    events = EventBuilder(config.device.id, sequence)
    steps = []
    for t_ms, index, faces in recorded:
        steps += pipe.process_faces(faces, t_ms, index).steps
    ends = [e for e in map(events.build, steps + pipe.finish()) if e["phase"] == "end"]
    sequence.close()
    return ends


class _NoLandmarker:
    def detect(self, frame: Any) -> list:
        raise RuntimeError("replaying recorded landmarks: no frames expected")


def spot_clip(path: Path, fps: float | None = None, config: Any = None) -> list[dict]:
    """Run the device pipeline over one clip; return its ``end`` events."""
    return spot_recorded(landmarks(path, fps, config), config)


def au_series(path: Path) -> dict[str, np.ndarray]:
    """The device pipeline's AU series of the first face: t_ms, intensity, pose, ready."""
    from microemo.config import Config
    from microemo.pipeline import Pipeline
    from microemo.sources.files import open_file_source

    pipe = Pipeline(Config())
    t, x, r, ok = [], [], [], []
    try:
        with open_file_source(path) as src:
            for frame in src:
                for au in pipe.process(frame).faces[:1]:
                    t.append(au.t_ms)
                    x.append(au.intensity)
                    r.append(au.face.pose_r_rad)
                    ok.append(au.baseline_ready)
    finally:
        pipe.close()
    return {
        "t_ms": np.array(t),
        "intensity": np.array(x, np.float32),
        "pose_r_rad": np.array(r, np.float32),
        "baseline_ready": np.array(ok),
    }


def score_clip(labels: dict, ends: list[dict]) -> dict[str, Any]:
    truth = labels["episodes"]
    pairs = match(truth, ends)
    au_tp = au_fp = au_fn = 0
    for i, j in pairs:
        want = set(truth[i]["aus"])
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
    }


def _source(row: dict) -> str:
    """CREMA-D's emotion code of the source clip (1001_DFA_NEU_XX.flv -> NEU), else its stem."""
    stem = Path(row["source"]).stem
    parts = stem.split("_")
    return parts[2] if len(parts) == 4 else stem


def plan(
    seed: int,
    clips_per_cell: dict[float, int],
    sources: list[Path],
    untouched_ms: dict[float, float],
) -> list[dict]:
    """Every clip to make: name, source, fps, duration, episodes and its cell."""
    rng = np.random.default_rng(seed)
    plans: list[dict] = []
    k = 0
    for fps, n in clips_per_cell.items():
        for level in INTENSITY_LEVELS:
            for kind in DURATIONS:
                for _ in range(n):
                    src = sources[k % len(sources)]
                    k += 1
                    dur = CLIP_MS[kind]
                    plans.append(
                        {
                            "name": f"{len(plans):03d}_{src.stem}_{level}_{kind}_{fps:.0f}fps.avi",
                            "source": src,
                            "fps": fps,
                            "duration_ms": dur,
                            "episodes": plan_clip(rng, kind, level, dur),
                            "cell": {"fps": fps, "intensity": level, "kind": kind},
                        }
                    )
    for fps, dur in untouched_ms.items():
        for src in sources:
            plans.append(
                {
                    "name": f"{len(plans):03d}_{src.stem}_untouched_{fps:.0f}fps.avi",
                    "source": src,
                    "fps": fps,
                    "duration_ms": dur,
                    "episodes": [],
                    "cell": {"fps": fps, "intensity": "none", "kind": "untouched"},
                }
            )
    return plans


def summarize(rows: list[dict]) -> dict[str, Any]:
    groups: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
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
            groups["cells"][key].append(r)
    report: dict[str, Any] = {
        "spotting": {},
        "false_alarms": {},
        "recall_by_aus": _recall_by_aus(rows),
        "false_alarms_by_source": _false_alarms_by_source(rows),
    }
    for key, rs in sorted(groups["cells"].items()):
        s = prf(
            sum(r["tp"] for r in rs), sum(r["spotted"] for r in rs), sum(r["truth"] for r in rs)
        )
        a = prf(
            sum(r["au_tp"] for r in rs),
            sum(r["au_tp"] + r["au_fp"] for r in rs),
            sum(r["au_tp"] + r["au_fn"] for r in rs),
        )
        report["spotting"][key] = dict(s, au_f1=a["f1"])
    for fps in sorted({r["cell"]["fps"] for r in rows if r["cell"]["kind"] == "untouched"}):
        rs = [r for r in rows if r["cell"]["kind"] == "untouched" and r["cell"]["fps"] == fps]
        minutes = sum(r["duration_ms"] for r in rs) / 60000.0
        n = sum(r["spotted"] for r in rs)
        report["false_alarms"][f"{fps:.0f}fps"] = {
            "minutes": round(minutes, 2),
            "false_alarms": n,
            "per_minute": round(n / minutes, 2) if minutes else None,
        }
    return report


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


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "spot-eval",
        help="score spotting on generated micro-expressions",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "-o",
        "--out",
        type=Path,
        default=Path("build/spot_eval"),
        help="work folder: clips, labels, report.json, report.md",
    )
    p.add_argument("--clips", type=Path, default=CLIPS_DIR, help="folder of source clips")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--per-cell-30", type=int, default=5, help="clips per cell at 29.97 fps")
    p.add_argument("--per-cell-100", type=int, default=2, help="clips per cell at 100 fps")
    p.add_argument(
        "--untouched-s",
        type=float,
        default=15.0,
        help="seconds of untouched video per source clip at 29.97 fps (a quarter of it at 100 fps)",
    )
    p.add_argument("--keep", action="store_true", help="keep the generated clips")
    p.add_argument(
        "--cache",
        type=Path,
        help="keep each clip's labels and landmarks here; a re-run with the same plan skips "
        "generation and the landmarker, so trying spotting settings takes seconds",
    )
    p.add_argument("--config", type=Path, help="device config TOML (spotting parameters)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. spotting.hold_enabled=false",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from microemo.config import load_config

    t0 = time.monotonic()
    config = load_config(args.config, dict(kv.split("=", 1) for kv in args.set))
    sources = sorted(args.clips.glob("*.flv")) or sorted(args.clips.glob("*.mp4"))
    if not sources:
        raise SystemExit(f"{args.clips}: no .flv or .mp4 clips; pass --clips")
    clips = args.out / "clips"
    plans = plan(
        args.seed,
        {29.97: args.per_cell_30, 100.0: args.per_cell_100},
        sources,
        {29.97: args.untouched_s * 1000, 100.0: args.untouched_s * 250},
    )
    loaded: dict[Path, Any] = {}
    rows = []
    for i, pl in enumerate(plans):
        src = loaded.get(pl["source"]) or loaded.setdefault(pl["source"], _LazySource(pl["source"]))
        path = clips / pl["name"]
        lab, recorded = _generate(src, path, pl, config, args.cache)
        if not args.keep:
            path.unlink(missing_ok=True)
        lab["cell"] = pl["cell"]
        ends = spot_recorded(recorded, config)
        rows.append(
            dict(
                lab,
                **score_clip(lab, ends),
                spots=[
                    {k: e[k] for k in ("onset_ms", "apex_ms", "offset_ms", "kind", "aus")}
                    for e in ends
                ],
            )
        )
        logger.info(
            "%d/%d %s: %d truth, %d spotted, %d TP",
            i + 1,
            len(plans),
            lab["clip"],
            len(lab["episodes"]),
            len(ends),
            rows[-1]["tp"],
        )
    report = summarize(rows)
    report.update(
        n_clips=len(rows),
        n_episodes=sum(len(r["episodes"]) for r in rows),
        seconds=round(time.monotonic() - t0, 1),
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(
        json.dumps(dict(report, clips=rows), indent=1, default=str)
    )
    (args.out / "report.md").write_text(markdown(report))
    print(markdown(report))
    return 0


class _LazySource:
    """A source clip loaded (landmarker over every frame) only if a clip must be made."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._clip: SourceClip | None = None

    def get(self) -> SourceClip:
        if self._clip is None:
            self._clip = SourceClip.load(self.path)
        return self._clip


def _generate(
    src: _LazySource, path: Path, pl: dict, config: Any, cache: Path | None
) -> tuple[dict, Recorded]:
    """Make one clip and record its landmarks, or take both from the cache."""
    key = hashlib.sha256(
        json.dumps(
            [GENERATOR, pl["name"], src.path.name, src.path.stat().st_size]
            + [pl["fps"], pl["duration_ms"]]
            + [asdict(e) for e in pl["episodes"]]
            + [config.landmarker.model_dump(mode="json"), config.spotting.flow],
            sort_keys=True,
        ).encode()
    ).hexdigest()[:16]
    hit = cache / f"{path.stem}-{key}.pkl" if cache else None
    if hit is not None and hit.exists():
        with hit.open("rb") as f:  # our own cache file, written below
            labels, recorded = pickle.load(f)
        return labels, recorded
    labels = write_clip(src.get(), path, pl["fps"], pl["duration_ms"], pl["episodes"])
    recorded = landmarks(path, config=config)
    if hit is not None:
        hit.parent.mkdir(parents=True, exist_ok=True)
        tmp = hit.with_suffix(".tmp")
        with tmp.open("wb") as f:
            pickle.dump((labels, recorded), f)
        tmp.replace(hit)
    return labels, recorded
