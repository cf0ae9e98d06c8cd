"""``microemo analyze INPUT... --out DIR``: recorded video in, per-frame AUs, episodes and a
picture out, one input at a time.

For each input: ``DIR/<name>.csv`` (OpenFace 2 columns, then emotions), ``DIR/<name>.jsonl``
(episode events) and ``DIR/<name>.png``. A bad input is reported by name and skipped; the
others are still written; the exit status is 1 if any input failed.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from microemo.analyze.run import InputSummary, analyze_input
from microemo.config import Config, load_config
from microemo.pipeline import Pipeline
from microemo.sources.files import SourceError

logger = logging.getLogger(__name__)


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
    p.add_argument("--fps", type=float, help="frame rate of frame folders (default 30)")
    p.add_argument("--bundle", type=Path, help="model bundle (default: the built-in model)")
    p.add_argument(
        "--rules-only",
        action="store_true",
        help="no CNN: the FACS prototypes decide the core emotion",
    )
    p.add_argument("--no-plot", action="store_true", help="skip the PNG")
    p.set_defaults(func=run)


def _bundle(config: Config, path: Path | None, rules_only: bool) -> Any:
    """The model the device would run (``ModelStore.current``: installed, configured or
    built-in), or the bundle given with ``--bundle``."""
    from microemo.model.bundle import load_bundle
    from microemo.model.store import ModelStore

    if rules_only:
        return None
    if path is not None:
        m = config.model
        return load_bundle(path, m.public_keys, require_signature=m.require_signature)
    return ModelStore(config).current()


def run(args: argparse.Namespace) -> int:
    from microemo.daemon.cli import keep_training_libraries_out

    keep_training_libraries_out()
    try:
        config = load_config(args.config)
        bundle = _bundle(config, args.bundle, args.rules_only)
    except Exception as exc:  # a bad config or bundle: say so, analyse nothing
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    failed = 0
    with Pipeline(config, bundle=bundle) as pipeline:
        for path in args.inputs:
            try:
                summary = analyze_input(
                    path,
                    args.out,
                    pipeline,
                    fps=args.fps,
                    plot=not args.no_plot,
                    progress=sys.stderr.isatty(),
                )
            except SourceError as exc:
                summary = InputSummary(path.name, 0, 0, 0, 0, "", error=str(exc))
            except Exception as exc:  # one bad input must not lose the others
                logger.exception("%s failed", path)
                summary = InputSummary(path.name, 0, 0, 0, 0, "", error=f"{path}: {exc}")
            failed += summary.error is not None
            print(summary.line(), flush=True)
    return 1 if failed else 0
