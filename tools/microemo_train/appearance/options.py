"""``microemo-train appearance``'s options, checked as they are parsed (a bad ``--view`` or
``--between`` is named before any work)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data",
        action="append",
        required=True,
        metavar="NAME=[KIND:]PATH",
        help="a labelled set (repeatable): class folders, ckplus or a CSV",
    )
    p.add_argument("--out", type=Path, required=True, help="the model folder to write")
    p.add_argument(
        "--work",
        type=Path,
        default=Path("out/appearance-work"),
        help="parts, cache and the trained CNN (default out/appearance-work)",
    )
    p.add_argument(
        "--cnn",
        action="append",
        default=[],
        metavar="NAME",
        help="sets whose train part trains the CNN (default: the first --data)",
    )
    p.add_argument(
        "--calibration",
        help="AU calibration the AUs are read with (default: "
        "built-in; use the device's au.calibration)",
    )
    p.add_argument(
        "--share",
        action="append",
        default=[],
        metavar="NAME=W",
        help="weight of a set in the fusion fit (default 1 each)",
    )
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--width", type=float, default=1.0, help="CNN width multiplier (1.0)")
    p.add_argument(
        "--members",
        type=int,
        default=1,
        help="CNNs trained alike from other random starts (seeds 0, 1, ...) and read as one, "
        "their log-probabilities averaged (default 1, or as many as --keras; each costs the "
        "device one more reading)",
    )
    p.add_argument(
        "--keras",
        type=Path,
        action="append",
        default=[],
        help="a trained CNN to reuse as the next member (repeatable; skips its training)",
    )
    p.add_argument(
        "--degraded",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="share of the training faces shown as a poorer camera takes them: dim, blurred, "
        "low resolution, noisy or strong JPEG (default 0)",
    )
    p.add_argument(
        "--glasses",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="share of the training faces shown wearing glasses drawn over the eyes, clear or "
        "tinted like sunglasses (a cabin's drivers; default 0)",
    )
    p.add_argument(
        "--fine-tune",
        type=int,
        default=0,
        metavar="EPOCHS",
        help="train each --keras network this many epochs more, at a tenth of the learning "
        "rate, on the same train part (with --degraded: for poorer cameras); saved in --work",
    )
    p.add_argument(
        "--between",
        type=_intensities,
        default=(),
        metavar="T[,T...]",
        help="train the CNN on faces between each neutral -> apex pair of the --cnn sets' "
        "train parts too (the CK+ layout's sequences, or a CSV's sequence column): morphs at "
        "these intensities, 0 the "
        "neutral to 1 the apex (e.g. 0.35,0.5,0.65,0.8), labelled with the apex's emotion",
    )
    p.add_argument(
        "--no-mirror",
        dest="mirror",
        action="store_false",
        help="read each crop once (default: the crop and its mirror image, averaged; the "
        "fusion is fitted on readings made that way)",
    )
    p.add_argument(
        "--view",
        action="append",
        default=[],
        type=_view,
        metavar="DX,DY[,SCALE][,mirror]",
        help="one more view the device reads each face through, besides the template's own "
        "(repeatable): the template moved DX, DY crop pixels and scaled by SCALE about its "
        "centre, with its mirror image too if 'mirror' is given; all readings' probabilities "
        "are averaged and the fusion is fitted on them (each costs one more CNN pass a reading)",
    )
    p.add_argument("--jobs", type=int, default=2, help="landmarker processes")
    p.add_argument("--name", default="microemo-appearance")
    p.add_argument("--version", default="0.1.0")
    p.add_argument("--licence", default="", help="terms of the data, recorded in the manifest")
    p.add_argument(
        "--refit",
        type=Path,
        metavar="MODEL",
        help="reuse the network of an appearance model folder as it is (its int8 file, labels "
        "and crop; no training): fit only the fusion and its calibration on these sets. The "
        "sets its network trained on (--cnn; default: those its manifest names) keep their "
        "train parts out of the fusion: give them under the same names and paths, so that "
        "they split as they did",
    )
    p.add_argument(
        "--temperature",
        choices=("one", "margin"),
        default="one",
        help="the fusion's calibration: one temperature for every face (default), or one "
        "that follows the margin between the top two classes (a clear reading sharpened more "
        "than a close one; a model made so needs runtime 0.2.1)",
    )
    p.add_argument(
        "--parts-only",
        action="store_true",
        help="write the parts' CSVs into --work and stop (e.g. to calibrate the "
        "AUs on the train part first: facs-calibrate --stills WORK/parts/NAME-train.csv)",
    )


def _view(text: str) -> Any:
    """``--view DX,DY[,SCALE][,mirror]`` as the manifest's view."""
    from pydantic import ValidationError

    from microemo.model.appearance import ViewModel

    parts = [p.strip() for p in text.split(",")]
    mirror = parts[-1] == "mirror"
    numbers = parts[:-1] if mirror else parts
    try:
        if len(numbers) not in (2, 3):
            raise ValueError("two or three numbers")
        values = [float(v) for v in numbers]
        return ViewModel(dx=values[0], dy=values[1], scale=values[2] if len(values) == 3 else 1.0,
                         mirror=mirror)  # fmt: skip
    except (ValueError, ValidationError) as exc:
        detail = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        raise argparse.ArgumentTypeError(
            f"{text!r}: give DX,DY[,SCALE][,mirror], e.g. 0,-1.5 or 0,0,1.06,mirror "
            f"(pixels of the crop, -8 to 8; scale 0.5 to 2): {detail}"
        ) from None


def _intensities(text: str) -> tuple[float, ...]:
    """``--between T[,T...]``: intensities strictly between 0 (neutral) and 1 (apex)."""
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if not values or not all(0.0 < v < 1.0 for v in values):
        raise argparse.ArgumentTypeError(
            f"{text!r}: give intensities between 0 (the neutral) and 1 (the apex), "
            "comma-separated, e.g. 0.35,0.5,0.65,0.8"
        )
    return values
