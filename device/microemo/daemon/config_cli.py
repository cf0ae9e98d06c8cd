"""``microemo config check FILE`` and ``microemo config show [FILE]``.

``check`` runs what the daemon runs before it opens the camera (it is the unit's
``ExecStartPre=``): the file's validation, then whether it can work on this machine (the
OpenCV in use, the source, the state folder, the pipeline built once, so a missing native
library shows here): exit 0 and a short summary, or exit 2 and one line naming the file and
what to do (a did-you-mean for misspelt keys). ``--file-only`` checks the file alone, e.g. a
Pi's profile on a desktop. ``show`` prints the effective configuration (file + ``--set``
overrides + defaults) as TOML. Passwords in URLs are masked in everything printed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from microemo.config import Config, ConfigError
from microemo.daemon.cli import add_common, keep_training_libraries_out, load_from_args
from microemo.daemon.preflight import PreflightError, Report, preflight, state_space
from microemo.secrets import describe, redact_url


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "config",
        help="check or show a configuration file",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    check = sub.add_parser("check", help="validate a config file (exit 2 when invalid)")
    check.add_argument("file", type=Path, help="TOML config file")
    check.add_argument("--set", action="append", metavar="KEY=VALUE", dest="overrides")
    check.add_argument("--source", default=None, help="as for `microemo run --source`")
    check.add_argument("--quiet", "-q", action="store_true", help="no summary, exit code only")
    check.add_argument(
        "--file-only",
        action="store_true",
        help="validate the file alone, not whether this machine can run it",
    )
    check.set_defaults(func=run_check)
    show = sub.add_parser(
        "show", help="print the effective configuration as TOML (URL passwords masked)"
    )
    add_common(show)
    show.add_argument("file", type=Path, nargs="?", default=None, help="TOML config file")
    show.add_argument("--json", action="store_true", help="JSON instead of TOML")
    show.set_defaults(func=run_show)


def summary(config: Config, path: Path, report: Report | None = None) -> str:
    s, d, m = config.source, config.daemon, config.mqtt
    where = {
        "v4l2": str(s.device),
        "picamera2": f"camera {s.device}",
        "gstreamer": s.pipeline or "(default nvarguscamerasrc)",
    }.get(s.type, s.path)
    model = config.model.bundle or "built-in / model store"
    lines = [
        f"{path}: OK" + ("" if report else " (the file only, not this machine)"),
        f"  device      {config.device.id}, state in {config.device.state_dir}",
        f"  source      {s.type} {redact_url(str(where))} {s.width}x{s.height} @ {s.fps:g} fps",
        f"  budget      {d.budget_ms:g} ms/frame, stall after {d.watchdog_budgets} budgets",
        f"  landmarker  up to {config.landmarker.num_faces} faces"
        + (f", built in {report.build_s:.1f} s" if report else ""),
        f"  model       {report.model if report else model}",
        f"  events      jsonl {config.output.jsonl or 'off'}",
    ]
    if report:
        lines.insert(1, f"  opencv      {report.opencv.describe()}")
        lines.insert(2, f"  versions    {report.versions}")
    if m.enabled:
        pw = describe("mqtt_password")
        lines.append(
            f"  mqtt        {m.host}:{m.port} prefix {m.prefix}"
            f"{', tls' if m.tls else ''}"
            f"{f', user {m.username}, password {pw}' if m.username else ''}"
        )
    else:
        lines.append("  mqtt        off")
    st = config.status
    lines.append(
        f"  status      http://{st.host}:{st.port}/, password {describe('status_password')}"
        f"{', camera preview ON' if st.preview else ''}"
        if st.enabled
        else "  status      off"
    )
    return "\n".join(lines)


def run_check(args: argparse.Namespace) -> int:
    keep_training_libraries_out()
    try:
        config, _ = load_from_args(
            argparse.Namespace(config=args.file, source=args.source, overrides=args.overrides)
        )
        report = None if args.file_only else preflight(config)
    except ConfigError as exc:
        print(redact_url(str(exc)), file=sys.stderr)
        return 2
    except PreflightError as exc:
        print(redact_url(f"{args.file}: {exc}"), file=sys.stderr)
        return 2
    space = None if args.file_only else state_space(config)
    if space is not None:  # not a refusal: the daemon starts, degraded, and says the same
        print(f"{args.file}: {space}", file=sys.stderr)
    if not args.quiet:
        print(summary(config, args.file, report))
    return 0


def masked(value: Any) -> Any:
    """``value`` with the password of every URL in its strings masked."""
    if isinstance(value, str):
        return redact_url(value)
    if isinstance(value, dict):
        return {k: masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v) for v in value]
    return value


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return json.dumps(str(v))


def to_toml(data: dict[str, Any]) -> str:
    """Sections of scalars and lists: all the config model holds. None values are left out
    (TOML has no null; leaving the key out means its default, which is None)."""
    out: list[str] = []
    for section, fields in data.items():
        out.append(f"[{section}]")
        out += [f"{k} = {_toml_value(v)}" for k, v in fields.items() if v is not None]
        out.append("")
    return "\n".join(out)


def run_show(args: argparse.Namespace) -> int:
    if args.file is not None and args.config is None:
        args.config = args.file
    try:
        config, _ = load_from_args(args)
    except ConfigError as exc:
        print(redact_url(str(exc)), file=sys.stderr)
        return 2
    data = masked(config.model_dump(mode="json"))
    print(json.dumps(data, indent=2) if args.json else to_toml(data), end="\n")
    return 0
