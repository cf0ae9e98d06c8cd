"""The second opinion over event files instead of the broker (``microemo-reason replay``).

Reads JSON-lines event files (``microemo analyze --out`` writes ``<name>.jsonl``; a
``microemo run`` log works too), takes the hard cases exactly as the service does and writes
each input's refined readings to ``<name>.refined.jsonl`` in ``--out`` (or to stdout). With
``--dry-run`` it prints the requests instead. This is how a second opinion is measured on
labelled clips: the device's labels from analyze, the refined ones from here.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any, TextIO

from microemo.config_errors import ConfigError
from microemo.reason.case import FaceHistory
from microemo.reason.engine import Reasoner
from microemo.reason.episode import NotACase, read_end_event

logger = logging.getLogger(__name__)

REFINED_SUFFIX = ".refined.jsonl"


def inputs(paths: list[Path]) -> list[Path]:
    """The event files among ``paths`` (a folder gives its ``*.jsonl``); files this command
    wrote are left out, so ``replay out/*.jsonl`` can be run again into the same folder."""
    found: list[Path] = []
    for p in paths:
        files = sorted(p.glob("*.jsonl")) if p.is_dir() else [p]
        found += [f for f in files if not f.name.endswith(REFINED_SUFFIX)]
    return found


def refine_file(reasoner: Reasoner, path: Path) -> list[dict[str, Any]]:
    """The refined readings of ``path``'s hard cases, in the file's order."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read as event lines ({exc})") from None
    # each file has its own source clock and faces: no earlier episode from another file
    reasoner.history = FaceHistory(reasoner.config.context)
    out = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            episode = read_end_event(line)
        except NotACase as exc:
            reasoner.count("not_events")
            logger.warning("%s:%d: skipped, %s", path, n, exc)
            continue
        case = reasoner.consider(episode) if episode is not None else None
        payload = reasoner.answer(case) if case is not None else None
        if payload is not None:
            out.append(payload)
    return out


def replay(reasoner: Reasoner, paths: list[Path], out_dir: Path | None, log: TextIO) -> int:
    """Refine every input; exit status 0, or 2 when an input cannot be read."""
    files = inputs(paths)
    if not files:
        print("microemo-reason replay: no event files (*.jsonl) given", file=log)
        return 2
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    status = 0
    for path in files:
        try:
            refined = refine_file(reasoner, path)
        except ConfigError as exc:
            print(f"microemo-reason replay: {exc}", file=log)
            status = 2
            continue
        lines = "".join(json.dumps(p) + "\n" for p in refined)
        if out_dir is None:
            sys.stdout.write(lines)
        else:
            target = out_dir / (path.stem + REFINED_SUFFIX)
            target.write_text(lines, encoding="utf-8")
            print(f"{path}: {len(refined)} refined -> {target}", file=log)
    print(summary(reasoner), file=log)
    return status


def summary(reasoner: Reasoner) -> str:
    c = reasoner.counts
    tokens = reasoner.budget.tokens if reasoner.client is not None else 0
    return (
        f"{c['end_events']} end events, {c['hard']} hard: {c['refined']} refined, "
        f"{c['cached']} from the cache, {c['rejected']} answers dropped, {c['failed']} "
        f"requests failed, {c['skipped_budget'] + c['skipped_endpoint_down']} not asked "
        f"(budget, endpoint down), {c['dry_run']} printed; {tokens} tokens today"
    )
