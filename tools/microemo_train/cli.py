"""``microemo-train``: the desktop tool. Each subcommand lives with its step and is imported
lazily, so ``microemo-train sign`` works without TensorFlow installed.

TensorFlow's and MediaPipe's own log lines are kept off the terminal unless ``-v`` is given
(``logs``); ``-v`` may come anywhere on the line. A problem with the inputs (the config, a
dataset, a key) ends the command with one line saying what and where, exit status 2."""

from __future__ import annotations

import sys

from microemo.cli import build_parser, dispatch
from microemo_train import logs
from microemo_train.checks import CheckError
from microemo_train.datasets import DatasetError
from microemo_train.emotion_bench.inputs import BenchInputError
from microemo_train.settings import TrainConfigError

# subcommand -> module exposing add_parser(subparsers) and registering func=run(args) -> int
COMMANDS: dict[str, str] = {
    "extract": "microemo_train.extract",
    "select": "microemo_train.select",
    "fit": "microemo_train.fit",
    "quantize": "microemo_train.quantize",
    "evaluate": "microemo_train.evaluate",
    "bundle": "microemo_train.bundle",
    "all": "microemo_train.run_all",
    "synth-corpus": "microemo_train.synth_corpus",
    "keygen": "microemo_train.signing",
    "sign": "microemo_train.signing",
    "update-msg": "microemo_train.signing",
    "synth": "microemo_train.spotting.synth",
    "spot-eval": "microemo_train.spotting.cli",
    "cabin-eval": "microemo_train.cabin.cli",
    "synth-sheet": "microemo_train.spotting.sheet",
    "facs-bench": "microemo_train.facs.cli",
    "facs-calibrate": "microemo_train.facs.cli",
    "facs-frames": "microemo_train.facs.cli",
    "first-glance": "microemo_train.facs.first_glance",
    "emotion-bench": "microemo_train.emotion_bench.cli",
    "appearance": "microemo_train.appearance.cli",
}
VERBOSE = {"-v": 1, "--verbose": 1, "-vv": 2, "-vvv": 3}
USER_ERRORS = (TrainConfigError, DatasetError, CheckError, BenchInputError, FileNotFoundError)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = [a for a in argv if a in VERBOSE]  # top-level flags, wherever they were typed
    argv = verbose + [a for a in argv if a not in VERBOSE]
    native_log = None if verbose else logs.divert_native()
    ok = False
    try:
        parser = build_parser(argv, COMMANDS, prog="microemo-train", description=__doc__)
        code = dispatch(parser, argv)
        ok = code == 0
        return code
    except USER_ERRORS as exc:
        print(f"microemo-train: error: {exc}", file=sys.stderr)
        return 2
    finally:
        logs.finish(native_log, ok)


if __name__ == "__main__":
    sys.exit(main())
