"""``microemo run``: the device daemon.

    microemo run --config /etc/microemo/microemo.toml
    microemo run --config firmware_config/desktop.toml --source clip.flv

SIGTERM/SIGINT: stop capture, end open episodes, flush the sinks, exit 0. SIGHUP: reload the
config (an invalid file is refused and the running config kept). Exit 2 when the config or
the source is unusable (the message says what to change). Logs go to journald when started
by systemd (``JOURNAL_STREAM``), else to stderr; events go to ``output.jsonl`` (stdout by
default), so ``microemo run ... | jq`` works.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from microemo.config import Config, ConfigError, load_config
from microemo.secrets import redact_url

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

logger = logging.getLogger(__name__)

# syslog priorities; journald reads a "<N>" prefix on each stderr line as the priority
_PRIORITY = {
    logging.DEBUG: 7,
    logging.INFO: 6,
    logging.WARNING: 4,
    logging.ERROR: 3,
    logging.CRITICAL: 2,
}


class JournalFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        prio = _PRIORITY.get(record.levelno, 6)
        text = super().format(record)
        return "\n".join(f"<{prio}>{line}" for line in text.splitlines())


def under_journald() -> bool:
    """True when stderr is connected to the journal (systemd sets ``JOURNAL_STREAM``)."""
    stream = os.environ.get("JOURNAL_STREAM", "")
    try:
        dev, ino = (int(x) for x in stream.split(":"))
        st = os.fstat(sys.stderr.fileno())
    except (ValueError, OSError):
        return False
    return (st.st_dev, st.st_ino) == (dev, ino)


def keep_training_libraries_out() -> None:
    """MediaPipe imports TensorFlow when it happens to be installed (for its API docs only),
    which on a desktop with the training extra costs the daemon ~600 MB and seconds of start
    up. The device never uses TensorFlow: mark it absent so MediaPipe takes its fallback."""
    if "tensorflow" not in sys.modules:
        sys.modules["tensorflow"] = None  # type: ignore[assignment]


def setup_logging(verbose: int = 0) -> None:
    root = logging.getLogger()
    if under_journald():
        for h in root.handlers:
            h.setFormatter(JournalFormatter("%(name)s: %(message)s"))
    # a daemon reports its state changes at INFO; -v gives DEBUG
    logging.getLogger("microemo").setLevel(logging.DEBUG if verbose > 0 else logging.INFO)


def parse_value(text: str) -> Any:
    """``--set`` values are TOML literals (``30``, ``true``, ``"x"``, ``[1, 2]``); anything
    that is not one is taken as a plain string (``--set source.path=/dev/video0``)."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_overrides(
    items: list[str] | None, example: str = "daemon.budget_ms=50"
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                redact_url(f"--set {item!r}: expected KEY=VALUE, e.g. --set {example}")
            )
        out[key.strip()] = parse_value(value.strip())
    return out


def source_overrides(source: str | None) -> dict[str, Any]:
    """``--source`` picks the type from what it is given: URL, device node, or a file."""
    if not source:
        return {}
    if source.startswith(("rtsp://", "rtsps://", "http://", "https://")):
        return {"source.type": "rtsp", "source.path": source}
    if source.startswith("/dev/video"):
        return {"source.type": "v4l2", "source.device": source}
    p = Path(source)
    kind = "frames" if p.is_dir() else "file"
    return {"source.type": kind, "source.path": source}


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        "-c",
        type=Path,
        default=None,
        help="TOML config file (default: built-in defaults)",
    )
    parser.add_argument(
        "--source",
        default=None,
        help="a video file, folder of frames, /dev/videoN or rtsp:// URL; overrides [source]",
    )
    parser.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        dest="overrides",
        help="override a config key, e.g. --set daemon.budget_ms=50 (repeatable)",
    )


def load_from_args(args: argparse.Namespace) -> tuple[Config, dict[str, Any]]:
    overrides = {**source_overrides(args.source), **parse_overrides(args.overrides)}
    return load_config(args.config, overrides), overrides


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "run",
        help="run the device daemon (camera -> events)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    setup_logging(getattr(args, "verbose", 0))
    keep_training_libraries_out()
    if not getattr(args, "verbose", 0):
        from microemo.sources.base import quiet_native_logs

        quiet_native_logs()
    try:
        config, overrides = load_from_args(args)
    except ConfigError as exc:
        print(redact_url(f"microemo run: {exc}"), file=sys.stderr)
        return 2
    from microemo.daemon.service import Daemon, DaemonError

    daemon = Daemon(config, config_path=args.config, overrides=overrides)
    signal.signal(signal.SIGTERM, lambda *_: daemon.request_stop("SIGTERM"))
    signal.signal(signal.SIGINT, lambda *_: daemon.request_stop("SIGINT"))
    signal.signal(signal.SIGHUP, lambda *_: daemon.request_reload())
    try:
        daemon.start()
    except Exception as exc:
        if isinstance(exc, DaemonError):
            logger.error("%s", exc)  # a setting to change: no traceback needed
        else:
            logger.exception("cannot start")
        daemon.request_stop("start failed")
        daemon.shutdown()
        return 2 if isinstance(exc, DaemonError) else 1
    return daemon.run()
