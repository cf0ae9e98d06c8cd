"""``microemo-reason``: a second opinion on hard episodes from a language model, on the hub.

    microemo-reason run --config /etc/microemo/reason.toml
    microemo-reason run --config reason.toml --dry-run           # print the requests only
    microemo-reason check /etc/microemo/reason.toml              # the unit's ExecStartPre=
    microemo-reason replay out/*.jsonl --config reason.toml --out refined/

``run`` reads the devices' events from the broker and publishes ``{prefix}/{device}/refined``;
SIGTERM/SIGINT finish the request in flight and exit 0. ``replay`` does the same over event
files (``microemo analyze`` output). Exit 2 when the configuration cannot work, with one line
saying what to change. The API key is read from a file or a systemd credential, never taken
from the command line.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any

from microemo.config_errors import ConfigError
from microemo.reason.config import ReasonConfig, load_reason_config

PROG = "microemo-reason"
COMMANDS = {"run": __name__, "check": __name__, "replay": __name__}


def _common(p: argparse.ArgumentParser, config_positional: bool = False) -> None:
    if config_positional:
        p.add_argument("config", type=Path, help="TOML config file")
    else:
        p.add_argument(
            "--config",
            "-c",
            type=Path,
            default=None,
            help="TOML config file (default: built-in defaults)",
        )
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        dest="overrides",
        help="override a config key, e.g. --set llm.model=gpt-4o-mini (repeatable)",
    )


def add_parser(sub: Any) -> None:
    run = sub.add_parser("run", help="read events from the broker, publish refined readings")
    _common(run)
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="print each request it would send; send and publish nothing",
    )
    run.set_defaults(func=run_service)
    check = sub.add_parser("check", help="validate a config file (exit 2 when invalid)")
    _common(check, config_positional=True)
    check.add_argument("--quiet", "-q", action="store_true", help="no summary, exit code only")
    check.set_defaults(func=run_check)
    replay = sub.add_parser("replay", help="refine the hard cases of event files (JSON lines)")
    replay.add_argument("events", type=Path, nargs="+", help="event files or folders of them")
    _common(replay)
    replay.add_argument(
        "--out", type=Path, default=None, help="write <name>.refined.jsonl here (default: stdout)"
    )
    replay.add_argument("--dry-run", action="store_true", help="print the requests only")
    replay.set_defaults(func=run_replay)


def _load(args: argparse.Namespace) -> ReasonConfig:
    from microemo.daemon.cli import parse_overrides

    overrides = parse_overrides(args.overrides, example="llm.model=gpt-4o-mini")
    return load_reason_config(args.config, overrides)


def _reasoner(config: ReasonConfig, dry_run: bool) -> Any:
    """The reasoner, after everything that can be checked before the first case: the
    prompt file, the API key file, the state folder, the openai package."""
    from microemo.reason.engine import Reasoner
    from microemo.reason.llm import LlmClient, api_key
    from microemo.reason.prompt import system_prompt

    system_prompt(config.llm.system_prompt_file)
    if dry_run:
        return Reasoner(config, None)
    state = config.service.state_dir
    try:
        state.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"service.state_dir {state}: cannot be created ({exc.strerror}): "
            "set service.state_dir to a folder this user may write"
        ) from None
    return Reasoner(config, LlmClient(config.llm, api_key(config.llm)))


def run_service(args: argparse.Namespace) -> int:
    from microemo.daemon.cli import setup_logging
    from microemo.publish.mqtt.client import MqttError
    from microemo.reason.service import ReasonService

    setup_logging(getattr(args, "verbose", 0))
    try:
        config = _load(args)
        service = ReasonService(config, _reasoner(config, args.dry_run))
    except (ConfigError, MqttError) as exc:
        print(f"{PROG} run: {exc}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: service.stop_event.set())
    signal.signal(signal.SIGINT, lambda *_: service.stop_event.set())
    service.start()
    while not service.stop_event.wait(3600):
        pass
    service.stop()
    return 0


def run_check(args: argparse.Namespace) -> int:
    from microemo.reason.llm import key_source
    from microemo.reason.prompt import system_prompt

    try:
        config = _load(args)
        system_prompt(config.llm.system_prompt_file)
        for key in ("ca_file", "cert_file", "key_file"):
            path = getattr(config.mqtt, key)
            if config.mqtt.tls and path is not None and not path.is_file():
                raise ConfigError(f"mqtt.{key} {path}: no such file; set it to a PEM file")
    except ConfigError as exc:
        print(f"{PROG} check: {exc}", file=sys.stderr)
        return 2
    if not args.quiet:
        m, llm = config.mqtt, config.llm
        from microemo.secrets import redact_url

        print(
            f"{args.config}: valid. broker {m.host}:{m.port} prefix {m.prefix!r}"
            f"{' TLS' if m.tls else ''}; endpoint {redact_url(llm.base_url)} model "
            f"{llm.model!r}; API key {key_source(llm)}"
        )
    return 0


def run_replay(args: argparse.Namespace) -> int:
    from microemo.daemon.cli import setup_logging
    from microemo.reason.replay import replay

    setup_logging(getattr(args, "verbose", 0))
    try:
        config = _load(args)
        reasoner = _reasoner(config, args.dry_run)
    except ConfigError as exc:
        print(f"{PROG} replay: {exc}", file=sys.stderr)
        return 2
    return replay(reasoner, args.events, args.out, sys.stderr)


def main(argv: list[str] | None = None) -> int:
    from microemo.cli import build_parser, dispatch

    argv = list(sys.argv[1:] if argv is None else argv)
    about = "A second opinion on hard episodes from a language model, on the hub."
    return dispatch(build_parser(argv, COMMANDS, prog=PROG, description=about), argv)


if __name__ == "__main__":
    sys.exit(main())
