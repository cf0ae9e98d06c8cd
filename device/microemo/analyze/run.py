"""One recorded input through the device pipeline: the per-frame CSV, the episode events
(JSONL, numbered from 1 per input) and the picture (``plot``), to the files its
``OutputPlan`` names.

``analyze_one`` is what a runner calls per input: it never raises for a bad input, it
returns an ``InputSummary`` whose ``error`` names the file and says what to do.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from microemo.analyze.naming import OutputPlan
from microemo.analyze.plot_cabin import cabin_row
from microemo.analyze.progress import InputBar, Progress, QuietProgress
from microemo.pipeline import Pipeline
from microemo.publish.events import CABIN_SCHEMA_ID, EventBuilder
from microemo.publish.local import CsvWriter, write_jsonl
from microemo.publish.sequence import MemoryStore, SequenceAllocator
from microemo.sources.files import SourceError, open_file_source
from microemo.types import FrameResult

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnalyzeOptions:
    fps: float | None = None  # frame folders' rate (None: 30; videos: the container's)
    plot: bool = True
    # draws the picture in place of ``plot.plot_analysis`` (same arguments): the parallel
    # runner hands it to a process of its own, off the landmarker's path
    draw: Callable[..., Any] | None = None


@dataclass
class InputSummary:
    name: str
    frames: int
    face_frames: int
    episodes: int
    micro: int
    dominant: str
    error: str | None = None
    faces: int = 0  # distinct face ids seen
    input: str = ""  # the input as given
    note: str = ""  # why the name is not the input's stem
    written: list[Path] = field(default_factory=list)

    def line(self) -> str:
        """One line per input: its name, what was found, which input it came from."""
        if self.error and not self.frames:
            return f"FAILED {self.error}"
        origin = "; ".join(x for x in (f"from {self.input}" if self.input else "", self.note) if x)
        text = (
            f"{self.name}: {self.frames} frames, {self.faces} faces, face in {self.face_frames}, "
            f"{self.episodes} episodes ({self.micro} micro), mostly {self.dominant}"
            + (f" ({origin})" if origin else "")
        )
        return f"FAILED {self.error} ({text})" if self.error else text


def failed(plan: OutputPlan, error: str) -> InputSummary:
    return InputSummary(plan.name, 0, 0, 0, 0, "", error=error, input=str(plan.input))


class _Collected:
    """What the picture and the summary need from each frame, for the main face (the
    first one seen)."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.rows: list[np.ndarray] = []
        self.emotions: list[str] = []
        self.cabin: list[tuple[float, ...]] = []
        self.face_ids: set[int] = set()
        self.main_face: int | None = None

    def add(self, result: FrameResult) -> None:
        self.times.append(result.t_ms / 1000.0)
        self.face_ids.update(a.face_id for a in result.faces)
        if self.main_face is None and result.faces:
            self.main_face = result.faces[0].face_id
        au = next((a for a in result.faces if a.face_id == self.main_face), None)
        self.rows.append(au.intensity if au is not None else np.full(19, np.nan, np.float32))
        emotion = result.emotions.get(au.face_id, {}).get("core", "") if au is not None else ""
        self.emotions.append(emotion)
        self.cabin.append(cabin_row(result.cabin.get(au.face_id) if au is not None else None))


def analyze_input(
    plan: OutputPlan,
    pipeline: Pipeline,
    options: AnalyzeOptions | None = None,
    progress: Progress | None = None,
) -> InputSummary:
    """Analyse one input into ``plan``'s files. Raises ``SourceError`` when the input cannot
    be opened (nothing is written then) and ``OSError`` when an output cannot be written."""
    options = options or AnalyzeOptions()
    events: list[dict[str, Any]] = []
    seen = _Collected()
    with contextlib.ExitStack() as stack:
        source = open_file_source(plan.input, options.fps)
        stack.callback(source.close)
        csv = CsvWriter(plan.csv)
        stack.callback(csv.close)
        sequence = SequenceAllocator(MemoryStore())  # seq from 1 per file
        stack.callback(sequence.close)
        bar: InputBar = (progress or QuietProgress()).start(plan.name, source.frame_count)
        stack.callback(bar.close)
        builder = EventBuilder(pipeline.config.device.id, sequence)
        pipeline.new_stream()
        # with landmarker workers the source is read on the feeder's thread, beside them;
        # closing the stream (before the source) ends that reading whatever stops the loop
        results = stack.enter_context(contextlib.closing(pipeline.stream(source)))
        for result in results:
            csv.write(result)
            events.extend(builder.build(step) for step in result.steps)
            seen.add(result)
            bar.advance()
        events.extend(builder.build(step) for step in pipeline.finish())
    written = [plan.csv]
    write_jsonl(plan.jsonl, events)
    written.append(plan.jsonl)
    if options.plot and seen.times:
        _plot(plan, seen, events, options.draw)
        written.append(plan.png)
    summary = _summary(plan, seen, events, written)
    summary.error = source.problem()
    if not seen.times:
        summary.error = f"{plan.input}: no frame could be read: check the input plays or opens"
    return summary


def _plot(
    plan: OutputPlan,
    seen: _Collected,
    events: list[dict[str, Any]],
    draw: Callable[..., Any] | None,
) -> None:
    from microemo.analyze.plot import plot_analysis

    cabin = np.array(seen.cabin)
    (draw or plot_analysis)(
        plan.png,
        plan.name,
        np.array(seen.times),
        np.array(seen.rows),
        seen.emotions,
        [e for e in events if e["schema"] != CABIN_SCHEMA_ID],
        source=str(plan.input),
        cabin=cabin if np.isfinite(cabin).any() else None,
        cabin_events=[e for e in events if e["schema"] == CABIN_SCHEMA_ID],
    )


def _summary(
    plan: OutputPlan, seen: _Collected, events: list[dict[str, Any]], written: list[Path]
) -> InputSummary:
    ends = [e for e in events if e["phase"] == "end" and e["schema"] != CABIN_SCHEMA_ID]
    emotions = Counter(e for e in seen.emotions if e)
    return InputSummary(
        name=plan.name,
        frames=len(seen.times),
        face_frames=sum(1 for e in seen.emotions if e),
        episodes=len(ends),
        micro=sum(1 for e in ends if e["kind"] == "micro"),
        dominant=emotions.most_common(1)[0][0] if emotions else "no face",
        faces=len(seen.face_ids),
        input=str(plan.input),
        note=plan.note,
        written=written,
    )


def analyze_one(
    plan: OutputPlan,
    pipeline: Pipeline,
    options: AnalyzeOptions | None = None,
    progress: Progress | None = None,
) -> InputSummary:
    """``analyze_input`` that never raises for one input: a bad input, an output that cannot
    be written or a fault of ours becomes a summary whose error says what to do."""
    try:
        return analyze_input(plan, pipeline, options, progress)
    except SourceError as exc:
        return failed(plan, str(exc))
    except OSError as exc:  # disk full, folder not writable: the input is fine
        where = exc.filename or plan.out_dir
        return failed(
            plan,
            f"{plan.input}: cannot write {where}: {exc.strerror or exc}: free some space or "
            "choose another --out",
        )
    except Exception as exc:  # one bad input must not lose the others
        logger.info("%s failed", plan.input, exc_info=True)  # the traceback with -v
        return failed(
            plan,
            f"{plan.input}: unexpected error {exc!r}: rerun with -v for the traceback and "
            "report it",
        )
