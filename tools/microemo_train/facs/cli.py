"""``microemo-train facs-bench`` and ``facs-calibrate``: FACS-coded faces through the device.

    microemo-train facs-bench --adapter ckplus --root DATA/CK+ --per-subject
    microemo-train facs-bench --adapter au-csv --root DATA/DISFA --every 5 --json out.json
    microemo-train facs-calibrate --adapter manifest --root my_faces.csv \\
        --out my_au_calibration.toml --emotion-out my_core_weights.toml

Adapters (``--adapter``; ``--root`` is the data set folder or the manifest CSV):

- ``ckplus``: CK+ as distributed (``cohn-kanade-images/S005/001/*.png``, ``FACS/.../*_facs.txt``,
  ``Emotion/.../*_emotion.txt``) or the development layout of 48x48 crops (``neutral/``,
  ``apex/``, ``last3/``, ``facs.csv``). Two sets: ``neutral-apex`` (the first frame
  ``--neutral-frames`` times, then the coded peak ``--apex-frames`` times) and ``apex`` (the
  last three frames).
- ``au-csv``: per-frame codes, ``--layout`` told by the folders: DISFA
  (``Videos_LeftCamera/LeftVideoSN001_comp.avi``, ``ActionUnit_Labels/SN001/SN001_au1.txt``
  "frame,intensity" from frame 1), BP4D (frame folders ``F001/T1/*.jpg``,
  ``AUCoding/AU_OCC/F001_T1.csv`` 0/1/9, ``*_AU06.csv`` intensities), or generic: ``NAME.csv``
  (``frame,AU01,AU02,...``, optional ``subject``; 0-5 or 0/1; empty or 9 = not coded) beside
  the video ``NAME.mp4`` or the frame folder ``NAME/``.
- ``manifest``: a CSV ``path,subject,aus[,neutral][,label][,frame]``: images, frame folders or
  videos (paths relative to the CSV); ``aus`` as ``1+2+4``, ``1:3+12:E``, ``12E`` or ``0``; a
  ``neutral`` image or folder shown first. Rows with and without one are scored apart.

Only AUs a data set codes count as negatives. Every face goes through the device's own
landmarker and AU estimator; landmarks are cached per item (``--cache``), so a second run
replays in seconds.

``facs-bench`` scores a calibration (the built-in one, or ``--calibration FILE``) as the device
reads faces: per AU ROC-AUC of ``AUxx_r``, F1 of ``AUxx_c`` and correlation with coded
intensities (AUs with at least ``--min-positives`` coded positives), per subject, and the core
emotion from AUs alone where the data set has labels.

``facs-bench --degrade KIND[=VALUE]`` reads every frame as a poorer camera takes it (the same
cameras and defaults as ``emotion-bench --camera``: ``half``, ``jpeg``, ``noise``, ``dark``,
``blur``, and ``glasses[=TINT]`` drawn on every face), so what a camera costs the AUs is
measured on the same faces:

    microemo-train facs-bench --adapter ckplus --root ckplus_dev --degrade blur

``facs-bench --by COLUMN`` (a manifest's other column: ``origin``, ``glasses``...) scores each
group of items apart: mean ROC-AUC and F1, and the faces coded at rest (no AU present) read
with an AU anyway (their share, the AUs a face, which), with whether the AUs read on the
groups' resting faces differ more than chance (``microemo_train.group_gap``). A face read as
brow-raised at rest because of how it looks (issue 19's JAFFE faces) shows here by group:

    microemo-train facs-bench --adapter manifest --root my_faces.csv --by origin

``facs-calibrate`` fits a new calibration with subject-grouped cross-validation, prints the
figures before and after, and writes the files (provenance and cross-validated figures
inside); set ``au.calibration = "FILE"`` in the device's config to use it.

``--json FILE`` (both commands) writes the figures with these keys, stable across versions
(``format`` changes if they ever change; absent figures are null):
``format`` (1); ``calibration`` (bench: the file scored); ``data_set`` {``adapter``, ``root``,
``layout``, ``notes``}; ``provenance`` (calibrate: as written in the file); ``sets`` (bench) or
``before`` and ``after`` (calibrate): set name -> {``items``, ``coded``, ``summary`` {``aus``,
``auc``, ``f1``, ``corr``}, ``aus`` [{``au``, ``positives``, ``negatives``, ``auc``, ``f1``,
``corr``}], ``subjects`` {subject: {``frames``, ``agreement``, ``recall``, ``auc``, ``aus``}},
``emotion`` null or {``accuracy``, ``uf1``, ``n``, ``labels``, ``confusion``}, with ``--by``
``by`` {column: {``groups`` {value: {``items``, ``summary``, ``at_rest`` {``frames``,
``read_with_au``, ``mean_aus``, ``aus``}}}, ``gap_at_rest`` null or {``highest``, ``lowest``,
``difference``, ``p``}}}}.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
from datetime import date
from pathlib import Path
from typing import Any

from microemo_train.facs import adapters, inputs
from microemo_train.facs.files import ON_MISSING
from microemo_train.facs.items import FacsDataError

logger = logging.getLogger(__name__)


HELP = __doc__.replace("``", "`")


def add_parser(sub: argparse._SubParsersAction) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    b = sub.add_parser(
        "facs-bench",
        help="score the device's AUs on a FACS-coded data set",
        description=HELP,
        formatter_class=fmt,
    )
    _common(b)
    b.add_argument("--calibration", type=Path, help="AU calibration file (default: built-in)")
    b.add_argument(
        "--per-subject", action="store_true", help="print a line per subject under each set"
    )
    b.add_argument(
        "--degrade",
        metavar="KIND[=VALUE]",
        help="read every frame as a poorer camera takes it, as emotion-bench --camera does: "
        "half[=SCALE], jpeg[=QUALITY], noise[=SIGMA], dark[=GAIN], blur[=PERCENT] (defaults "
        "0.5, 30, 8, 0.5, 0.6) or glasses[=TINT] on every face (0 clear; 0.85 sunglasses); the "
        "frames are landmarked again, once, and cached apart",
    )
    b.add_argument(
        "--by",
        action="append",
        default=[],
        metavar="COLUMN",
        help="the figures per group of items a manifest column names (origin, glasses...), "
        "with the faces at rest read with an AU and whether groups differ (repeatable)",
    )
    b.add_argument("--json", type=Path, help="also write the figures as JSON here")
    b.set_defaults(func=run_bench)
    c = sub.add_parser(
        "facs-calibrate",
        help="fit the AU calibration on a FACS-coded data set",
        description=HELP,
        formatter_class=fmt,
    )
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
    c.add_argument(
        "--stills",
        type=Path,
        help="emotion-labelled stills (class folders, e.g. FER2013's train/, or a path,label "
        "CSV): neutral faces as rest (expression AUs absent), happiness as AU12, surprise "
        "as AU1+2",
    )
    c.add_argument(
        "--stills-max",
        type=int,
        nargs=2,
        default=(700, 300),
        metavar=("NEUTRAL", "OTHER"),
        help="at most this many neutral stills, and happy and surprised ones each (700 300)",
    )
    c.add_argument(
        "--exclude-subjects",
        type=Path,
        metavar="CSV",
        help="leave out the subjects of this CSV's subject column (a test part kept for measuring)",
    )
    c.add_argument("--docs", type=Path, help="regenerate this AU documentation (docs/aus.md)")
    c.add_argument("--json", type=Path, help="also write the figures as JSON here")
    c.set_defaults(func=run_calibrate)
    f = sub.add_parser(
        "facs-frames",
        help="write a FACS data set's labelled items as frame folders for training",
        description=frames_doc(),
        formatter_class=fmt,
    )
    _common(f)
    f.add_argument("--out", type=Path, required=True, help="a new folder for the frame folders")
    f.set_defaults(func=run_frames)


def frames_doc() -> str:
    from microemo_train.facs import frames

    return (frames.__doc__ or "").replace("``", "`")


def run_frames(args: argparse.Namespace) -> int:
    from microemo_train.facs import frames

    try:
        options = inputs.options(args)
    except FacsDataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return frames.run_frames(args, options)


def _common(p: argparse.ArgumentParser) -> None:
    d = p.add_argument_group("data set")
    d.add_argument("--adapter", choices=adapters.ADAPTERS, required=True, help="its layout")
    d.add_argument("--root", type=Path, required=True, help="data set folder or manifest CSV")
    d.add_argument(
        "--mode",
        choices=("neutral-apex", "apex", "both"),
        default="both",
        help="ckplus, manifest: neutral-apex (a neutral face first), apex (none) or both, "
        "scored apart (default both)",
    )
    d.add_argument(
        "--neutral-frames", type=int, default=8, help="times a neutral image is shown (8)"
    )
    d.add_argument("--apex-frames", type=int, default=4, help="times a coded image is shown (4)")
    d.add_argument(
        "--layout",
        choices=("auto", "disfa", "bp4d", "generic"),
        default="auto",
        help="au-csv: which per-frame layout (default: told by its folders)",
    )
    d.add_argument("--camera", choices=("left", "right"), default="left", help="au-csv disfa")
    d.add_argument(
        "--frame-base",
        type=int,
        default=0,
        help="au-csv generic: the number of a video's first frame in the CSVs (0)",
    )
    d.add_argument("--fps", type=float, help="frame rate of frame folders (30; BP4D 25)")
    d.add_argument(
        "--min-intensity",
        type=float,
        default=1.0,
        help="coded intensities below this count as absent (1; DISFA papers count 2 and up)",
    )
    d.add_argument(
        "--on-missing",
        choices=ON_MISSING,
        default="stop",
        help="files the data set names but that are missing: stop (default) or skip "
        "their items; either way all are listed",
    )
    s = p.add_argument_group("long videos")
    s.add_argument("--every", type=int, default=1, help="read every N-th coded frame (1)")
    s.add_argument(
        "--max-frames",
        type=int,
        default=1000,
        help="at most this many frames a video, more sparsely if needed (1000; 0: no cap)",
    )
    r = p.add_argument_group("running")
    r.add_argument("--cache", type=Path, default=Path(".cache/microemo-train/facs"))
    r.add_argument("--jobs", type=int, default=2, help="landmarker worker processes")
    r.add_argument(
        "--min-positives",
        type=int,
        default=10,
        help="AUs with fewer coded positives are not scored (10)",
    )


def _data_set(args: argparse.Namespace, loaded: adapters.Loaded) -> dict[str, Any]:
    return {
        "adapter": args.adapter,
        "root": str(args.root),
        "layout": loaded.layout,
        "notes": loaded.notes,
    }


def run_bench(args: argparse.Namespace) -> int:
    from microemo.vision.calibration import load_calibration
    from microemo_train.facs import report
    from microemo_train.facs.replay import replay

    try:
        cal = load_calibration(args.calibration)
        loaded, recs = inputs.load(args)
        by = {c: _by_column(c, recs) for c in args.by}  # as written -> the manifest's key
    except (FacsDataError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result: dict[str, Any] = {
        "format": 1,
        "calibration": cal.path,
        "data_set": _data_set(args, loaded),
        "sets": {},
    }
    for name, rs in recs.items():
        replays = [replay(r, cal) for r in rs]
        result["sets"][name] = report.score(replays, args.min_positives)
        if by:
            result["sets"][name]["by"] = {
                c: report.by_group(replays, key, args.min_positives) for c, key in by.items()
            }
    print(report.bench_text(result, per_subject=args.per_subject))
    for name, r in result["sets"].items():
        for c, figures in r.get("by", {}).items():
            print(f"\n## {name} by {c}\n" + "\n".join(report.group_lines(figures)))
    if args.json:
        _write_json(args.json, result)
    return 0


def _by_column(column: str, recs: dict[str, list[Any]]) -> str:
    """``--by COLUMN`` as the manifest's items carry it; refused when none does."""
    from microemo_train.facs.files import norm
    from microemo_train.facs.manifest import BY

    key = norm(column)
    seen = {
        k[len(BY) :] for rs in recs.values() for r in rs for k in r.item.meta if k.startswith(BY)
    }
    if key not in seen:
        raise FacsDataError(
            f"--by {column}: no item has such a column (the manifest adapter keeps its CSV's "
            f"other columns; found {sorted(seen) or 'none'})"
        )
    return key


def _write_json(path: Path, data: dict[str, Any]) -> None:
    from microemo_train.facs.report import jsonable
    from microemo_train.facs.write import write_atomic

    write_atomic(path, json.dumps(jsonable(data), indent=1, allow_nan=False) + "\n")


def run_calibrate(args: argparse.Namespace) -> int:
    from microemo.vision.calibration import load_calibration
    from microemo_train.facs.calibrate import calibrate

    try:
        base = load_calibration(args.base)
        loaded, recs = inputs.load(args, min_subjects=3)
        provenance = _provenance(args, loaded, base)
        if args.stills is not None:
            recs["stills"] = inputs.stills(args)
            provenance["stills"] = (
                f"{args.stills.name}: {len(recs['stills'])} weakly coded stills (neutral as "
                "rest; happiness AU12; surprise AU1+2)"
            )
        result = calibrate(
            recs, provenance, folds=args.folds, min_positives=args.min_positives, base=base
        )
    except (FacsDataError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(result.text())
    try:
        result.write(args.out, args.emotion_out, args.docs)
        if args.json:
            figures = dict(result.figures(), format=1, data_set=_data_set(args, loaded))
            _write_json(args.json, figures)
    except OSError as exc:
        print(f"error: cannot write {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2
    wrote = args.emotion_out if args.emotion_out and result.weights is not None else None
    print(f"wrote {args.out}" + (f" and {wrote}" if wrote else ""))
    if args.emotion_out and wrote is None:
        print(f"note: {args.emotion_out} not written: the data set has no emotion labels")
    return 0


def _provenance(args: argparse.Namespace, loaded: adapters.Loaded, base: Any) -> dict[str, Any]:
    name = args.adapter if args.adapter == "ckplus" else loaded.layout
    out: dict[str, Any] = {
        "data_set": f"{name} at {args.root.name}",
        "licence": args.licence or adapters.LICENCE.get(args.adapter, ""),
        "date": date.today().isoformat(),
        "command": "microemo-train " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        "base": base.provenance.get("source") or base.path,
    }
    if loaded.notes:
        out["notes"] = loaded.notes
    return out
