"""``microemo model install|status|rollback``: the on-device model store by hand.

This command changes what ``current`` is; a running daemon switches to it on SIGHUP
(``systemctl reload microemo``), at its next start, or at once when the update arrives over
MQTT instead.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from microemo.config import ConfigError, load_config
from microemo.model.bundle import BundleError
from microemo.model.store import ModelStore

logger = logging.getLogger(__name__)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("model", help="install, inspect or roll back the model bundle")
    msub = p.add_subparsers(dest="model_command", required=True, metavar="ACTION")
    i = msub.add_parser("install", help="verify, self-test and switch to a bundle directory")
    i.add_argument("bundle", type=Path, help="signed bundle directory")
    i.add_argument("--allow-downgrade", action="store_true", help="accept an older version")
    s = msub.add_parser("status", help="the running model and the last install")
    s.add_argument("--json", action="store_true", help="machine-readable output")
    msub.add_parser("rollback", help="switch back to the previous bundle")
    for q in (i, s, msub.choices["rollback"]):
        q.add_argument("--config", type=Path, default=None, help="config file (TOML)")
        q.add_argument("--state-dir", type=Path, default=None, help="override device.state_dir")
    p.set_defaults(func=run)


def _store(args: argparse.Namespace) -> ModelStore:
    overrides = {"device.state_dir": str(args.state_dir)} if args.state_dir else {}
    return ModelStore(load_config(args.config, overrides))


def run(args: argparse.Namespace) -> int:
    try:
        store = _store(args)
        if args.model_command == "install":
            bundle = store.install(args.bundle, allow_downgrade=args.allow_downgrade)
            last = store.status().get("last") or {}
            d = bundle.describe
            print(
                f"installed {d['name']} {d['version']} (model sha256 {d['sha256'][:12]}) "
                f"in {last.get('timings_ms', {}).get('total_ms', '?')} ms; a running daemon "
                "takes it on `systemctl reload microemo` (SIGHUP)"
            )
            return 0
        if args.model_command == "rollback":
            d = store.rollback().describe
            print(
                f"rolled back: now {d['name']} {d['version']} (sha256 {d['sha256'][:12]}); "
                "a running daemon takes it on `systemctl reload microemo` (SIGHUP)"
            )
            return 0
        status = store.status()
        if args.json:
            print(json.dumps(status, indent=1))
        else:
            _print_status(status)
        return 0 if status["running"] else 1
    except ConfigError as exc:
        print(f"error: {exc}")
        return 2
    except (BundleError, OSError) as exc:
        print(f"error: {exc}")
        return 1


def _print_status(status: dict[str, Any]) -> None:
    run = status["running"]
    if run is None:
        print("running: none (no installed bundle and no default verifies)")
    else:
        print(
            f"running:  {run['name']} {run['version']} sha256 {run['sha256']} "
            f"[{status['source']}]\n          {run['path']}"
        )
    print(f"previous: {status['previous'] or '-'}")
    last = status.get("last")
    if last:
        what = "ok" if last.get("ok") else f"FAILED: {last.get('reason')}"
        print(f"last:     {last.get('step')} at {last.get('time')}: {what}")
