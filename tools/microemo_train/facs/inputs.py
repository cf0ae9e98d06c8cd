"""The FACS data set a ``facs-*`` command names: its options checked, the data set read,
taken as a poorer camera would (``--degrade``), subjects left out (``--exclude-subjects``), and
every item landmarked (from the cache where it can)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from microemo_train.facs import adapters
from microemo_train.facs.files import Sampling
from microemo_train.facs.items import FacsDataError


def options(args: argparse.Namespace) -> adapters.LoadOptions:
    for name in ("every", "neutral_frames", "apex_frames", "jobs"):
        if getattr(args, name) < 1:
            raise FacsDataError(f"--{name.replace('_', '-')} {getattr(args, name)}: give 1 or more")
    if args.max_frames < 0 or (args.fps is not None and args.fps <= 0):
        raise FacsDataError("--max-frames must be 0 or more and --fps above 0")
    return adapters.LoadOptions(
        mode=args.mode,
        neutral_frames=args.neutral_frames,
        apex_frames=args.apex_frames,
        layout=args.layout,
        camera=args.camera,
        frame_base=args.frame_base,
        fps=args.fps,
        sampling=Sampling(args.every, args.max_frames),
        min_intensity=args.min_intensity,
        on_missing=args.on_missing,
    )


def load(args: argparse.Namespace, min_subjects: int = 1) -> tuple[adapters.Loaded, dict]:
    """The data set read and every item landmarked (from the cache where it can), all sets
    in one pool of workers."""
    from microemo.daemon.cli import keep_training_libraries_out
    from microemo_train.facs.record import record_items

    # MediaPipe would import TensorFlow in every worker (seconds each); nothing here uses it
    keep_training_libraries_out()
    loaded = adapters.load(args.adapter, args.root, options(args))
    camera = _degrade(getattr(args, "degrade", None))
    left_out = _subjects_in(getattr(args, "exclude_subjects", None))
    loaded.sets = {
        n: [replace(it, camera=camera) for it in items if it.subject not in left_out]
        for n, items in loaded.sets.items()
    }
    if camera:
        loaded.notes.append(f"every frame as the camera {camera} takes it (--degrade)")
    if left_out:
        loaded.notes.append(f"{len(left_out)} subjects left out ({args.exclude_subjects})")
    every = [it for items in loaded.sets.values() for it in items]
    subjects = {it.subject for it in every}
    if len(subjects) < min_subjects:
        raise FacsDataError(
            f"{args.root}: {len(subjects)} subject(s); cross-validation by subject needs at "
            f"least {min_subjects} (every face is scored by a fit that never saw its subject)"
        )
    recs, failed = record_items(every, args.cache, args.jobs, sys.stderr.isatty())
    for it, err in failed:
        print(f"left out {it.key}: {err}", file=sys.stderr)
    by_key = {id(r.item): r for r in recs}
    out = {}
    for name, items in loaded.sets.items():
        out[name] = [by_key[id(it)] for it in items if id(it) in by_key]
        if not out[name]:
            raise FacsDataError(f"{args.root}: no {name} item could be landmarked")
    return loaded, out


def _degrade(spec: str | None) -> str:
    """The camera ``--degrade`` names, checked (``dark=0.4`` -> ``dark-0.4``; none: "")."""
    from microemo_train.emotion_bench.cameras import Camera
    from microemo_train.emotion_bench.inputs import BenchInputError

    if not spec:
        return ""
    try:
        return Camera.parse(spec, "--degrade").name
    except BenchInputError as exc:
        raise FacsDataError(str(exc)) from None


def _subjects_in(path: Path | None) -> set[str]:
    """The ``subject`` column of a CSV (e.g. the test part ``microemo-train appearance``
    wrote), to keep those subjects out of a fit."""
    if path is None:
        return set()
    import csv

    try:
        with path.open(newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as exc:
        raise FacsDataError(f"--exclude-subjects {path}: cannot read it ({exc.strerror})") from None
    if rows and "subject" not in rows[0]:
        raise FacsDataError(f"--exclude-subjects {path}: no 'subject' column")
    return {r["subject"] for r in rows if r["subject"]}


def stills(args: argparse.Namespace) -> list:
    from microemo_train.facs.stills import still_recordings

    if not args.stills.exists():
        raise FacsDataError(f"--stills {args.stills}: no such folder or CSV")
    neutral, other = args.stills_max
    recs = still_recordings(args.stills, neutral, other, args.cache / "stills", args.jobs)
    if not recs:
        raise FacsDataError(
            f"--stills {args.stills}: no face found in any neutral, happy or surprised still"
        )
    return recs
