"""``microemo-train emotion-bench DATA --out DIR``: how well the device reads emotions on
your own labelled faces, measured through ``microemo analyze`` itself.

    microemo-train emotion-bench my_faces/ --out out/bench            # happy/, neutral/, ...
    microemo-train emotion-bench labels.csv --out out/bench --jobs 2  # path,label rows
    microemo-train emotion-bench apex/ --out out/megc --expressed --merge positive=happiness \\
        --merge negative=anger,disgust,fear,sadness,contempt,repression

DATA is a folder with one sub-folder per class (pictures, videos or frame folders inside;
``happy``, ``Happiness``, ``HAP`` all read as happiness) or a CSV of ``path,label`` rows.
Every input goes through ``microemo analyze --no-plot`` (the same pipeline, config and model
as the device: ``--config``, ``--bundle``, ``--rules-only``) into DIR/analyze; its CSVs are
then read, one reading per input: a picture's face, or for a video or frame folder the last
frame with a face (``--read last``, the CK+ convention) or the class read most often over the
input (``--read majority``). ``--rescore`` reads DIR/analyze again without re-running it;
``--refined DIR`` puts a second opinion in the device's place (``microemo-reason replay
DIR/analyze --out DIR/analyze`` writes one ``<name>.refined.jsonl`` per input: its last
refined episode's label stands for the input), to measure before and after.

``--expressed`` is for inputs that all show an expression, as a micro-expression's apex frames
do (MEGC's classes have no neutral): each input is read by the best emotion but neutral and
its probability given the face shows one (analyze's ``expressed`` columns), not by the shown
emotion, which for a brief or slight expression is often the resting face it nearly is.
With ``--merge`` an answer's score is its merged class's probability (the sum of its classes'
``score_<emotion>`` columns), so that ``negative`` at 0.9 means right nine times in ten.

Printed: accuracy, UF1, UAR, per-class recall and confusions, neutral faces read as an emotion
(and at a score >= ``--confident``), the expected calibration error of the shown score and
which way it errs (the mean score against the share read right), how often each class is
answered, and how far accuracy, ECE and the confident resting share could move on other
inputs like these (95 % intervals over draws of the people, or of the inputs when the data
names no people). ``--json FILE`` writes the same figures; a reliability plot goes to
DIR/reliability.png. An input where no face is found counts as wrong and is counted;
an input analyze could not read is named and left out.

``--by COLUMN`` (a CSV's column: ``origin``, ``age``, ``glasses``, ``camera``...) prints the
figures again per group of inputs, and whether the gap between the groups, in accuracy and in
resting faces read as an emotion, is more than chance (``emotion_bench/groups.py``); with
``--against`` the faces only one run reads right are split by those groups too:

    microemo-train emotion-bench faces.csv --out out/by-origin --by origin --by glasses

``--against DIR`` compares with another run on the same DATA (the model an update would
replace, another config): the inputs only one of the two reads right, per class and by
name, and the exact sign test over them, so a point of accuracy on a hundred faces is not
taken for an improvement:

    microemo-train emotion-bench my_faces/ --out out/new --config new.toml --against out/old

``--camera KIND[=VALUE]`` reads the same inputs as a poorer camera would have taken them
(``half``, ``jpeg``, ``noise``, ``dark``, ``blur``; ``emotion_bench/cameras.py`` says how
each is made), or with the faces wearing glasses (``glasses``, clear, or ``glasses=0.85``,
sunglasses, drawn where the landmarker finds the eyes): copies go to DIR/camera-KIND-VALUE,
and ``--against`` a clean run says what that camera costs, face by face:

    microemo-train emotion-bench my_faces/ --out out/dark --camera dark --against out/new
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Any

from microemo_train.emotion_bench.cameras import Camera, copies, make_copies
from microemo_train.emotion_bench.groups import by_group
from microemo_train.emotion_bench.inputs import BenchInputError, LabelledInput, load_inputs
from microemo_train.emotion_bench.readings import collect
from microemo_train.emotion_bench.report import (
    group_lines,
    lines,
    paired_lines,
    reliability_plot,
    write_json,
)
from microemo_train.emotion_bench.score import Merge, Reading, chance, paired, score

BATCH = 500  # inputs per analyze call (command lines stay short)


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "emotion-bench",
        help="score the device's emotions on labelled pictures or clips",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("data", type=Path, help="class folders, or a CSV of path,label rows")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--config", type=Path, help="device config (TOML) analyze runs with")
    p.add_argument("--bundle", type=Path, help="model bundle (default: the built-in model)")
    p.add_argument("--rules-only", action="store_true", help="no CNN: FACS prototypes only")
    p.add_argument("--jobs", type=int, default=0, help="landmarker workers (0: one per core)")
    p.add_argument("--fps", type=float, help="frame rate of frame folders (default 30)")
    p.add_argument(
        "--read",
        choices=("last", "majority"),
        default="last",
        help="reading of a video or frame folder (default: its last face)",
    )
    p.add_argument(
        "--expressed",
        action="store_true",
        help="every input shows an expression (MEGC apex frames): read the best emotion but "
        "neutral, not the shown one",
    )
    p.add_argument(
        "--label-map",
        action="append",
        default=[],
        metavar="NAME=EMOTION",
        help="read class NAME as EMOTION (repeatable)",
    )
    p.add_argument(
        "--merge",
        action="append",
        default=[],
        metavar="NEW=A,B",
        help="score classes A, B as NEW (repeatable; MEGC: negative=..., positive=...)",
    )
    p.add_argument(
        "--by",
        action="append",
        default=[],
        metavar="COLUMN",
        help="the figures per group of inputs the CSV's COLUMN names (origin, age, glasses...), "
        "and whether the gap between the groups is more than chance (repeatable)",
    )
    p.add_argument(
        "--confident",
        type=float,
        default=0.8,
        help="score from which a reading counts as confident (default 0.8)",
    )
    p.add_argument(
        "--camera",
        metavar="KIND[=VALUE]",
        help="read copies of the inputs as a poorer camera takes them: half[=SCALE], "
        "jpeg[=QUALITY], noise[=SIGMA], dark[=GAIN], blur[=PERCENT] (defaults 0.5, 30, 8, "
        "0.5, 0.6), or the faces in glasses[=TINT] (0 clear, default; 0.85 sunglasses)",
    )
    p.add_argument("--json", type=Path, help="write the figures here")
    p.add_argument("--rescore", action="store_true", help="read DIR/analyze again, do not run it")
    p.add_argument(
        "--refined",
        type=Path,
        metavar="DIR",
        help="a second opinion's readings (microemo-reason replay's <name>.refined.jsonl): an "
        "input's last refined episode stands in for the device's reading",
    )
    p.add_argument(
        "--against",
        type=Path,
        metavar="DIR",
        help="another emotion-bench --out folder on the same DATA (the model this one would "
        "replace, say): the inputs only one of them reads right, and whether that is chance",
    )
    p.set_defaults(func=run)


def _pairs(specs: list[str], flag: str) -> dict[str, str]:
    out = {}
    for spec in specs:
        k, sep, v = spec.partition("=")
        if not sep or not k.strip() or not v.strip():
            raise BenchInputError(f"{flag} {spec!r}: write NAME=EMOTION")
        out[k.strip()] = v.strip()
    return out


def run_analyze(inputs: list[LabelledInput], args: argparse.Namespace, out: Path) -> None:
    """``microemo analyze`` over every input, in batches, its lines to DIR/analyze.log."""
    from tqdm import tqdm

    base = [sys.executable, "-m", "microemo.cli", "analyze", "--out", str(out), "--no-plot"]
    for flag, value in (("--config", args.config), ("--bundle", args.bundle), ("--fps", args.fps)):
        if value is not None:
            base += [flag, str(value)]
    base += ["--jobs", str(args.jobs)] + (["--rules-only"] if args.rules_only else [])
    out.mkdir(parents=True, exist_ok=True)
    with (
        (out.parent / "analyze.log").open("w") as log,
        tqdm(
            total=len(inputs), unit="input", desc="analyze", disable=not sys.stderr.isatty()
        ) as bar,
    ):
        for start in range(0, len(inputs), BATCH):
            batch = [str(i.path) for i in inputs[start : start + BATCH]]
            code = subprocess.run(base + batch, stdout=log, stderr=subprocess.STDOUT).returncode
            if code == 2:  # nothing could start: config, bundle, output folder
                raise BenchInputError(
                    f"microemo analyze could not start (see {out.parent / 'analyze.log'})"
                )
            bar.update(len(batch))


CAMERA_NOTE = "camera.txt"  # in --out: the camera its analyze folder read (none: the inputs)


def _camera_of(folder: Path) -> Camera | None:
    """The camera a run in ``folder`` read its inputs with (None: the inputs themselves)."""
    note = folder / CAMERA_NOTE
    return Camera.from_name(note.read_text().strip()) if note.is_file() else None


def _analysed(folder: Path, inputs: list[LabelledInput]) -> list[LabelledInput]:
    """What a run in ``folder`` analysed of ``inputs``: them, or its camera's copies."""
    camera = _camera_of(folder)
    return inputs if camera is None else copies(inputs, camera, folder / f"camera-{camera.name}")


def _against(
    folder: Path,
    inputs: list[LabelledInput],
    readings: list[Reading],
    how: str,
    merge: Merge,
    column: str,
    by: tuple[str, ...] = (),
) -> dict[str, Any]:
    """This run's readings against another run's over the same inputs (``--against``), with
    or without a camera on either side, both read by ``column``; split by the ``by`` groups
    too."""
    if not (folder / "analyze" / "analyze-index.csv").is_file():
        raise BenchInputError(
            f"--against {folder}: no emotion-bench results there ({folder}/analyze/"
            "analyze-index.csv is missing): run emotion-bench --out on it with the same DATA"
        )
    there, _ = collect(_analysed(folder, inputs), folder / "analyze", how, merge, column=column)
    result = paired(readings, there, by)
    if result["n"] == 0:
        raise BenchInputError(
            f"--against {folder}: none of these inputs was read there: was it run on the same DATA?"
        )
    return result


def _camera_copies(
    inputs: list[LabelledInput], camera: Camera | None, out_dir: Path
) -> list[LabelledInput]:
    """The inputs this run analyses: ``inputs``, or with ``--camera`` their copies as that
    camera takes them (made in DIR/camera-NAME, the camera noted in DIR)."""
    from tqdm import tqdm

    note = out_dir / CAMERA_NOTE
    if camera is None:
        note.unlink(missing_ok=True)
        return inputs
    out_dir.mkdir(parents=True, exist_ok=True)
    note.unlink(missing_ok=True)  # until every copy is made
    with tqdm(
        total=len(inputs), unit="input", desc=camera.name, disable=not sys.stderr.isatty()
    ) as bar:
        made = make_copies(inputs, camera, out_dir / f"camera-{camera.name}", bar.update)
    note.write_text(camera.name + "\n")
    return made


def run(args: argparse.Namespace) -> int:
    camera = Camera.parse(args.camera) if args.camera else None
    try:
        merge = Merge.parse(args.merge)
    except ValueError as exc:
        raise BenchInputError(str(exc)) from None
    merged = frozenset(merge.groups.values())
    by = tuple(args.by)
    inputs = load_inputs(args.data, _pairs(args.label_map, "--label-map"), merged, by)
    column = "expressed" if args.expressed else "emotion"
    if args.expressed and args.refined is not None:
        raise BenchInputError(
            "--expressed with --refined: a second opinion's label has no 'best but neutral'; "
            "use one of them"
        )
    resting = [i for i in inputs if i.label == "neutral"] if args.expressed else []
    if resting:
        raise BenchInputError(
            f"--expressed reads every input as showing an expression, but {len(resting)} of "
            f"{len(inputs)} are labelled neutral ({resting[0].path}...): leave them out, or run "
            "without --expressed"
        )
    out = args.out / "analyze"
    originals = inputs
    if args.rescore:
        read_with = _camera_of(args.out)
        if camera is not None and camera != read_with:
            raise BenchInputError(
                f"--rescore --camera {args.camera}: {args.out} was read "
                f"{f'with --camera {read_with.name}' if read_with else 'without a camera'}; "
                "run without --rescore to read the faces with this camera"
            )
        inputs = _analysed(args.out, inputs)
    else:
        inputs = _camera_copies(inputs, camera, args.out)
        run_analyze(inputs, args, out)
    readings, failed = collect(inputs, out, args.read, merge, args.refined, column)
    for problem in failed[:10]:
        print(f"left out: {problem}", file=sys.stderr)
    if len(failed) > 10:
        print(
            f"left out: {len(failed) - 10} more (see {args.out / 'analyze.log'})", file=sys.stderr
        )
    if not readings:
        raise BenchInputError(f"{args.data}: no input could be read (see {args.out})")
    result = score(readings, args.confident)
    result["chance"] = chance(readings, args.confident)
    result["left_out"] = len(failed)
    if args.expressed:
        print("read: the best emotion but neutral (--expressed: every input shows an expression)")
    print("\n".join(lines(result)))
    if by:
        result["by"] = {c: by_group(readings, c, args.confident) for c in by}
        for c in by:
            print("\n".join(group_lines(c, result["by"][c], args.confident)))
    if args.against is not None:
        result["against"] = _against(
            args.against, originals, readings, args.read, merge, column, by
        )
        print("\n".join(paired_lines(result["against"], str(args.against))))
    plot = args.out / "reliability.png"
    reliability_plot(plot, result, f"{args.data.name}: {len(readings)} inputs")
    print(f"reliability plot: {plot}")
    if args.json:
        meta = {
            "data": str(args.data),
            "read": args.read,
            "expressed": bool(args.expressed),
            "merge": merge.groups,
            "config": str(args.config or ""),
            "bundle": str(args.bundle or ""),
            "camera": str(args.camera or ""),
        }
        write_json(args.json, result, meta)
    return 0
