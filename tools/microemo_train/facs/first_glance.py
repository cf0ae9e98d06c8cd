"""``microemo-train first-glance DATA --out FILE``: each AU's presence bar for a face read
from one glance, from faces at rest (``vision/first_glance.py`` says how the device uses it).

    microemo-train first-glance my_faces/ --out first_glance.toml      # its neutral/ stills
    microemo-train first-glance labels.csv --out first_glance.toml --share 0.05

DATA is what ``emotion-bench`` reads (class folders or a ``path,label`` CSV); its inputs
labelled neutral are read by ``microemo analyze`` itself (``--config``, ``--jobs``), each at the
first frame its face is seen, and each AU's bar is the intensity that all but ``--share`` of
them stay under (never below ``au.presence_on``). Point ``au.first_glance`` at the file. Faces
at rest from the population and cameras the device will see make the right bars; the built-in
file came from FER2013's training part (research terms, as its provenance says).
"""

from __future__ import annotations

import argparse
import csv
import shlex
import sys
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from microemo.types import AU_NAMES
from microemo.vision.first_glance import FORMAT, parse_first_glance
from microemo_train.emotion_bench.inputs import BenchInputError, LabelledInput, load_inputs
from microemo_train.emotion_bench.readings import analysed


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "first-glance",
        help="each AU's presence bar for a face read from one glance, from faces at rest",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("data", type=Path, help="class folders or a path,label CSV (neutral is used)")
    p.add_argument("--out", type=Path, required=True, help="the first-glance file to write")
    p.add_argument(
        "--share",
        type=float,
        default=0.1,
        help="share of resting faces a bar may leave read as showing the AU (default 0.1)",
    )
    p.add_argument("--work", type=Path, help="folder for analyze's outputs (default: OUT.d)")
    p.add_argument("--config", type=Path, help="device config (TOML) analyze runs with")
    p.add_argument("--jobs", type=int, default=0, help="landmarker workers (0: one per core)")
    p.add_argument("--licence", default="", help="the faces' terms, recorded in the file")
    p.set_defaults(func=run)


def first_glance_aus(inputs: list[LabelledInput], out: Path) -> list[np.ndarray]:
    """Each input's AU intensities at the first frame its face was seen (analyze's outputs
    in ``out``); an input analyze could not read is named and left out."""
    done, failed = analysed(inputs, out)
    for problem in failed:
        print(f"left out: {problem}", file=sys.stderr)
    found = []
    for _, entry in done:
        with (out / entry["csv"]).open(newline="") as f:
            row = next((r for r in csv.DictReader(f) if r["success"] == "1"), None)
        if row is not None:
            found.append(np.array([float(row[f"{au}_r"]) for au in AU_NAMES]))
    return found


def bars(intensities: np.ndarray, share: float, floor: float) -> dict[str, float]:
    """Per AU the intensity all but ``share`` of the resting faces stay under, >= ``floor``."""
    top = np.quantile(intensities, 1.0 - share, axis=0)
    return {au: round(max(float(v), floor), 2) for au, v in zip(AU_NAMES, top)}


def text(values: dict[str, float], provenance: dict[str, Any]) -> str:
    import tomli_w

    head = (
        "# Written by `microemo-train first-glance`; re-run it rather than edit by hand.\n"
        "# Each AU's presence bar for a face read from one glance (vision/first_glance.py).\n"
    )
    return head + tomli_w.dumps({"format": FORMAT, "provenance": provenance, "bars": values})


def run(args: argparse.Namespace) -> int:
    from microemo.config import AUConfig, load_config
    from microemo_train.emotion_bench.cli import run_analyze

    if not 0.0 < args.share < 1.0:
        raise BenchInputError(f"--share {args.share}: give a share between 0 and 1, e.g. 0.1")
    resting = [i for i in load_inputs(args.data) if i.label == "neutral"]
    if len(resting) < 20:
        raise BenchInputError(
            f"{args.data}: {len(resting)} inputs labelled neutral; the bars need at least 20 "
            "faces at rest (a neutral/ folder, or rows labelled neutral)"
        )
    work = args.work or args.out.with_name(args.out.name + ".d")
    run_analyze(resting, argparse.Namespace(**vars(args), bundle=None, fps=None,
                                            rules_only=False), work / "analyze")  # fmt: skip
    read = first_glance_aus(resting, work / "analyze")
    if len(read) < 20:
        raise BenchInputError(f"{args.data}: a face was found in {len(read)} resting inputs only")
    floor = (load_config(args.config).au if args.config else AUConfig()).presence_on
    values = bars(np.array(read), args.share, floor)
    provenance = {
        "data": str(args.data),
        "faces": len(read),
        "share": args.share,
        "date": date.today().isoformat(),
        "command": "microemo-train " + shlex.join(sys.argv[1:]),
        "licence": args.licence,
    }
    body = text(values, provenance)
    parse_first_glance(body, str(args.out))  # what the device will read
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(body, encoding="utf-8")
    raised = {au: v for au, v in values.items() if v > floor}
    print(f"{args.out}: {len(read)} faces at rest; bars above {floor}: " +
          (", ".join(f"{au} {v}" for au, v in raised.items()) or "none"))  # fmt: skip
    return 0
