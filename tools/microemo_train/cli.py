"""``microemo-train``: the desktop tool. Each subcommand lives with its step and is imported
lazily, so ``microemo-train sign`` works without TensorFlow installed."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# subcommand -> module exposing add_parser(subparsers) and registering func=run(args) -> int
COMMANDS: dict[str, str] = {
    "extract": "microemo_train.extract",
    "select": "microemo_train.select",
    "fit": "microemo_train.fit",
    "quantize": "microemo_train.quantize",
    "evaluate": "microemo_train.evaluate",
    "bundle": "microemo_train.bundle",
    "all": "microemo_train.run_all",
    "synth-corpus": "microemo_train.synthetic",
    "keygen": "microemo_train.signing",
    "sign": "microemo_train.signing",
    "update-msg": "microemo_train.signing",
    "synth": "microemo_train.synth",
    "spot-eval": "microemo_train.spot_eval",
}


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="microemo-train", description=__doc__)
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    wanted = next((a for a in argv if a in COMMANDS), None)
    done: set[str] = set()
    for name, module_name in COMMANDS.items():
        if wanted is not None and COMMANDS[wanted] != module_name:
            sub.add_parser(name)
            continue
        if module_name in done:
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("microemo"):
                continue  # a step not built yet
            raise
        module.add_parser(sub)  # may register several subcommands (keygen and sign)
        done.add(module_name)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not hasattr(args, "func"):
        parser.error(f"{args.command}: not available in this install")
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
