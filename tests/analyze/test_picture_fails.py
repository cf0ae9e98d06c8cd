"""A picture the plotting process could not write fails its input with the reason, and the
index does not name a picture that is not there (the CSV and events, written, stay listed).
The plotting process's failure is the one thing simulated: its future, failed."""

from __future__ import annotations

import csv
from concurrent.futures import Future
from pathlib import Path

from microemo.analyze.index import OutputIndex
from microemo.analyze.naming import OutputPlan
from microemo.analyze.parallel import _after_picture
from microemo.analyze.run import InputSummary


class FailedPlotter:
    def taken(self, png: Path) -> Future[None]:
        future: Future[None] = Future()
        future.set_exception(OSError(28, "No space left on device"))
        return future


def test_the_index_names_only_what_was_written(tmp_path: Path) -> None:
    plan = OutputPlan(tmp_path / "in" / "smile.jpg", "smile", tmp_path)
    summary = InputSummary("smile", 1, 1, 0, 0, "happiness")
    summary.written = [plan.csv, plan.jsonl, plan.png]
    finished: list[InputSummary] = []
    _after_picture(FailedPlotter(), plan, summary, finished.append)  # type: ignore[arg-type]
    (done,) = finished
    assert "smile.png was not written" in (done.error or "")
    index = OutputIndex(tmp_path)
    index.record(plan, done)
    with (tmp_path / "analyze-index.csv").open() as fh:
        (row,) = list(csv.DictReader(fh))
    assert row["status"] == "failed" and row["png"] == ""
    assert row["csv"] == "smile.csv" and row["jsonl"] == "smile.jsonl"
