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
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from microemo_train.checks import CheckError
from microemo_train.spotting.plan import (
    PER_AU_SETS,
    parse_au_sets,
    plan,
    plan_per_au,
    untouched_joins,
)
from microemo_train.spotting.record import LazySource, generate, spot_recorded
from microemo_train.spotting.report import markdown
from microemo_train.spotting.score import paired, score_clip, summarize
from microemo_train.spotting.synth import INTENSITY_LEVELS
from microemo_train.spotting.why import Probe, explain, summarize_missed

logger = logging.getLogger(__name__)

CLIPS_DIR = Path(__file__).resolve().parents[3] / "tests" / "data" / "crema_d" / "clips"


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
    p.add_argument(
        "--suite",
        choices=("mixed", "per-au"),
        default="mixed",
        help="mixed: random AU sets, micro and macro, in every clip; per-au: each clip one AU "
        "set (--aus), micro only, so every AU set has its own F1 and false alarms",
    )
    p.add_argument(
        "--aus",
        default=",".join("+".join(s) for s in PER_AU_SETS),
        help="per-au: the AU sets, comma-separated, AUs of a set joined by +",
    )
    p.add_argument(
        "--sources",
        default="",
        help="only source clips whose names contain one of these comma-separated codes "
        "(e.g. ANG,NEU,SAD); untouched clips and joins use the same ones",
    )
    p.add_argument(
        "--clip-s",
        type=float,
        default=8.0,
        help="per-au: seconds per generated clip at 29.97 fps (three quarters at 100 fps)",
    )
    p.add_argument("--keep", action="store_true", help="keep the generated clips")
    p.add_argument(
        "--cache",
        type=Path,
        help="keep each clip's labels and landmarks here; a re-run with the same plan skips "
        "generation and the landmarker, so trying spotting settings takes seconds",
    )
    p.add_argument(
        "--against",
        type=Path,
        metavar="REPORT",
        help="an earlier run's report.json (or its -o folder) of the same plan: the episodes "
        "only one of the two finds, per AU set, and whether that is chance",
    )
    p.add_argument(
        "--channels",
        action="store_true",
        help="also write OUT/channels.npz: each clip's per-frame AU intensities and "
        "optical-flow motion as the spotter reads them (keys CLIP/t_ms, CLIP/intensity, "
        "CLIP/motion; columns au_names), for offline looks at a channel's signal and noise",
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
    from microemo.daemon.cli import parse_overrides
    from microemo.types import AU_NAMES

    t0 = time.monotonic()
    earlier = _earlier(args.against) if args.against is not None else None
    # values are TOML literals, as for `microemo run --set` (the config's types are strict)
    config = load_config(args.config, parse_overrides(args.set))
    sources = _sources(args.clips, args.sources)
    clips = args.out / "clips"
    plans = _plans(args, sources)
    loaded: dict[tuple[Path, ...], Any] = {}
    rows = []
    channels: dict[str, Any] = {}  # savez_compressed: name -> array
    for i, pl in enumerate(plans):
        key = tuple(pl["source"]) if isinstance(pl["source"], list) else (pl["source"],)
        src = loaded.get(key) or loaded.setdefault(key, LazySource(pl["source"]))
        path = clips / pl["name"]
        lab, recorded = generate(src, path, pl, config, args.cache)
        if not args.keep:
            path.unlink(missing_ok=True)
        lab["cell"] = pl["cell"]
        probe = Probe(config)
        ends = spot_recorded(recorded, config, probe)
        scored = score_clip(lab, ends)
        if args.channels:
            channels.update({f"{lab['clip']}/{k}": v for k, v in probe.series().items()})
        rows.append(
            dict(
                lab,
                **scored,
                missed=explain(lab["episodes"], ends, scored["hit"], probe),
                spots=[
                    {k: e[k] for k in ("onset_ms", "apex_ms", "offset_ms", "kind", "aus")}
                    # the regions that carried it; "within": it rose on top of a held one
                    | {k: e[k] for k in ("regions", "within") if k in e}
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
    report["missed"] = summarize_missed(rows)
    report.update(
        n_clips=len(rows),
        n_episodes=sum(len(r["episodes"]) for r in rows),
        seconds=round(time.monotonic() - t0, 1),
    )
    if earlier is not None:
        report["against"] = {"report": str(args.against), **paired(rows, earlier)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(
        json.dumps(dict(report, clips=rows), indent=1, default=str)
    )
    (args.out / "report.md").write_text(markdown(report))
    if args.channels:
        np.savez_compressed(args.out / "channels.npz", au_names=np.array(AU_NAMES), **channels)
    print(markdown(report))
    return 0


def _earlier(path: Path) -> list[dict]:
    """The clips of an earlier run's report (``--against``), checked before any work."""
    file = path / "report.json" if path.is_dir() else path
    try:
        clips = json.loads(file.read_text())["clips"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckError(
            f"--against {path}: not a spot-eval report ({exc.__class__.__name__}: {exc}); "
            "give the report.json (or the -o folder) of an earlier spot-eval run"
        ) from None
    return list(clips)


def _sources(folder: Path, codes: str) -> list[Path]:
    found = sorted(folder.glob("*.flv")) or sorted(folder.glob("*.mp4"))
    if not found:
        raise SystemExit(f"{folder}: no .flv or .mp4 clips; pass --clips")
    want = [c.strip() for c in codes.split(",") if c.strip()]
    chosen = [p for p in found if not want or any(c in p.stem for c in want)]
    if not chosen:
        raise SystemExit(f"--sources {codes!r}: no clip in {folder} matches")
    return chosen


def _plans(args: argparse.Namespace, sources: list[Path]) -> list[dict]:
    """The generated clips, then the untouched ones: every source on its own (played back
    and forth) and all of them joined one after another. False alarms a minute on the
    untouched clips are always measured: a run without them is refused."""
    untouched = {29.97: args.untouched_s * 1000, 100.0: args.untouched_s * 250}
    if args.untouched_s <= 0:
        raise SystemExit("--untouched-s must be > 0: false alarms are part of every report")
    if args.suite == "mixed":
        plans = plan(
            args.seed, {29.97: args.per_cell_30, 100.0: args.per_cell_100}, sources, untouched
        )
    else:
        try:
            sets = parse_au_sets(args.aus)
        except ValueError as exc:
            raise SystemExit(str(exc)) from None
        plans = plan_per_au(
            args.seed,
            sets,
            tuple(INTENSITY_LEVELS),
            {29.97: args.per_cell_30, 100.0: args.per_cell_100},
            sources,
            {29.97: args.clip_s * 1000, 100.0: args.clip_s * 750},
        )
        plans += plan(args.seed, {}, sources, untouched)  # the untouched clips alone
    if len(sources) > 1:
        plans += untouched_joins(args.seed, sources, {29.97: None, 100.0: None})
    return plans
