"""``OUT/analyze-index.csv``: which input each result in the output folder came from.

One row per name: ``name, input`` (absolute path), ``status`` (``pending`` until the input is
done, then ``ok`` or ``failed``), the input's figures, the three file names, ``csv_version``
(which columns its CSV has, ``publish.local.CSV_VERSION``: a folder's earlier runs may hold an
older version's) and the note on why the name is not the input's stem. Rows of earlier runs
stay (their names stay reserved for their inputs, see ``naming``); the rows of this run's
inputs are replaced. The file is rewritten whole (to a temporary file, then renamed) after
every input, so a run stopped half way still says which result is whose.
"""

from __future__ import annotations

import csv
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from microemo.analyze.naming import INDEX_NAME, OutputPlan
from microemo.publish.local import CSV_VERSION

if TYPE_CHECKING:
    from microemo.analyze.run import InputSummary

logger = logging.getLogger(__name__)

COLUMNS = [
    "name",
    "input",
    "status",
    "frames",
    "faces",
    "face_frames",
    "episodes",
    "micro",
    "dominant",
    "csv",
    "csv_version",
    "jsonl",
    "png",
    "note",
    "error",
]


class IndexFileError(Exception):
    """The index cannot be read; the message names it and says what to do."""


class OutputIndex:
    def __init__(self, out_dir: Path) -> None:
        self.path = out_dir / INDEX_NAME
        self.rows: dict[str, dict[str, str]] = self._read()

    def _read(self) -> dict[str, dict[str, str]]:
        if not self.path.exists():
            return {}
        try:
            with self.path.open(newline="", encoding="utf-8") as f:
                reader = csv.DictReader(f)
                missing = {"name", "input"} - set(reader.fieldnames or [])
                if missing:
                    raise ValueError(f"no column {', '.join(sorted(missing))}")
                return {r["name"]: r for r in reader if r.get("name")}
        except (OSError, UnicodeDecodeError, ValueError, csv.Error) as exc:
            raise IndexFileError(
                f"{self.path}: unreadable ({exc}): it records which input each result here "
                "came from; restore it, or move it away to start the folder's index afresh"
            ) from None

    def owners(self) -> dict[str, str]:
        """name -> input, for ``naming.plan_outputs``."""
        return {name: row["input"] for name, row in self.rows.items()}

    def plan(self, plans: list[OutputPlan]) -> None:
        """Reserve every planned name (``pending``) before the work starts."""
        for p in plans:
            self.rows[p.name] = {
                "name": p.name,
                "input": p.key,
                "status": "pending",
                "csv": p.csv.name,
                "jsonl": p.jsonl.name,
                "note": p.note,
            }
        self.save()

    def record(self, plan: OutputPlan, summary: InputSummary) -> None:
        row = self.rows.setdefault(plan.name, {"name": plan.name, "input": plan.key})
        wrote_csv = plan.csv in summary.written
        row.update(
            status="failed" if summary.error else "ok",
            frames=str(summary.frames),
            faces=str(summary.faces),
            face_frames=str(summary.face_frames),
            episodes=str(summary.episodes),
            micro=str(summary.micro),
            dominant=summary.dominant,
            csv=plan.csv.name if wrote_csv else "",
            csv_version=str(CSV_VERSION) if wrote_csv else "",
            jsonl=plan.jsonl.name if plan.jsonl in summary.written else "",
            png=plan.png.name if plan.png in summary.written else "",
            error=summary.error or "",
        )
        self.save()

    def save(self) -> None:
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        with tmp.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, COLUMNS, extrasaction="ignore")
            writer.writeheader()
            for row in self.rows.values():  # earlier runs first, then this one's in order
                writer.writerow({c: row.get(c, "") for c in COLUMNS})
        os.replace(tmp, self.path)
