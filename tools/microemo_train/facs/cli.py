"""``microemo-train facs-bench`` and ``facs-calibrate``: FACS-coded faces through the device.

    microemo-train facs-bench --adapter ckplus --root DATA/ckplus_dev
    microemo-train facs-calibrate --adapter ckplus --root DATA/ckplus_dev \\
        --out my_au_calibration.toml --emotion-out my_core_weights.toml

``facs-bench`` scores a calibration (the built-in one, or ``--calibration FILE``) as the device
reads faces: per AU ROC-AUC of ``AUxx_r``, F1 of ``AUxx_c``, correlation with coded
intensities, per subject, and the core emotion from AUs alone where the data set has labels.
``facs-calibrate`` fits a new calibration with subject-grouped cross-validation, prints the
figures before and after, and writes the files; point ``au.calibration`` at the first to use
it on a device.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from microemo_train.facs import adapters
from microemo_train.facs.items import FacsDataError, FacsItem

logger = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction) -> None:
    b = sub.add_parser("facs-bench", help="score the device's AUs on a FACS-coded data set")
    _common(b)
    b.add_argument("--calibration", type=Path, help="AU calibration file (default: built-in)")
    b.add_argument("--json", type=Path, help="also write the figures as JSON here")
    b.set_defaults(func=run_bench)
    c = sub.add_parser("facs-calibrate", help="fit the AU calibration on a FACS-coded data set")
    _common(c)
    c.add_argument("--out", type=Path, required=True, help="calibration file to write")
    c.add_argument("--emotion-out", type=Path, help="fitted prototype weights to write")
    c.add_argument("--folds", type=int, default=5, help="subject-grouped folds (default 5)")
    c.add_argument(
        "--base",
        type=Path,
        help="calibration scored as 'before', whose rows AUs that are not refitted "
        "keep (default: the installed one)",
    )
    c.add_argument("--licence", default="", help="the data set's terms, recorded in the file")
    c.add_argument("--docs", type=Path, help="regenerate this AU documentation (docs/aus.md)")
    c.add_argument("--json", type=Path, help="also write the figures as JSON here")
    c.set_defaults(func=run_calibrate)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--adapter", choices=sorted(adapters.ADAPTERS), required=True)
    p.add_argument("--root", type=Path, required=True, help="data set folder or manifest CSV")
    p.add_argument("--mode", default="both", help="ckplus: neutral-apex, apex or both (default)")
    p.add_argument("--neutral-frames", type=int, default=8, help="ckplus: neutral repeats")
    p.add_argument("--apex-frames", type=int, default=4, help="ckplus: apex repeats")
    p.add_argument("--cache", type=Path, default=Path(".cache/microemo-train/facs"))
    p.add_argument("--jobs", type=int, default=2, help="landmarker worker processes")
    p.add_argument(
        "--min-positives",
        type=int,
        default=10,
        help="AUs with fewer coded positives are not scored",
    )


def _items(args: argparse.Namespace) -> dict[str, list[FacsItem]]:
    """Items per protocol (``neutral-apex`` / ``apex`` for CK+, one set otherwise)."""
    return adapters.load(args.adapter, args.root, args.mode, args.neutral_frames, args.apex_frames)


def _record(args: argparse.Namespace, sets: dict[str, list[FacsItem]]) -> dict[str, list]:
    from microemo_train.facs.record import record_items

    out = {}
    for name, items in sets.items():
        recs, failed = record_items(items, args.cache, args.jobs, sys.stderr.isatty())
        for it, err in failed:
            print(f"left out {it.key}: {err}", file=sys.stderr)
        if not recs:
            raise FacsDataError(f"{args.root}: no {name} item could be landmarked")
        out[name] = recs
    return out


def run_bench(args: argparse.Namespace) -> int:
    from microemo.vision.calibration import load_calibration
    from microemo_train.facs import report
    from microemo_train.facs.replay import replay

    try:
        cal = load_calibration(args.calibration)
        recs = _record(args, _items(args))
    except (FacsDataError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result: dict[str, Any] = {"calibration": cal.path, "sets": {}}
    for name, rs in recs.items():
        replays = [replay(r, cal) for r in rs]
        result["sets"][name] = report.score(replays, args.min_positives)
    print(report.bench_text(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=_plain))
    return 0


def _plain(o: Any) -> Any:
    if hasattr(o, "__dataclass_fields__"):
        return asdict(o)
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(type(o).__name__)


def run_calibrate(args: argparse.Namespace) -> int:
    try:
        recs = _record(args, _items(args))
    except (FacsDataError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from microemo.vision.calibration import load_calibration
    from microemo_train.facs.calibrate import calibrate

    try:
        base = load_calibration(args.base)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    provenance = {
        "data_set": f"{args.adapter} at {args.root.name}",
        "licence": args.licence or adapters.LICENCE.get(args.adapter, ""),
        "date": date.today().isoformat(),
        "command": "microemo-train " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        "base": base.provenance.get("source") or base.path,
    }
    result = calibrate(
        recs, provenance, folds=args.folds, min_positives=args.min_positives, base=base
    )
    result.write(args.out, args.emotion_out, args.docs)
    print(result.text())
    if args.json:
        args.json.write_text(json.dumps(result.figures(), indent=1, default=_plain))
    print(f"wrote {args.out}" + (f" and {args.emotion_out}" if args.emotion_out else ""))
    return 0
