"""``microemo`` command line: each subcommand lives with its concern and is imported lazily,
so ``microemo config check`` on a Pi never pays for MediaPipe or a camera SDK."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# subcommand -> module exposing add_parser(subparsers) and run(args) -> int
COMMANDS: dict[str, str] = {
    "analyze": "microemo.analyze",
    "run": "microemo.daemon.cli",
    "bench": "microemo.daemon.bench",
    "config": "microemo.daemon.config_cli",
    "events": "microemo.publish.events_cli",
    "model": "microemo.model_cli",
}


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="microemo", description=__doc__)
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    wanted = next((a for a in argv if a in COMMANDS), None)
    for name, module_name in COMMANDS.items():
        if wanted is not None and name != wanted:
            sub.add_parser(name)
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("microemo"):
                continue  # a subcommand not built into this install
            raise
        module.add_parser(sub)
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
