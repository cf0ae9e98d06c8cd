"""``microemo-train cabin-eval``: the cabin readings measured on generated ground truth.

On each real clip in ``--clips`` a 90-s drowsy drive is drawn (``plan``: blinks, eye
closures of 1.2-3 s, yawns, head turns off and on the road) and goes through the DEVICE
pipeline, then the same drive in grey (as a near-infrared camera sees it); the six clips
joined make ten minutes of talking faces, where no alert is right. Scored (``score``):
blink F1, PERCLOS error, the delay of each closure's microsleep after its first second,
yawns and distractions found and false, alerts on the talking faces, colour against grey.
``--sweep`` also reads turned and dropped faces with several landmarker confidence
settings (``faces``). The landmarker's observations are cached with ``--cache``, so a cabin
setting (``--set cabin.yawn_open=0.3``) is scored again in seconds.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

from microemo.config_cabin import CabinEvent
from microemo_train.cabin import faces, plan, report, run, score
from microemo_train.spotting.cabin_synth import DepthClip

logger = logging.getLogger(__name__)

CLIPS_DIR = Path(__file__).resolve().parents[3] / "tests" / "data" / "crema_d" / "clips"
ALL_EVENTS: list[CabinEvent] = ["blink", "microsleep", "yawn", "distraction"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "cabin-eval",
        help="score the cabin readings (blinks, PERCLOS, microsleeps, yawns, distraction) "
        "on generated drives",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-o", "--out", type=Path, default=Path("build/cabin_eval"))
    p.add_argument("--clips", type=Path, default=CLIPS_DIR, help="folder of source clips")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--talk-s", type=float, default=plan.TALK_S, help="talking faces, seconds")
    p.add_argument("--no-grey", action="store_true", help="skip the grey copies")
    p.add_argument("--sweep", action="store_true", help="also sweep landmarker settings")
    p.add_argument("--cache", type=Path, help="keep the landmarker's observations here")
    p.add_argument("--config", type=Path, help="device config TOML ([cabin], [landmarker])")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. cabin.yawn_open=0.3")  # fmt: skip
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from microemo.config import load_config
    from microemo.daemon.cli import parse_overrides

    t0 = time.monotonic()
    config = load_config(args.config, parse_overrides(args.set))
    config.cabin.enabled, config.cabin.events = True, list(ALL_EVENTS)
    config.output.jsonl = ""
    paths = faces.sources(args.clips)
    if not paths:
        raise SystemExit(f"{args.clips}: no .flv or .mp4 clips; pass --clips")
    clips = [DepthClip.load(p) for p in paths]
    rows = [drive_row(c, config, args) for c in clips]
    out: dict[str, Any] = {"drives": rows, "summary": summarize(rows)}
    out["talking"] = talking(clips, config, args)
    if args.sweep:
        out["landmarker"] = faces.sweep(clips[:3], config)
    out["seconds"] = round(time.monotonic() - t0, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(json.dumps(out, indent=1, default=str))
    text = report.markdown(out)
    (args.out / "report.md").write_text(text)
    print(text)
    return 0


def drive_row(clip: DepthClip, config: Any, args: argparse.Namespace) -> dict[str, Any]:
    d = plan.drive(clip.src.path, args.seed)
    fps = clip.src.fps
    labels = run.drive_labels(clip, d, fps)
    row: dict[str, Any] = {"clip": d.name, "acts": len(d.acts)}
    for colour in ("colour",) if args.no_grey else ("colour", "grey"):
        recorded = run.cached(
            {"name": f"{d.name}-{colour}", "labels": labels, "landmarker": config.landmarker},
            args.cache,
            lambda colour=colour: run.record(_frames(clip, d, fps, colour), fps, config),
        )
        replay = run.replay(recorded, config)
        row[colour] = score.score_drive(labels, replay)
        row[f"{colour}_events"] = replay.events
    if "grey" in row:
        row["grey_vs_colour"] = score.same_events(row["colour_events"], row["grey_events"])
    logger.info("%s: %s", d.name, row["colour"]["blinks"])
    return row


def _frames(clip: DepthClip, d: plan.Drive, fps: float, colour: str) -> Any:
    frames = run.drive_frames(clip, d, fps)
    return frames if colour == "colour" else (run.grey(f) for f in frames)


def talking(clips: list[DepthClip], config: Any, args: argparse.Namespace) -> dict[str, Any]:
    fps = clips[0].src.fps
    key = {"name": "talking", "seconds": args.talk_s, "clips": [c.src.path.name for c in clips],
           "landmarker": config.landmarker}  # fmt: skip
    recorded = run.cached(
        key,
        args.cache,
        lambda: run.record(run.talk_frames([c.src for c in clips], args.talk_s, fps), fps, config),
    )
    replay = run.replay(recorded, config)
    seen = sum(s is not None and s.get("eye_open_l") is not None for s in replay.states)
    return {"seconds": args.talk_s, "frames": len(recorded), "face_frames": seen,
            "alerts": score.alerts(replay.events),
            "blinks": sum(1 for e in replay.events if e["kind"] == "blink")}  # fmt: skip


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for colour in ("colour", "grey"):
        got = [r[colour] for r in rows if colour in r]
        if not got:
            continue
        b = {k: sum(g["blinks"][k] for g in got) for k in ("tp", "fp", "fn")}
        p = b["tp"] / max(b["tp"] + b["fp"], 1)
        rc = b["tp"] / max(b["tp"] + b["fn"], 1)
        errs = [abs(e) for g in got for e in g["perclos_err"]]
        delays = [d for g in got for d in g["closure_delay_ms"]]
        found = [d for d in delays if d is not None]
        out[colour] = {
            "blinks": dict(b, precision=round(p, 3), recall=round(rc, 3),
                           f1=round(2 * p * rc / max(p + rc, 1e-9), 3)),
            "perclos_abs_err_points": {"mean": round(sum(errs) / max(len(errs), 1), 2),
                                       "max": round(max(errs, default=0.0), 2), "n": len(errs)},
            "closures": {"n": len(delays), "reported": len(found),
                         "within_300ms": sum(1 for d in found if d <= 300.0),
                         "delay_ms_max": round(max(found, default=0.0), 1),
                         "delay_ms_mean": round(sum(found) / max(len(found), 1), 1)},
            **{k: {m: sum(g[k][m] for g in got) for m in ("truth", "hits", "false")}
               for k in ("microsleeps", "yawns", "distractions")},
        }  # fmt: skip
    agree = [r["grey_vs_colour"] for r in rows if "grey_vs_colour" in r]
    if agree:
        diffs = [a["max_onset_diff_ms"] for a in agree if a["max_onset_diff_ms"] is not None]
        out["grey_vs_colour"] = {
            "clips": len(agree),
            "same_events": sum(a["same_order"] for a in agree),
            "max_onset_diff_ms": max(diffs, default=None),
        }
    return out
