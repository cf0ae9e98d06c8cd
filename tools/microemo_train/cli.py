"""``microemo-train``: the desktop tool. Each subcommand lives with its step and is imported
lazily, so ``microemo-train sign`` works without TensorFlow installed."""

from __future__ import annotations

import sys

from microemo.cli import build_parser, dispatch

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
    "facs-bench": "microemo_train.facs.cli",
    "facs-calibrate": "microemo_train.facs.cli",
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv, COMMANDS, prog="microemo-train", description=__doc__)
    return dispatch(parser, argv)


if __name__ == "__main__":
    sys.exit(main())
