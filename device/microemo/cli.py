"""``microemo`` command line: each subcommand lives with its concern and is imported lazily,
so ``microemo config check`` on a Pi never pays for MediaPipe or a camera SDK."""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
from types import FrameType

logger = logging.getLogger(__name__)

OWN_PACKAGES = ("microemo", "microemo_train")
# subcommand -> module exposing add_parser(subparsers) and run(args) -> int
COMMANDS: dict[str, str] = {
    "analyze": "microemo.analyze.cli",
    "run": "microemo.daemon.cli",
    "bench": "microemo.daemon.bench",
    "config": "microemo.daemon.config_cli",
    "events": "microemo.publish.mqtt.watch",
    "model": "microemo.model.cli",
}


def build_parser(
    argv: list[str],
    commands: dict[str, str] = COMMANDS,
    prog: str = "microemo",
    description: str | None = __doc__,
) -> argparse.ArgumentParser:
    """A parser whose subcommands are imported only when asked for. A module may register
    several subcommands (``keygen`` and ``sign``). A subcommand whose optional third-party
    library is missing is listed but unavailable (one log line says which library); a
    missing module of our own is a broken install and raises."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    wanted = next((a for a in argv if a in commands), None)
    done: set[str] = set()
    for name, module_name in commands.items():
        if wanted is not None and commands[wanted] != module_name:
            sub.add_parser(name)
            continue
        if module_name in done:
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if not exc.name or exc.name.split(".")[0] in OWN_PACKAGES:
                raise
            logger.warning("%s: not available here (%s is not installed)", name, exc.name)
            for other, m in commands.items():
                if m == module_name:
                    sub.add_parser(other)
            done.add(module_name)
            continue
        module.add_parser(sub)
        done.add(module_name)
    return parser


def dispatch(parser: argparse.ArgumentParser, argv: list[str]) -> int:
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not hasattr(args, "func"):
        parser.error(f"{args.command}: not available in this install")
    return int(args.func(args) or 0)


def _stopped_while_starting(signum: int, frame: FrameType | None) -> None:
    """SIGTERM before the daemon has its own handler: say so, and stop cleanly."""
    print(f"microemo run: {signal.Signals(signum).name} while starting: stopped before "
          "anything ran", file=sys.stderr, flush=True)  # fmt: skip
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if next((a for a in argv if a in COMMANDS), None) == "run":  # a stop during start is said
        signal.signal(signal.SIGTERM, _stopped_while_starting)
    return dispatch(build_parser(argv), argv)


if __name__ == "__main__":
    sys.exit(main())
