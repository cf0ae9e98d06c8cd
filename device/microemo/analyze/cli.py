"""``microemo analyze INPUT... --out DIR``: recorded video in, per-frame AUs, episodes and a
picture out, with ``--jobs`` landmarker workers (default: one per core): several inputs at
once, or one long input's frames shared among them (``analyze.parallel``).

For each input: DIR/<name>.csv (OpenFace 2 columns, then emotions), DIR/<name>.jsonl
(episode events) and DIR/<name>.png, where <name> is the input's file or folder name without
extension. When two inputs share a name the later one gets its parent folder's name
(na/S128_004 -> S128_004, apex3/S128_004 -> S128_004__apex3, then -2, -3...), as does an
input whose results would write over an input (pic.png --out .). DIR/analyze-index.csv says
which input each name came from, across runs into DIR; a name stays with its input.

An input is never written over; a frame folder never reads the pictures analyze wrote. A bad
input is reported by name and skipped; the others are still written; the exit status is 1 if
any input failed, 2 if nothing could start. On a terminal a bar per input shows frames,
frames a second and time left; in a pipe or a log only the line per input is printed.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

from microemo.analyze.index import IndexFileError, OutputIndex
from microemo.analyze.naming import OutputPlan, plan_outputs, unique_inputs
from microemo.analyze.parallel import run_parallel, start_lanes
from microemo.analyze.progress import progress_for
from microemo.analyze.run import AnalyzeOptions
from microemo.config import Config, load_config
from microemo.daemon.preflight import check_appearance, check_calibration
from microemo.pipeline import Pipeline

logger = logging.getLogger(__name__)


def _fps(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value <= 1000:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a frame rate: give frames a second above 0 "
            "(e.g. 200 for CASME II, 30 for most cameras)"
        )
    return value


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "analyze",
        help="analyse recorded video, frame folders or images",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", type=Path, metavar="INPUT")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--config", type=Path, help="TOML config (landmarker, au, spotting...)")
    p.add_argument("--fps", type=_fps, help="frame rate of frame folders (default 30)")
    p.add_argument(
        "--bundle",
        type=Path,
        help="model bundle (default: the built-in model); its signature is checked against "
        "the config's model.public_keys when there are any",
    )
    p.add_argument(
        "--rules-only",
        action="store_true",
        help="no CNN: the FACS prototypes decide the core emotion",
    )
    p.add_argument("--no-plot", action="store_true", help="skip the PNG")
    p.add_argument(
        "--jobs",
        type=_jobs,
        default=0,
        metavar="N",
        help="landmarker workers (default: one per core): several inputs at once, or one "
        "long input's frames shared among them",
    )
    p.set_defaults(func=run)


def _jobs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number of jobs: give 1 or more (0: one per core)"
        )
    return value


def _bundle(config: Config, path: Path | None, rules_only: bool) -> Any:
    """The model the device would run (``ModelStore.current``: installed, configured or
    built-in), or the bundle given with ``--bundle``."""
    from microemo.model.bundle import load_bundle
    from microemo.model.store import ModelStore

    if rules_only:
        return None
    if path is not None:
        m = config.model
        if m.public_keys or not m.require_signature:
            return load_bundle(path, m.public_keys, require_signature=m.require_signature)
        # A bundle named on this desktop command line (one just trained, say) runs without
        # trusted keys: there are none to check it against. Its files must still match its
        # manifest; a device (``model.bundle``, updates) always checks the signature.
        bundle = load_bundle(path, require_signature=False)
        print(
            f"note: --bundle {path}: signature not checked (no model.public_keys in the "
            "config); its files match its manifest",
            file=sys.stderr,
        )
        return bundle
    return ModelStore(config).current()


def prepare_out(out: Path) -> str | None:
    """Create the output folder; a one-line error when it cannot be written, else None."""
    if out.exists() and not out.is_dir():
        return f"--out {out}: is a file: give a folder (it is created if missing)"
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"--out {out}: cannot create it ({exc.strerror or exc}): choose another folder"
    if not os.access(out, os.W_OK | os.X_OK):
        return f"--out {out}: not writable: choose another folder or fix its permissions"
    return None


class _CannotStart(Exception):
    """Nothing can be analysed: the one line to print."""


def _start(args: argparse.Namespace) -> tuple[list[Pipeline], OutputIndex, list[OutputPlan]]:
    """Config, model, output folder, names and a pipeline per lane, or ``_CannotStart``
    saying why."""
    try:
        config = load_config(args.config)
        check_calibration(config)
        check_appearance(config)
        bundle = _bundle(config, args.bundle, args.rules_only)
    except Exception as exc:  # a bad config, calibration or bundle: say so, analyse nothing
        raise _CannotStart(str(exc)) from None
    problem = prepare_out(args.out)
    if problem is not None:
        raise _CannotStart(problem)
    try:
        index = OutputIndex(args.out)
    except IndexFileError as exc:
        raise _CannotStart(str(exc)) from None
    plans = plan_outputs(unique_inputs(args.inputs), args.out, index.owners())
    for plan in plans:
        if plan.note:
            print(f"note: {plan.input} -> {plan.name}.*: {plan.note}", file=sys.stderr)
    try:
        index.plan(plans)
    except OSError as exc:
        raise _CannotStart(f"cannot write {index.path}: {exc.strerror or exc}") from None
    from microemo.vision.pool import worker_count

    try:
        pipelines = start_lanes(config, bundle, worker_count(args.jobs), len(plans))
    except Exception as exc:  # the landmarker asset missing or broken
        raise _CannotStart(f"cannot start the pipeline: {exc}") from None
    return pipelines, index, plans


def run(args: argparse.Namespace) -> int:
    from microemo.daemon.cli import keep_training_libraries_out

    keep_training_libraries_out()
    try:
        pipelines, index, plans = _start(args)
    except _CannotStart as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    options = AnalyzeOptions(fps=args.fps, plot=not args.no_plot)
    progress = progress_for(len(plans))
    try:
        failed = run_parallel(plans, pipelines, options, index, progress)
    finally:
        progress.close()
        for pipeline in pipelines:
            pipeline.close()
    renamed = sum(1 for p in plans if p.note)
    print(f"index: {index.path} ({len(plans)} inputs, {renamed} renamed, {failed} failed)")
    return 1 if failed else 0
